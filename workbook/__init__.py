"""Tooling of the Flask Container Workbook: docker helpers, offline images, doctor, CLI.

Root tests, notebooks and benchmarks share it. Stage directories never import it, so that a stage
copied out of the repository still builds and tests itself.
"""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGES_DIR = REPO_ROOT / "stages"
IMAGES_DIR = REPO_ROOT / "images"

# Everything the workbook's own tooling creates carries this label, so that clean-up can find it
# and never touches a user's containers.
LABEL = "workbook.owner"

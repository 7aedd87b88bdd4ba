"""The notebooks (notebooks/, one per stage, committed without outputs): executed top to bottom,
and recorded with their outputs for the docs site (docs/notebooks/, `workbook notebooks
--record`, part of `make record`). A recording keeps a digest of the cells it ran, so that a test
can tell when the cells changed and the outputs shown are those of older cells."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from . import REPO_ROOT, images
from .docker import engine_version

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
RECORDED_DIR = REPO_ROOT / "docs" / "notebooks"
CELL_TIMEOUT = 600


def cells_digest(notebook) -> str:
    """A digest of what the cells say (type and source), outputs and metadata aside."""
    cells = [[cell.cell_type, cell.source] for cell in notebook.cells]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def execute(stage: str):
    """The stage's notebook, run top to bottom in a fresh kernel (raises CellExecutionError, with
    the failing cell, on any error); returned with its outputs."""
    notebook = nbformat.read(NOTEBOOKS_DIR / f"{stage}.ipynb", as_version=4)
    NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}).execute()
    return notebook


def record(stages: list[str], progress=print) -> list[Path]:
    """Run each stage's notebook and write it with its outputs to docs/notebooks/, a line on top
    saying when and on what it ran."""
    engine = engine_version()
    standins = [image.ref for image in images.OFFICIAL_IMAGES if images.status(image) == "stand-in"]
    written = []
    for stage in stages:
        progress(f"{stage}: running notebooks/{stage}.ipynb")
        notebook = execute(stage)
        digest = cells_digest(notebook)  # running a notebook changes its outputs, not its cells
        date = datetime.now(UTC).isoformat(timespec="seconds")
        note = (f"*These outputs are from a run of `notebooks/{stage}.ipynb` on {date[:10]}, with "
                f"Docker Engine {engine}"
                + (f" and the offline stand-ins of {', '.join(standins)}" if standins else "")
                + ". Run it yourself: `make notebooks`.*")
        notebook.cells.insert(1, nbformat.v4.new_markdown_cell(note))
        notebook.metadata["workbook"] = {"cells_sha256": digest, "date": date, "engine": engine}
        RECORDED_DIR.mkdir(exist_ok=True)
        path = RECORDED_DIR / f"{stage}.ipynb"
        nbformat.write(notebook, path)
        written.append(path)
    return written


def recorded_digest(stage: str) -> str | None:
    """The cells digest of the stage's recorded notebook (None: not recorded)."""
    path = RECORDED_DIR / f"{stage}.ipynb"
    if not path.is_file():
        return None
    return nbformat.read(path, as_version=4).metadata.get("workbook", {}).get("cells_sha256")

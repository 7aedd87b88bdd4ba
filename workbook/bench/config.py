"""Where the benchmark keeps its settings and results, and how its settings are read."""

from __future__ import annotations

import statistics
import tomllib

from .. import REPO_ROOT, STAGES_DIR

BENCH_DIR = REPO_ROOT / "bench"
CONFIG_FILE = BENCH_DIR / "config.toml"
RESULTS_FILE = BENCH_DIR / "results.json"
OVERRIDES = BENCH_DIR / "overrides"
# The results' format; the results page renders this one and notes older files as such.
RESULTS_FORMAT = 2


def load_config(mode: str) -> tuple[dict, dict]:
    """The settings of `mode` ("quick" or "full") and the gates of [thresholds]."""
    config = tomllib.loads(CONFIG_FILE.read_text())
    return config[mode], config["thresholds"]


def summary(values: list[float]) -> dict:
    """A figure over repeated runs: median, min, max and every run."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


def stage_sources() -> str:
    """The text of every stage's Dockerfile and compose file: which official images they use."""
    paths = [*STAGES_DIR.glob("*/Dockerfile"), *STAGES_DIR.glob("*/compose*.yaml")]
    return "\n".join(path.read_text() for path in paths)


def has_proxy(stage: str) -> bool:
    """A stage with nginx in front of gunicorn (and Redis behind it): 04 and later."""
    return (STAGES_DIR / stage / "nginx").is_dir()


def key(stage: str) -> str:
    """A stage's name as a part of a ratio's or gate's name: 04-hardening -> 04_hardening."""
    return stage.replace("-", "_")

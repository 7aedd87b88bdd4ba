"""The stages of the workbook: which there are, how to prepare one to run, and where it answers."""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path

from . import STAGES_DIR
from .errors import WorkbookError

# What may sit in a stage directory without being part of the stage (git ignores all of it): a
# reader's environment and secrets, virtual environments, caches, the pipeline's state. Never
# copied, never shown in the docs' diffs.
LOCAL_FILES = (".env", ".venv", ".git", "secrets", ".pipeline", "__pycache__", ".pytest_cache",
               ".ruff_cache", ".hypothesis")


def all_stages() -> list[Path]:
    """Every finished stage (a directory with a Dockerfile), in order."""
    return sorted(p for p in STAGES_DIR.iterdir() if p.is_dir() and (p / "Dockerfile").is_file())


def names() -> list[str]:
    return [stage.name for stage in all_stages()]


def latest() -> Path:
    stages = all_stages()
    if not stages:
        raise WorkbookError(f"no stage with a Dockerfile under {STAGES_DIR}")
    return stages[-1]


def is_local(relative: Path) -> bool:
    """Whether a path inside a stage is local state (LOCAL_FILES), not part of the stage."""
    return bool(set(LOCAL_FILES) & set(relative.parts))


def working_copy(stage: str, parent: Path) -> Path:
    """A copy of the stage in `parent`, without its local state, prepared as its README asks
    (`prepare`). The tooling runs stages from such copies: the checkout stays as the reader left it."""
    directory = parent / stage
    shutil.copytree(STAGES_DIR / stage, directory, ignore=shutil.ignore_patterns(*LOCAL_FILES))
    prepare(directory)
    return directory


def prepare(stage: Path) -> list[str]:
    """Do what the stage's README asks before `docker compose up`: make .env from .env.example
    (random values for empty passwords and keys), run make-secrets.sh. Never overwrites."""
    done = []
    example, env = stage / ".env.example", stage / ".env"
    if example.exists() and not env.exists():
        lines = []
        for line in example.read_text().splitlines():
            name, _, value = line.partition("=")
            if not line.startswith("#") and not value and ("PASSWORD" in name or "SECRET" in name):
                line = f"{name}={secrets.token_hex(16)}"
            lines.append(line)
        env.write_text("\n".join(lines) + "\n")
        env.chmod(0o600)
        done.append(f"created {env} from .env.example with random secrets")
    script = stage / "make-secrets.sh"
    if script.exists():
        result = subprocess.run([str(script)], capture_output=True, text=True)
        if result.returncode != 0:
            raise WorkbookError(f"{script} failed", result.stderr)
        done += result.stdout.split("\n") if result.stdout.strip() else []
    return [line for line in done if line]


def entry_url(ps_json: str) -> str:
    """The URL of the stack's entry point from `docker compose ps --format json`: the service
    that publishes a port (nginx where there is one, else web)."""
    published = {}
    for line in ps_json.splitlines():
        row = json.loads(line)
        for publisher in row.get("Publishers") or []:
            if publisher.get("PublishedPort"):
                published.setdefault(row["Service"], publisher["PublishedPort"])
    for service in ("nginx", "web", *published):
        if service in published:
            return f"http://127.0.0.1:{published[service]}"
    raise WorkbookError("no service of the stack publishes a port")

"""What a reader's first `make start` costs, measured apart from this machine's caches:

- the workbook's virtual environment, installed from the lock with pip's cache off;
- the stage `make start` runs, built and started by `docker compose up --build --wait` on a fresh
  engine: an engine in a container (docker:26-dind, as stage 05's cluster nodes), holding nothing
  but the official images the stage needs, as a reader's engine does after pulling them: no layer
  cache, no cache mount filled;
- the docs site, built once (`make start` serves it).

Disk: the virtual environment, the official images (as they are on this machine: where they are
offline stand-ins, their size differs a little from the official images'), and what the first
start added to the fresh engine (its /var/lib/docker before and after: the stage's images, the
build cache, the volumes). Not measured: downloading the official images (it depends on the
reader's network; their size is given) and installing the Docker Engine."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from .. import REPO_ROOT, STAGES_DIR, images, stages
from ..docker import docker, image_size, run, wait_until
from ..errors import WorkbookError

DIND = "docker:26-dind"
OWNER = "wbtest-bench-firstrun"


def _du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True,
                              check=True).stdout.split()[0])


def measure_venv(lock: Path) -> dict:
    """A virtual environment from the lock, pip's cache off: seconds and bytes."""
    with tempfile.TemporaryDirectory(prefix="workbook-firstrun-") as tmp:
        venv = Path(tmp) / "venv"
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        installed = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", "--no-cache-dir",
                                    "--disable-pip-version-check", "--require-hashes", "-r", str(lock)],
                                   capture_output=True, text=True)
        if installed.returncode != 0:
            raise WorkbookError("installing the workbook's lock into a fresh venv failed",
                                installed.stderr[-2000:])
        return {"seconds": time.monotonic() - started, "bytes": _du(venv)}


def official_images_of(stage: str) -> list[str]:
    """The official images a stage's default services need: those compose.yaml runs (not a
    profile's) and those its Dockerfiles build FROM."""
    stage_dir = STAGES_DIR / stage
    run_images = docker("compose", "--project-directory", str(stage_dir), "-f",
                        str(stage_dir / "compose.yaml"), "config", "--images").stdout.split()
    froms = [line.split()[1] for path in stage_dir.rglob("Dockerfile") if "tests" not in path.parts
             for line in path.read_text().splitlines() if line.startswith("FROM ")]
    return [image.ref for image in images.OFFICIAL_IMAGES if image.ref in {*run_images, *froms}]


def measure_first_start(stage: str, progress) -> dict:
    """The stage's first `up --build --wait` on a fresh engine: seconds, and bytes it added."""
    refs = official_images_of(stage)
    node = run(DIND, owner=OWNER, name=f"{OWNER}-{uuid.uuid4().hex[:8]}", extra=["--privileged"])
    with node, tempfile.TemporaryDirectory(prefix="workbook-firstrun-") as tmp:
        wait_until(lambda: node.exec("docker", "info", check=False).returncode == 0, timeout=60,
                   what="the fresh engine to answer", on_timeout=lambda: node.logs()[-2000:])
        progress(stage, f"first start: loading {', '.join(refs)} into a fresh engine")
        save = subprocess.Popen(["docker", "save", *refs], stdout=subprocess.PIPE)
        load = subprocess.run(["docker", "exec", "-i", node.id, "docker", "load", "--quiet"],
                              stdin=save.stdout, capture_output=True, text=True)
        save.stdout.close()
        if save.wait() != 0 or load.returncode != 0:
            raise WorkbookError("could not copy the official images into the fresh engine", load.stderr)
        copy = Path(tmp) / stage
        shutil.copytree(STAGES_DIR / stage, copy, ignore=shutil.ignore_patterns(*stages.LOCAL_FILES))
        docker("cp", f"{copy}/.", f"{node.id}:/srv/stage")
        node.exec("sh", "-c", "cd /srv/stage && ./make-secrets.sh")
        before = int(node.exec("du", "-sb", "/var/lib/docker").stdout.split()[0])
        progress(stage, "first start: docker compose up --build --wait on the fresh engine")
        started = time.monotonic()
        up = docker("exec", "-w", "/srv/stage", node.id, "docker", "compose", "-p", "firstrun", "up",
                    "--build", "--detach", "--wait", check=False, timeout=1800)
        seconds = time.monotonic() - started
        if up.returncode != 0:
            raise WorkbookError(f"{stage}'s first start on a fresh engine failed", up.stderr[-3000:])
        after = int(node.exec("du", "-sb", "/var/lib/docker").stdout.split()[0])
        return {"stage": stage, "seconds": seconds, "added_bytes": after - before,
                "images": {ref: image_size(ref) for ref in refs}}


def measure_docs_build() -> dict:
    with tempfile.TemporaryDirectory(prefix="workbook-firstrun-") as tmp:
        started = time.monotonic()
        built = subprocess.run([str(Path(sys.executable).parent / "mkdocs"), "build", "--quiet",
                                "--site-dir", tmp], cwd=REPO_ROOT, capture_output=True, text=True)
        if built.returncode != 0:
            raise WorkbookError("the docs build failed", built.stderr[-2000:])
        return {"seconds": time.monotonic() - started, "bytes": _du(Path(tmp))}


def measure_firstrun(config: dict, progress) -> dict:
    started = time.monotonic()
    stage = config["firstrun_stage"]
    progress(stage, "first run: the workbook's venv from the lock, pip's cache off")
    venv = measure_venv(REPO_ROOT / "requirements" / "workbook.lock")
    start = measure_first_start(stage, progress)
    progress(stage, "first run: the docs site")
    site = measure_docs_build()
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "venv": venv, "first_start": start,
            "docs": site, "seconds": time.monotonic() - started}

"""BuildKit's cache mount for pip, as stages 02 to 05 use it, against the same Dockerfile without
it (`--no-cache-dir`, as in stage 01). Two kinds of build, the two sides taking turns (A B, then
B A), repeated:

- a dependency change: a line added to requirements.txt, so the install step runs again while
  the steps before it come from the layer cache. With the mount, pip takes the packages it
  downloaded in earlier builds from the mount; without it, it downloads them again.
- a cold build (`--no-cache`): every step runs again, the apt-get of the compilers too. BuildKit
  keeps cache mounts apart from the layer cache, so with the mount pip still finds its downloads.

Each build proves its side: the install step has the cache mount, or has none and took nothing
from a cache; pip's output counts the files it downloaded and took from its cache. pip keeps a
download only when the package index's answer allows caching (Cache-Control): whether it does on
the measuring machine is recorded (`pip_caches_here`). Not measured: a machine's very first build,
where the mount is empty and both sides download alike."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from .. import STAGES_DIR, images, stages
from ..docker import build, docker
from ..errors import WorkbookError
from .config import summary

PIP_CACHE_MOUNT = "RUN --mount=type=cache,target=/root/.cache/pip \\\n    "
# pip's lines about each file it gets: "Downloading flask-3.1.0-py3-none-any.whl (103 kB)", or
# "Using cached ..." when the file came from its cache.
PIP_FILE = re.compile(r"\b(Downloading|Using cached) (\S+)")
SIDES = ("mount", "no_mount")
KINDS = ("dependency_change", "cold")


def without_cache_mount(dockerfile: str) -> str:
    """The Dockerfile with pip's cache mount taken out and pip keeping no cache (stage 01's way)."""
    if PIP_CACHE_MOUNT not in dockerfile:
        raise WorkbookError("this Dockerfile has no pip cache mount to take out",
                            f"expected a line starting {PIP_CACHE_MOUNT.splitlines()[0]!r}")
    return dockerfile.replace(PIP_CACHE_MOUNT, "RUN ").replace("pip install ", "pip install --no-cache-dir ")


def pip_step(output: str) -> str:
    """What the build step that runs `pip install` printed (BuildKit's plain progress)."""
    numbers = [line.split()[0] for line in output.splitlines()
               if line.startswith("#") and "] RUN " in line and "pip install" in line]
    if not numbers:
        raise WorkbookError("no `RUN ... pip install` step in this build's output")
    return "\n".join(line for line in output.splitlines() if line.startswith(numbers[-1] + " "))


def pip_proof(side: str, output: str) -> dict:
    """Whether the build is the side it claims (the install step with the cache mount, or without
    it and with nothing from a cache), and how many files pip downloaded and took from its cache."""
    step = pip_step(output)
    files: dict[str, set[str]] = {"Downloading": set(), "Using cached": set()}
    for how, name in PIP_FILE.findall(step):
        files[how].add(name.removesuffix(".metadata"))  # a file's metadata, then the file itself
    counts = {"downloaded": len(files["Downloading"]), "from_cache": len(files["Using cached"])}
    mounted = "--mount=type=cache" in step.splitlines()[0]
    problems = []
    if side == "mount" and not mounted:
        problems.append("the install step has no cache mount")
    if side == "no_mount" and (mounted or counts["from_cache"]):
        problems.append(f"without the cache mount the install step took {counts['from_cache']} files "
                        "from a cache" + (" (it has a cache mount)" if mounted else ""))
    return counts | {"problems": problems}


def pip_caches_here(image: str) -> bool:
    """Whether pip, given the same cache twice, takes a file from it the second time: only when
    the package index's answers allow caching (pip keeps what their Cache-Control allows)."""
    twice = ("pip download --quiet --no-deps --dest /tmp/a itsdangerous==2.2.0 && "
             "pip download --no-deps --dest /tmp/b itsdangerous==2.2.0")
    return "Using cached" in docker("run", "--rm", image, "sh", "-c", twice).stdout


def measure_buildcache(config: dict, progress) -> dict:
    stage, reps = config["buildcache_stage"], config["buildcache_repetitions"]
    started = time.monotonic()
    runs: dict[str, dict[str, list[dict]]] = {kind: {side: [] for side in SIDES} for kind in KINDS}
    with tempfile.TemporaryDirectory(prefix="workbook-bench-") as tmp:
        context = Path(tmp) / stage
        shutil.copytree(STAGES_DIR / stage, context,
                        ignore=shutil.ignore_patterns(*stages.LOCAL_FILES))
        shipped = (context / "Dockerfile").read_text()
        (context / "Dockerfile.no-mount").write_text(without_cache_mount(shipped))
        dockerfiles = {"mount": context / "Dockerfile", "no_mount": context / "Dockerfile.no-mount"}
        tags = {side: f"wbtest-bench-{stage}-{side.replace('_', '-')}:{uuid.uuid4().hex[:8]}"
                for side in SIDES}
        requirements = context / "requirements.txt"
        try:
            for side in SIDES:  # the layer cache warm on both sides, and the mount filled
                build(context, tags[side], dockerfile=dockerfiles[side])
            for rep in range(reps):
                for kind in KINDS:
                    for side in SIDES if rep % 2 == 0 else SIDES[::-1]:
                        progress(stage, f"build cache {rep + 1}/{reps}: {kind.replace('_', ' ')}, "
                                        f"{side.replace('_', ' ')}")
                        if kind == "dependency_change":
                            requirements.write_text(requirements.read_text() + f"# change {uuid.uuid4()}\n")
                        result = build(context, tags[side], dockerfile=dockerfiles[side],
                                       no_cache=kind == "cold")
                        proof = pip_proof(side, result.output)
                        if proof["problems"]:
                            raise WorkbookError(f"{stage}: the {side} build is not what it claims",
                                                "\n".join(proof["problems"]))
                        runs[kind][side].append({"seconds": result.seconds, "proof": proof})
        finally:
            for tag in tags.values():
                docker("rmi", tag, check=False)
    figures = {}
    for kind in KINDS:
        mount = [r["seconds"] for r in runs[kind]["mount"]]
        no_mount = [r["seconds"] for r in runs[kind]["no_mount"]]
        ratios = [a / b for a, b in zip(mount, no_mount, strict=True)]
        figures[kind] = {"mount_s": summary(mount), "no_mount_s": summary(no_mount),
                         "mount_over_no_mount": summary(ratios)}
    return {"stage": stage, "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "config": {"buildcache_repetitions": reps}, "figures": figures, "runs": runs,
            "pip_caches_here": pip_caches_here(images.PYTHON),
            "seconds": time.monotonic() - started}

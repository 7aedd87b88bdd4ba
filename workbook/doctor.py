"""`workbook doctor`: engine, Buildx, Compose, disk and image status in a few lines."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

from . import images
from .docker import docker, engine_answers, engine_version, leftovers

MIN_FREE_GIB = 5


@dataclass
class Check:
    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok ' if self.ok else 'BAD'} {self.name:<8} {self.detail}"


def checks() -> list[Check]:
    if not engine_answers():
        return [Check("engine", False, "no Docker daemon answers: run 'make engine' (as root) or "
                                       "start Docker Desktop / the docker service")]
    found = [Check("engine", True, engine_version())]
    for plugin in ("buildx", "compose"):
        result = docker(plugin, "version", check=False)
        found.append(Check(plugin, result.returncode == 0,
                           result.stdout.strip() or f"the {plugin} plugin is missing: run 'make engine'"))
    root = docker("info", "--format", "{{.DockerRootDir}}").stdout.strip()
    free = shutil.disk_usage(root if shutil.os.path.exists(root) else "/").free / 2**30
    found.append(Check("disk", free >= MIN_FREE_GIB, f"{free:.1f} GiB free for {root}"
                       + ("" if free >= MIN_FREE_GIB else f" (want {MIN_FREE_GIB}; 'docker system prune')")))
    states = {image.ref: images.status(image) for image in images.OFFICIAL_IMAGES}
    missing = [ref for ref, state in states.items() if state in ("missing", "stale stand-in")]
    standins = [ref for ref, state in states.items() if state == "stand-in"]
    summary = f"{len(states) - len(missing)}/{len(states)} present"
    if standins:
        summary += f"; offline stand-ins: {', '.join(standins)}"
    if missing:
        summary += f"; to build: {', '.join(missing)} (make images)"
    found.append(Check("images", not missing, summary))
    left = leftovers()
    found.append(Check("leftover", not left, "none" if not left else
                       f"{sum(map(len, left.values()))} test objects left: 'workbook cleanup' removes them"))
    return found

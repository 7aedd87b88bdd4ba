"""A container's CPU throttling and peak memory, read from its cgroup (v1 or v2) rather than
sampled with `docker stats` (which costs CPU while it samples, and misses short peaks).

The files are read on the host (/sys/fs/cgroup/..., the cgroupfs and systemd layouts of Docker)
where they are visible, else inside the container (`docker exec <id> cat ...`). Peak memory is
reset before a run where the kernel allows it (cgroup v1: writing 0 to memory.max_usage_in_bytes,
as root on the host; cgroup v2: writing to memory.peak resets it for the open file, Linux 6.12 and
later); otherwise the peak is the container's since it started, and `peak_reset` says so."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
CPU_FILES = {1: "cpu/cpu.stat", 2: "cpu.stat"}
PEAK_FILES = {1: "memory/memory.max_usage_in_bytes", 2: "memory.peak"}


def version(root: Path = ROOT) -> int:
    """2 on the unified hierarchy (cgroup2fs mounted at /sys/fs/cgroup), else 1."""
    return 2 if (root / "cgroup.controllers").exists() else 1


def parse_cpu_stat(text: str, cgroup_version: int) -> dict:
    """cpu.stat as periods, throttled periods and throttled seconds. v1: nr_periods,
    nr_throttled, throttled_time (ns); v2: nr_periods, nr_throttled, throttled_usec."""
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            values[parts[0]] = int(parts[1])
    throttled = (values.get("throttled_time", 0) / 1e9 if cgroup_version == 1
                 else values.get("throttled_usec", 0) / 1e6)
    return {"periods": values.get("nr_periods", 0), "throttled_periods": values.get("nr_throttled", 0),
            "throttled_s": throttled}


def parse_bytes(text: str) -> int | None:
    """A cgroup memory file's single number (bytes); None when absent or `max`."""
    text = text.strip()
    return int(text) if text.isdigit() else None


def throttling(before: dict, after: dict) -> dict:
    """What a run added to cpu.stat: periods, throttled periods, their share, throttled seconds."""
    delta = {name: after[name] - before[name] for name in ("periods", "throttled_periods", "throttled_s")}
    delta["throttled_share"] = delta["throttled_periods"] / delta["periods"] if delta["periods"] else 0.0
    return delta


def host_directories(container_id: str) -> list[Path]:
    """Where Docker puts a container's cgroup, relative to a hierarchy's root (v2) or to a
    controller's directory (v1): the cgroupfs driver's, then the systemd driver's."""
    return [Path("docker") / container_id, Path("system.slice") / f"docker-{container_id}.scope"]


@dataclass
class ContainerCgroup:
    """One container's cgroup files, on the host if visible, else through `docker exec`."""

    name: str
    container_id: str
    cgroup_version: int = field(default_factory=version)
    root: Path = ROOT
    _peak_file: object = None

    def _host_path(self, name: str) -> Path | None:
        """`name` (v1: controller/file) of this container on the host, if visible there."""
        for directory in host_directories(self.container_id):
            if self.cgroup_version == 1:
                controller, file = name.split("/", 1)
                path = self.root / controller / directory / file
            else:
                path = self.root / directory / name
            if path.exists():
                return path
        return None

    def read(self, name: str) -> str:
        path = self._host_path(name)
        if path is not None:
            return path.read_text()
        result = subprocess.run(["docker", "exec", self.container_id, "cat",
                                 # as the container sees it: its own cgroup at /sys/fs/cgroup
                                 str(ROOT / name)],
                                capture_output=True, text=True, timeout=30)
        return result.stdout if result.returncode == 0 else ""

    def cpu(self) -> dict:
        return parse_cpu_stat(self.read(CPU_FILES[self.cgroup_version]), self.cgroup_version)

    def reset_peak(self) -> bool:
        """Reset peak memory to the current use, where possible; False when it is not."""
        self.close()
        path = self._host_path(PEAK_FILES[self.cgroup_version])
        if path is None:
            return False
        try:
            if self.cgroup_version == 1:
                path.write_text("0")
            else:  # the reset holds for reads through the same open file (unbuffered: a
                # kernel without the reset refuses the write at once)
                self._peak_file = open(path, "r+b", buffering=0)  # noqa: SIM115 (open across the run)
                self._peak_file.write(b"reset\n")
        except OSError:
            self.close()
            return False
        return True

    def peak_bytes(self) -> int | None:
        if self._peak_file is not None:
            try:
                self._peak_file.seek(0)
                return parse_bytes(self._peak_file.read().decode())
            finally:
                self.close()
        return parse_bytes(self.read(PEAK_FILES[self.cgroup_version]))

    def close(self) -> None:
        if self._peak_file is not None:
            self._peak_file.close()
            self._peak_file = None


class Readings:
    """The cgroups of a stack's containers around one load run: `start()` before, `stop()` after,
    giving each service's throttling during the run and its peak memory (MiB)."""

    def __init__(self, containers: dict[str, str]):
        self.groups = [ContainerCgroup(service, cid) for service, cid in containers.items()]
        self.before: dict[str, dict] = {}
        self.reset: dict[str, bool] = {}

    def start(self) -> None:
        for group in self.groups:
            self.reset[group.name] = group.reset_peak()
            self.before[group.name] = group.cpu()

    def stop(self) -> dict[str, dict]:
        found = {}
        for group in self.groups:
            peak = group.peak_bytes()
            found[group.name] = throttling(self.before[group.name], group.cpu()) | {
                "peak_mib": peak / 2**20 if peak is not None else None,
                "peak_reset": self.reset[group.name]}
        return found

"""Load from wrk in a process of its own, on 127.0.0.1 only: the request scripts (bench/*.lua,
each followed by bench/report.lua, which prints the run's figures as one JSON line), and wrk's own
CPU time, so that a reader sees whether the load generator was the bottleneck."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from ..errors import WorkbookError
from .config import BENCH_DIR

REPORTER = BENCH_DIR / "report.lua"
# Request scripts by name: None is a plain GET of the URL.
SCRIPTS = {"post": BENCH_DIR / "post.lua", "spread": BENCH_DIR / "spread.lua"}
CODES_VARIABLE = "BENCH_CODES"
FAILURES = ("connect_errors", "read_errors", "write_errors", "timeouts", "status_errors")


def script_text(script: str | None) -> str:
    """The Lua that wrk runs: the request script (if any), then the reporter."""
    parts = ([SCRIPTS[script].read_text()] if script else []) + [REPORTER.read_text()]
    return "\n".join(parts)


def codes_environment(codes: list[str]) -> dict[str, str]:
    """The environment that hands the spread script its codes."""
    if not codes or any(not code.isalnum() for code in codes):
        raise WorkbookError("the spread script needs a list of link codes (letters and digits)")
    return {CODES_VARIABLE: ",".join(codes)}


def failed_requests(figures: dict) -> int:
    """wrk's failures of every kind: socket errors, timeouts, and answers that are not 2xx/3xx."""
    return sum(figures[key] for key in FAILURES)


def check_url(url: str) -> None:
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("load is only ever sent to 127.0.0.1")


def wrk(url: str, seconds: float, connections: int, threads: int, script: str | None = None,
        codes: list[str] | None = None) -> dict:
    """One wrk run against `url`: the reporter's figures, plus wrk's CPU time (user + system, from
    the kernel's accounting of that one child process) and its share of the run's wall time
    (1.0 = one core busy all along)."""
    if shutil.which("wrk") is None:
        raise WorkbookError("wrk is not installed: apt-get install wrk (make bench installs it)")
    check_url(url)
    env = os.environ | (codes_environment(codes) if script == "spread" else {})
    with tempfile.TemporaryDirectory(prefix="workbook-wrk-") as tmp:
        lua = Path(tmp) / "script.lua"
        lua.write_text(script_text(script))
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            started = time.monotonic()
            process = subprocess.Popen(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
                                        "--timeout", "5s", "-s", str(lua), url],
                                       stdout=out, stderr=err, env=env)
            # A run that hangs is killed; wait4 gives this child's own resource use.
            watchdog = threading.Timer(seconds + 60, process.kill)
            watchdog.start()
            try:
                _, status, usage = os.wait4(process.pid, 0)
            finally:
                watchdog.cancel()
            wall = time.monotonic() - started
            process.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    line = next((ln for ln in stdout.splitlines() if ln.startswith("{")), None)
    if process.returncode != 0 or line is None:
        raise WorkbookError(f"wrk against {url} failed", stdout[-1500:] + stderr[-1500:])
    figures = json.loads(line)
    cpu = usage.ru_utime + usage.ru_stime
    return figures | {"wrk_cpu_s": cpu, "wall_s": wall, "wrk_cpu_share": cpu / wall if wall else 0.0}

"""Load from wrk in a process of its own, on 127.0.0.1 only: the request scripts (bench/*.lua,
each followed by bench/report.lua, which prints the run's figures as one JSON line), and wrk's own
CPU time, so that a reader sees whether the load generator was the bottleneck."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from ..docker import wait_until
from ..errors import WorkbookError
from ..http import check_loopback
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


# Docker's userland proxy (behind a port published on 127.0.0.1) opens a connection to the
# container for each one it accepts. When the proxy closes first, that connection waits 60 s in
# TIME_WAIT on the host and holds one of its ephemeral ports (about 28,000) for that container. A
# server that closes every connection and loses the race to close (Flask's development server,
# which logs each request after answering it) runs at 500+ new connections a second: within a
# minute the ports are gone, the proxy cannot reach the container, and requests fail (wrk's read
# errors). So a run starts only once most ports are free again (figures.load_run): a condition of
# the machine, not of the server. Loopback connections (wrk's own) do not count: Linux reuses
# their ports at once (net.ipv4.tcp_tw_reuse = 2, its default).
PORTS_FREE_SHARE = 0.75
PORTS_WAIT_SECONDS = 120


def ephemeral_ports() -> int:
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    return high - low + 1


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An address of /proc/net/tcp(6): 32-bit words in the host's (little-endian) byte order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    return getattr(address, "ipv4_mapped", None) or address


def time_wait_connections() -> list[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """The remote address and port of each of the host's TCP connections in TIME_WAIT (state 06
    of /proc/net/tcp and tcp6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if path.exists():
            for row in (line.split() for line in path.read_text().splitlines()[1:]):
                if row[3] == "06":
                    address, port = row[2].rsplit(":", 1)
                    found.append((_address(address), int(port, 16)))
    return found


def ports_held() -> int:
    """The ephemeral ports TIME_WAIT holds: none when the kernel reuses them everywhere
    (tcp_tw_reuse = 1), all but loopback's with its default (2), all with 0."""
    reuse = int(Path("/proc/sys/net/ipv4/tcp_tw_reuse").read_text())
    if reuse == 1:
        return 0
    return sum(1 for address, _ in time_wait_connections() if reuse == 0 or not address.is_loopback)


def wait_for_free_ports() -> float:
    """Wait until TIME_WAIT holds at most a quarter of the ephemeral ports; the seconds waited."""
    started = time.monotonic()
    limit = (1 - PORTS_FREE_SHARE) * ephemeral_ports()
    wait_until(lambda: ports_held() <= limit, timeout=PORTS_WAIT_SECONDS, interval=1,
               what="the host's ephemeral ports to leave TIME_WAIT",
               on_timeout=lambda: f"{ports_held()} ports still held in TIME_WAIT")
    return time.monotonic() - started


def wrk(url: str, seconds: float, connections: int, threads: int, script: str | None = None,
        codes: list[str] | None = None) -> dict:
    """One wrk run against `url`: the reporter's figures, plus wrk's CPU time (user + system, from
    the kernel's accounting of that one child process) and its share of the run's wall time
    (1.0 = one core busy all along)."""
    if shutil.which("wrk") is None:
        raise WorkbookError("wrk is not installed: apt-get install wrk (make bench installs it)")
    check_loopback(url)
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

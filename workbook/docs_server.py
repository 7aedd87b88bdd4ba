"""The docs site served live by `mkdocs serve` on 127.0.0.1, in the background for `make start`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from . import REPO_ROOT
from .docker import wait_http
from .errors import WorkbookError

STATE_DIR = REPO_ROOT / ".venv"


def _pid_file(port: int) -> Path:
    return STATE_DIR / f"docs-server-{port}.pid"


def _log_file(port: int) -> Path:
    return STATE_DIR / f"docs-server-{port}.log"


def _running_pid(port: int) -> int | None:
    try:
        pid = int(_pid_file(port).read_text())
        os.kill(pid, 0)
        return pid
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def start(port: int) -> str:
    """Start `mkdocs serve` unless ours already runs; return the site's URL once it answers."""
    url = f"http://127.0.0.1:{port}/"
    if _running_pid(port) is None:
        if not _port_free(port):
            raise WorkbookError(f"port {port} on 127.0.0.1 is already in use: stop what uses it, "
                                "or run 'workbook start --docs-port N'")
        mkdocs = Path(sys.executable).parent / "mkdocs"
        with _log_file(port).open("w") as log:
            process = subprocess.Popen([str(mkdocs), "serve", "--dev-addr", f"127.0.0.1:{port}"],
                                       cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        _pid_file(port).write_text(str(process.pid))
    try:
        wait_http(url, timeout=120)
    except WorkbookError as error:
        stop(port)
        raise WorkbookError("the docs server did not come up; its log:",
                            _log_file(port).read_text()[-3000:]) from error
    return url


def stop(port: int) -> bool:
    pid = _running_pid(port)
    _pid_file(port).unlink(missing_ok=True)
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    return True

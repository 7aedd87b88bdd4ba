"""`make start`'s main job, end to end: the most advanced stage and the docs site come up on
127.0.0.1 and both printed URLs answer; `stop` takes both down."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest

from workbook import REPO_ROOT, stages
from workbook.docker import leftovers, wait_http

pytestmark = pytest.mark.docker  # every test here runs containers

PROJECT = "wbtest-start"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def workbook(*args: str) -> subprocess.CompletedProcess:
    # Empty WEB_PORT/HTTP_PORT let Docker pick free ports: a stack the reader started stays untouched.
    return subprocess.run([sys.executable, "-m", "workbook", *args], cwd=REPO_ROOT, capture_output=True,
                          text=True, env=os.environ | {"WEB_PORT": "", "HTTP_PORT": ""}, timeout=900)


def test_start_serves_the_app_and_the_docs_then_stop_removes_them():
    docs_port = str(free_port())
    # `start` makes the stage's secrets as its README asks; those it made here are removed after.
    secrets_dir = stages.latest() / "secrets"
    had_secrets = secrets_dir.exists()
    try:
        started = workbook("start", "--project", PROJECT, "--docs-port", docs_port)
        assert started.returncode == 0, started.stdout + started.stderr
        app_url = re.search(r"app:\s+(http://127\.0\.0\.1:\d+/)", started.stdout).group(1)
        docs_url = re.search(r"docs:\s+(http://127\.0\.0\.1:\d+/)", started.stdout).group(1)
        assert docs_url == f"http://127.0.0.1:{docs_port}/"
        assert json.loads(wait_http(app_url + "readyz", timeout=60))["status"] == "ok"
        assert "Flask Container Workbook" in wait_http(docs_url, timeout=60)
    finally:
        stopped = workbook("stop", "--project", PROJECT, "--docs-port", docs_port)
        subprocess.run(["docker", "compose", "--project-name", PROJECT, "down", "--volumes"],
                       cwd=REPO_ROOT / "stages", capture_output=True)
        if not had_secrets:
            shutil.rmtree(secrets_dir, ignore_errors=True)
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped the docs server" in stopped.stdout
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", int(docs_port))) != 0
    assert not any(PROJECT in name for names in leftovers().values() for name in names)

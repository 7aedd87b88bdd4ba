"""The `workbook` command line (workbook/cli.py, doctor.py, scripts/ensure-docker.sh): what each
command reports, and one clear line, never a traceback, when something is wrong."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from workbook import REPO_ROOT, images, stages

WORKBOOK = [sys.executable, "-m", "workbook"]


def workbook_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*WORKBOOK, *args], capture_output=True, text=True, cwd=REPO_ROOT,
                          env=os.environ | (env or {}))


@pytest.mark.docker
def test_doctor_reports_engine_plugins_disk_and_images():
    result = workbook_cli("doctor")
    names = [line.split()[1] for line in result.stdout.splitlines()]
    assert names == ["engine", "buildx", "compose", "disk", "images", "leftover"]
    for line in result.stdout.splitlines()[:5]:
        assert line.startswith("ok "), line


def test_doctor_with_the_daemon_down_says_so_in_one_line():
    result = workbook_cli("doctor", env={"DOCKER_HOST": "unix:///tmp/workbook-no-daemon.sock"})
    assert result.returncode == 1
    assert result.stdout.splitlines() == [result.stdout.strip()]
    assert "no Docker daemon answers" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_cli_error_is_one_clear_line_not_a_traceback():
    had_secrets = (stages.latest() / "secrets").exists()
    result = workbook_cli("start", env={"DOCKER_HOST": "unix:///tmp/workbook-no-daemon.sock"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "the Docker daemon is not running" in result.stderr
    # Nothing was prepared in the stage for a start that could not happen.
    assert not (stages.latest() / "secrets").exists() or had_secrets


@pytest.mark.docker
def test_images_check_lists_every_official_image():
    result = workbook_cli("images", "--check")
    assert result.returncode == 0
    listed = [line.split()[0] for line in result.stdout.splitlines()]
    assert listed == [image.ref for image in images.OFFICIAL_IMAGES]
    assert all(line.split()[1] in ("official", "stand-in") for line in result.stdout.splitlines())


@pytest.mark.docker
def test_ensure_docker_as_an_unprivileged_user_gives_one_clear_line():
    # A copy in a directory the unprivileged user can reach (a checkout may sit in a private one).
    with tempfile.TemporaryDirectory() as directory:
        os.chmod(directory, 0o755)
        script = Path(directory) / "ensure-docker.sh"
        shutil.copy(REPO_ROOT / "scripts" / "ensure-docker.sh", script)
        script.chmod(0o755)
        result = subprocess.run(["runuser", "-u", "nobody", "--", str(script)],
                                capture_output=True, text=True)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "may not use it" in result.stderr

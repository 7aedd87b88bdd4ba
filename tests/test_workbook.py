"""The workbook package and its CLI against the real engine: helpers, clean-up, and the one clear
message each situation a user can hit must give."""

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import uuid
from pathlib import Path

import pytest

from workbook import LABEL, REPO_ROOT, STAGES_DIR, images, stages
from workbook.docker import (
    build,
    docker,
    image_layers,
    image_size,
    leftovers,
    remove_leftovers,
    run,
    wait_until,
)
from workbook.errors import WorkbookError, explain
from workbook.runs import PipelineRun, SteadyLoad

OWNER = "workbook-selftest"
WORKBOOK = [sys.executable, "-m", "workbook"]


def workbook_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*WORKBOOK, *args], capture_output=True, text=True, cwd=REPO_ROOT,
                          env=os.environ | (env or {}))


@pytest.fixture
def cleanup():
    """Remove this test's labelled objects afterwards, also when the test fails."""
    yield
    for kind, listing in (("container", ["ps", "--all"]), ("network", ["network", "ls"]),
                          ("volume", ["volume", "ls"])):
        ids = docker(*listing, "--quiet", "--filter", f"label={LABEL}={OWNER}").stdout.split()
        if ids:
            docker(*(["rm", "--force", "--volumes"] if kind == "container" else [kind, "rm"]), *ids,
                   check=False)


# --- transient engine errors ------------------------------------------------------------------

RUNC_ERROR = ("Error response from daemon: failed to create task for container: failed to create "
              "shim task: OCI runtime create failed: runc create failed: runc run failed: unable to "
              "start container process: waiting for init preliminary setup: read init-p: connection "
              "reset by peer: unknown")


@pytest.fixture
def docker_failing_once(tmp_path, monkeypatch):
    """A `docker` stand-in first on PATH: it fails once with `stderr`, as runc did on a first
    `make start`, then succeeds; it records every call."""
    calls = tmp_path / "calls"

    def install(stderr: str) -> Path:
        (tmp_path / "stderr").write_text(stderr)
        stand_in = tmp_path / "docker"
        stand_in.write_text(f"""#!/bin/sh
echo "$*" >> {calls}
if [ ! -e {tmp_path}/failed ]; then
    touch {tmp_path}/failed
    cat {tmp_path}/stderr >&2
    exit 1
fi
echo ok
""")
        stand_in.chmod(0o755)
        monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
        return calls

    return install


def test_a_transient_runc_error_is_retried_once_with_one_line(docker_failing_once, capsys):
    calls = docker_failing_once(RUNC_ERROR)
    assert docker("compose", "--project-name", "x", "up", "--build", "--detach").stdout == "ok\n"
    assert len(calls.read_text().splitlines()) == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert said == ["docker compose up: the engine failed to start a container "
                    "(a known transient runc error), retrying once"]


def test_a_stage_run_retries_it_too(docker_failing_once):
    calls = docker_failing_once(RUNC_ERROR)
    from workbook.runs import StageRun

    run = StageRun("01-basic", project="wbtest-standin")
    run.compose("up", "--build", "--detach")
    assert len(calls.read_text().splitlines()) == 2
    run.down()


@pytest.mark.docker
def test_a_stage_run_works_in_a_prepared_copy_and_removes_it():
    """The checkout is never touched: the stage's secrets are made in the copy, and `down` removes
    the copy (safe with nothing started, and twice)."""
    from workbook.runs import StageRun

    run = StageRun("04-hardening", project="wbtest-selftest-copy")
    try:
        assert not run.directory.is_relative_to(REPO_ROOT)
        shipped = STAGES_DIR / "04-hardening" / "compose.yaml"
        assert (run.directory / "compose.yaml").read_bytes() == shipped.read_bytes()
        assert len((run.directory / "secrets" / "db_password.txt").read_text()) == 64
        assert not {".venv", ".hypothesis", "__pycache__"} & {path.name for path in run.directory.iterdir()}
    finally:
        assert run.down() == "wbtest-selftest-copy removed"
    assert not run.directory.parent.exists()
    assert run.down() == "wbtest-selftest-copy removed"


@pytest.mark.parametrize(("args", "stderr"), [
    (("compose", "up", "--build"), "failed to solve: process \"/bin/sh -c pip install\" did not complete"),
    (("run", "--rm", "alpine"), RUNC_ERROR),  # not safe to run twice: not retried
])
def test_other_failures_are_not_retried(docker_failing_once, args, stderr):
    calls = docker_failing_once(stderr)
    with pytest.raises(WorkbookError):
        docker(*args)
    assert len(calls.read_text().splitlines()) == 1


# --- the CLI ---------------------------------------------------------------------------------

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
    result = workbook_cli("start", env={"DOCKER_HOST": "unix:///tmp/workbook-no-daemon.sock"})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "the Docker daemon is not running" in result.stderr


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


def test_prepare_makes_env_from_the_example_with_random_secrets(tmp_path):
    (tmp_path / ".env.example").write_text(
        "# comment\nPOSTGRES_USER=links\nPOSTGRES_PASSWORD=\nSECRET_KEY=\n")
    stages.prepare(tmp_path)
    values = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines()
                  if "=" in line and not line.startswith("#"))
    assert values["POSTGRES_USER"] == "links"
    assert len(values["POSTGRES_PASSWORD"]) == 32
    assert values["SECRET_KEY"] != values["POSTGRES_PASSWORD"]
    before = (tmp_path / ".env").read_text()
    stages.prepare(tmp_path)  # an existing .env is never touched
    assert (tmp_path / ".env").read_text() == before


def test_entry_url_prefers_nginx_then_web():
    rows = [{"Service": "db", "Publishers": [{"PublishedPort": 0, "TargetPort": 5432}]},
            {"Service": "web", "Publishers": [{"PublishedPort": 32001, "TargetPort": 8000}]},
            {"Service": "nginx", "Publishers": [{"PublishedPort": 32002, "TargetPort": 8080}]}]
    as_json = "\n".join(json.dumps(row) for row in rows)
    assert stages.entry_url(as_json) == "http://127.0.0.1:32002"
    assert stages.entry_url("\n".join(json.dumps(row) for row in rows[:2])) == "http://127.0.0.1:32001"



@pytest.mark.docker
def test_pipeline_run_works_in_a_copy_with_fresh_secrets_and_removes_it():
    """The notebook's PipelineRun never touches the checkout: a temporary copy without local
    state, its own secrets, free ports; `down` (safe with nothing deployed, and twice) removes it."""
    run = PipelineRun("05-ci", stack="wbtest-selftest-pipeline")
    try:
        assert (run.directory / "pipeline.sh").is_file()
        assert not run.directory.is_relative_to(REPO_ROOT)
        assert not {".pipeline", ".venv", ".env"} & {path.name for path in run.directory.iterdir()}
        for name in ("db_password", "secret_key"):
            value = (run.directory / "secrets" / f"{name}.txt").read_text()
            checkout = STAGES_DIR / "05-ci" / "secrets" / f"{name}.txt"
            assert len(value) == 64
            assert not checkout.exists() or checkout.read_text() != value
        assert run.tag.startswith("nb-")
        assert {key: run.env[key] for key in ("STACK", "TAG", "REGISTRY_PORT", "HTTP_PORT")} == {
            "STACK": "wbtest-selftest-pipeline", "TAG": run.tag, "REGISTRY_PORT": "", "HTTP_PORT": ""}
    finally:
        assert run.down() == "wbtest-selftest-pipeline removed"
    assert not run.directory.parent.exists()
    assert run.down() == "wbtest-selftest-pipeline removed"


def test_steady_load_stays_on_loopback_and_tells_the_phases_of_a_rollout():
    with pytest.raises(ValueError, match="only sends traffic to 127.0.0.1"):
        SteadyLoad("http://192.0.2.1:8080/")
    load = SteadyLoad("http://127.0.0.1:1/")
    load.results = [("v1", 302)] * 3 + [("v2", 302), ("v1", 302)] + [("v2", 302)] * 4
    assert load.timeline() == "v1 ×3 → mixed (v2 ×1, v1 ×1) → v2 ×4"
    assert load.counts() == {("v1", 302): 4, ("v2", 302): 5}


# --- docker helpers --------------------------------------------------------------------------

@pytest.mark.docker
def test_run_wait_http_logs_and_remove(cleanup):
    with run(images.PYTHON, owner=OWNER, ports=[8000],
             command=["python", "-m", "http.server", "8000"]) as container:
        body = container.wait_http("/", port=8000, timeout=30)
        assert "Directory listing" in body
        assert "GET / HTTP/1.1" in container.logs()
    assert docker("ps", "--all", "--quiet", "--filter", f"id={container.id}").stdout == ""


@pytest.mark.docker
def test_wait_healthy_fails_fast_with_the_logs_when_the_container_exits(cleanup):
    with run(images.PYTHON, owner=OWNER, command=["sh", "-c", "echo dying on purpose; exit 3"],
             extra=["--health-cmd", "true", "--health-interval", "1s"]) as container:
        with pytest.raises(WorkbookError) as error:
            container.wait_healthy(timeout=30)
    assert "exited with status 3" in str(error.value)
    assert "dying on purpose" in str(error.value)


def test_wait_until_times_out_with_a_clear_message():
    with pytest.raises(WorkbookError, match="timed out after 0.3 s waiting for the impossible"):
        wait_until(lambda: False, timeout=0.3, what="the impossible", interval=0.05)


@pytest.mark.docker
def test_image_size_and_layers():
    layers = image_layers(images.PYTHON)
    assert image_size(images.PYTHON) > 50_000_000
    assert sum(layer.size for layer in layers) <= image_size(images.PYTHON)
    assert any("python" in layer.created_by.lower() for layer in layers)


@pytest.mark.docker
def test_port_already_in_use_is_named(cleanup):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(WorkbookError) as error:
            docker("run", "--detach", "--label", f"{LABEL}={OWNER}", "--publish",
                   f"127.0.0.1:{port}:8000", images.PYTHON, "sleep", "30")
    assert "already in use" in error.value.message
    assert f"127.0.0.1:{port}" in error.value.message


@pytest.mark.docker
def test_a_failed_build_shows_the_failing_step_and_its_output(tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM debian:trixie-slim\nRUN echo fine\nRUN echo 'the output of the failing step' && exit 3\n")
    with pytest.raises(WorkbookError) as error:
        build(tmp_path, f"wbtest-failing-build:{uuid.uuid4().hex[:8]}", no_cache=True)
    text = str(error.value)
    assert "failed at this step" in text
    assert "RUN echo 'the output of the failing step' && exit 3" in text
    assert "the output of the failing step" in text.split("exit 3", 1)[1]
    assert "exit code: 3" in text


@pytest.mark.docker
def test_build_reports_cached_and_executed_steps(tmp_path):
    (tmp_path / "Dockerfile").write_text(f"FROM debian:trixie-slim\nRUN echo {uuid.uuid4()} > /id\n")
    tag = f"wbtest-cache-report:{uuid.uuid4().hex[:8]}"
    try:
        first = build(tmp_path, tag)
        second = build(tmp_path, tag)
        assert any("RUN echo" in step for step in first.executed_steps)
        assert any("RUN echo" in step for step in second.cached_steps)
    finally:
        docker("rmi", tag, check=False)


@pytest.mark.parametrize(("stderr", "expected"), [
    ("Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
     "the Docker daemon is not running"),
    ("ERROR: failed to solve: failed to copy files: write /var/lib/docker/x: no space left on device",
     "the disk is full"),
    ("permission denied while trying to connect to the Docker daemon socket",
     "may not use the Docker daemon"),
    ("Bind for 127.0.0.1:8000 failed: port is already allocated", "already in use (127.0.0.1:8000)"),
], ids=["daemon-down", "disk-full", "no-permission", "port-allocated"])
def test_each_docker_failure_gets_its_own_message(stderr, expected):
    assert expected in explain(["build", "."], stderr).message


# --- clean-up and images ---------------------------------------------------------------------

@pytest.mark.docker
def test_leftovers_are_found_and_removed():
    name = f"wbtest-selftest-{uuid.uuid4().hex[:8]}"
    docker("network", "create", "--label", f"{LABEL}={OWNER}", name)
    docker("volume", "create", "--label", f"{LABEL}={OWNER}", name)
    docker("create", "--label", f"{LABEL}={OWNER}", "--name", name, images.PYTHON)
    found = leftovers()
    assert {kind: name in names for kind, names in found.items()} == {
        "container": True, "network": True, "volume": True}
    remove_leftovers()
    assert not any(name in names for names in leftovers().values())


@pytest.mark.docker
def test_a_real_official_image_is_never_replaced(cleanup):
    """An image without the offline label counts as official: ensure() leaves it alone."""
    ref = f"wbtest-official:{uuid.uuid4().hex[:8]}"
    empty_tar = io.BytesIO()
    with tarfile.open(fileobj=empty_tar, mode="w"):
        pass
    subprocess.run(["docker", "import", "-", ref], input=empty_tar.getvalue(), check=True,
                   capture_output=True)
    try:
        image = images.Official(ref, "python")
        assert images.status(image) == "official"
        assert images.ensure(image, log=pytest.fail) == "official"
    finally:
        docker("rmi", ref, check=False)


@pytest.mark.docker
def test_stand_ins_carry_the_offline_labels():
    standins = [image for image in images.OFFICIAL_IMAGES if images.status(image) == "stand-in"]
    if not standins:
        pytest.skip("every official image here is the real one: no stand-in to check")
    for image in standins:
        labels = json.loads(docker("image", "inspect", "--format", "{{json .Config.Labels}}",
                                   image.ref).stdout)
        assert labels["workbook.replaces"] == image.ref
        assert labels["workbook.offline"] == "true"


def test_image_recipes_exist_for_every_official_image():
    for image in images.OFFICIAL_IMAGES:
        assert image.directory.is_dir()
        assert (image.directory / "Dockerfile").is_file() or image.ref == images.BASE
    assert Path(images.IMAGES_DIR).is_dir()

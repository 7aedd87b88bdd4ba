"""workbook/docker.py against the real engine: running, waiting, building, clean-up, and the one
clear message each failure a user can hit must give (a transient runc error is tried again, up to
twice)."""

import socket
import uuid

import pytest
from conftest import OWNER, RUNC_ERROR, RUNC_EXEC_ERROR

from workbook import LABEL, images
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


def test_a_transient_runc_error_is_retried_with_one_line(docker_failing_once, capsys):
    calls = docker_failing_once(RUNC_ERROR)
    assert docker("compose", "--project-name", "x", "up", "--build", "--detach").stdout == "ok\n"
    assert len(calls.read_text().splitlines()) == 2
    said = capsys.readouterr().err.strip().splitlines()
    assert said == ["docker compose up: the engine failed to start a container "
                    "(a known transient runc error), trying again"]


def test_a_transient_runc_error_is_tried_three_times_at_most(docker_failing_once):
    calls = docker_failing_once(RUNC_EXEC_ERROR, times=2)
    assert docker("exec", "some-container", "true").stdout == "ok\n"
    assert len(calls.read_text().splitlines()) == 3
    calls.unlink()
    docker_failing_once(RUNC_EXEC_ERROR, times=3)
    with pytest.raises(WorkbookError):
        docker("exec", "some-container", "true")
    assert len(calls.read_text().splitlines()) == 3


@pytest.mark.parametrize("args", [("compose", "--project-name", "x", "exec", "-T", "db", "true"),
                                  ("exec", "some-container", "true")])
def test_an_exec_that_never_started_is_retried_once(docker_failing_once, args):
    calls = docker_failing_once(RUNC_EXEC_ERROR)
    assert docker(*args).stdout == "ok\n"
    assert len(calls.read_text().splitlines()) == 2


@pytest.mark.parametrize(("args", "stderr"), [
    (("compose", "up", "--build"), "failed to solve: process \"/bin/sh -c pip install\" did not complete"),
    (("run", "--rm", "alpine"), RUNC_ERROR),  # not safe to run twice: not retried
])
def test_other_failures_are_not_retried(docker_failing_once, args, stderr):
    calls = docker_failing_once(stderr)
    with pytest.raises(WorkbookError):
        docker(*args)
    assert len(calls.read_text().splitlines()) == 1


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

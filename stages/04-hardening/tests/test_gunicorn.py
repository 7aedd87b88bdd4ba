"""What gunicorn and the entrypoint add: worker processes, migrations on start, graceful
shutdown, worker replacement, concurrency, and a dependency layer that survives code changes."""

import math
import shutil
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from conftest import STAGE_DIR, UNIT_TEST_SECRET, wait_for

pytestmark = pytest.mark.docker

LABEL = "workbook.owner=wbtest-04-hardening"


def processes(host) -> dict[int, dict]:
    """pid -> {ppid, cmdline} from /proc (the slim image has no ps)."""
    out = host.check_output(
        "for d in /proc/[0-9]*; do "
        "printf '%s\\t%s\\t%s\\n' \"${d#/proc/}\" \"$(cut -d' ' -f4 $d/stat)\" "
        "\"$(tr '\\0' ' ' < $d/cmdline)\"; done 2>/dev/null")
    table = {}
    for line in out.splitlines():
        pid, ppid, cmdline = (line.split("\t") + ["", ""])[:3]
        if cmdline.strip():
            table[int(pid)] = {"ppid": int(ppid), "cmdline": cmdline.strip()}
    return table


def workers(host) -> set[int]:
    return {pid for pid, p in processes(host).items() if p["ppid"] == 1 and "gunicorn" in p["cmdline"]}


def test_gunicorn_master_is_pid_1(host, base_url):
    # The entrypoint `exec`ed gunicorn: no shell stands between Docker's signals and the server.
    assert "gunicorn" in processes(host)[1]["cmdline"]


def test_default_worker_count_is_two_per_cpu_of_the_containers_limit_plus_one(stack, host, base_url):
    nano_cpus = int(subprocess.run(["docker", "inspect", "--format", "{{.HostConfig.NanoCpus}}",
                                    stack.container("web")], capture_output=True, text=True,
                                   check=True).stdout)
    assert nano_cpus, "compose.yaml limits web's CPUs"
    # compose.yaml's `cpus: "1.0"`: 3 workers, whatever the host's core count.
    assert len(workers(host)) == 2 * math.ceil(nano_cpus / 1e9) + 1


def test_migrations_were_applied_on_start(host, base_url):
    assert "0002 (head)" in host.check_output("cd /app && flask db current 2>/dev/null")


def test_container_is_healthy(stack, base_url):
    state = stack.compose("ps", "--format", "{{.Health}}", "web").stdout.strip()
    assert state == "healthy"


def test_concurrent_requests_all_succeed(base_url):
    def shorten(i):
        return requests.post(f"{base_url}/api/links", json={"url": f"https://example.org/{i}"},
                             timeout=10).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(shorten, range(60)))
    assert statuses == [201] * 60


def test_a_killed_worker_is_replaced(host, base_url):
    before = workers(host)
    victim = min(before)
    host.run(f"kill -9 {victim}")
    # Wait on the condition: the master has forked a replacement for the killed worker.
    wait_for(lambda: victim not in (now := workers(host)) and len(now) == len(before), 30,
             f"worker {victim} to be replaced")
    assert requests.get(f"{base_url}/healthz", timeout=5).status_code == 200


# --- graceful shutdown ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def stage_image(stack) -> str:
    """The image that compose built for the web service."""
    return docker("inspect", "--format", "{{.Config.Image}}", stack.container())


@pytest.fixture(scope="module")
def shell_form_image(stage_image):
    """The same image with the classic mistake: a shell-form CMD, so `sh` is PID 1."""
    tag = f"wbtest-04-hardening-shellform:{uuid.uuid4().hex[:8]}"
    dockerfile = (f"FROM {stage_image}\nENTRYPOINT []\n"
                  "CMD flask db upgrade && gunicorn --config gunicorn.conf.py wsgi:app\n")
    subprocess.run(["docker", "build", "--quiet", "--tag", tag, "-"], input=dockerfile, text=True,
                   check=True, capture_output=True)
    yield tag
    subprocess.run(["docker", "rmi", tag], capture_output=True)


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def run_container():
    started = []

    def run(image: str) -> str:
        container = docker("run", "--detach", "--label", LABEL, "--publish", "127.0.0.1::8000",
                           "--env", "DATABASE_URL=sqlite:////tmp/links.db",
                           "--env", f"SECRET_KEY={UNIT_TEST_SECRET}", image)
        started.append(container)
        return container

    yield run
    for container in started:
        subprocess.run(["docker", "rm", "--force", "--volumes", container], capture_output=True)


def running(container: str) -> bool:
    return docker("inspect", "--format", "{{.State.Running}}", container) == "true"


@pytest.mark.parametrize(("variant", "expect_answer", "expect_exit"), [
    ("exec-form entrypoint", True, 0),
    ("shell-form CMD", False, 137),
], ids=["exec-form", "shell-form"])
def test_docker_stop_during_a_slow_request(request, run_container, stage_image, variant,
                                           expect_answer, expect_exit):
    image = stage_image if variant.startswith("exec") else request.getfixturevalue("shell_form_image")
    container = run_container(image)
    port = docker("port", container, "8000").splitlines()[0].rsplit(":", 1)[1]
    wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, "the app to answer")

    # A slow client: headers and half the body now, the rest only after `docker stop` began.
    body = b'{"url": "https://example.org/in-flight"}'
    conn = socket.create_connection(("127.0.0.1", int(port)), timeout=20)
    conn.sendall(b"POST /api/links HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body[:10])

    started = time.monotonic()
    stopper = subprocess.Popen(["docker", "stop", container], stdout=subprocess.DEVNULL)
    # Wait on what happens: gunicorn logs that it got SIGTERM, or (when a shell swallowed the
    # signal) the container is killed when docker stop's 10 s run out.
    wait_for(lambda: "Handling signal: term" in docker("logs", container) + _stderr_logs(container)
             or not running(container), 30, "the signal to arrive or the container to die")
    try:
        conn.sendall(body[10:])
        answer = conn.recv(4096)
    except OSError:
        answer = b""
    conn.close()
    stopper.wait(timeout=30)
    elapsed = time.monotonic() - started
    exit_code = int(docker("inspect", "--format", "{{.State.ExitCode}}", container))

    assert exit_code == expect_exit
    assert answer.startswith(b"HTTP/1.1 201") is expect_answer, answer[:80]
    if expect_exit == 0:
        assert elapsed < 8, "the graceful shutdown should finish within gunicorn's graceful_timeout"


def _stderr_logs(container: str) -> str:
    return subprocess.run(["docker", "logs", container], capture_output=True, text=True).stderr


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:  # refused, reset or timed out: not yet
        return False


# --- build cache ----------------------------------------------------------------------------

def test_code_only_change_reuses_the_dependency_layer(tmp_path):
    context = tmp_path / "stage"
    shutil.copytree(STAGE_DIR, context, ignore=shutil.ignore_patterns(".venv", ".pytest_cache"))
    tag = f"wbtest-04-hardening-cache:{uuid.uuid4().hex[:8]}"
    try:
        build(context, tag)  # warms the cache (usually already warm from the stack's build)
        views = context / "app" / "views.py"
        views.write_text(views.read_text() + f"\n# code-only change {uuid.uuid4()}\n")
        output = build(context, tag)
        assert step_status(output, "RUN --mount=type=cache,target=/root/.cache/pip") == "CACHED"
        assert step_status(output, "COPY . .") == "DONE"
    finally:
        subprocess.run(["docker", "rmi", tag], capture_output=True)


def build(context, tag: str) -> str:
    result = subprocess.run(["docker", "buildx", "build", "--progress=plain", "--load", "--tag", tag,
                             str(context)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def step_status(output: str, instruction: str) -> str:
    """'CACHED' or 'DONE' for the build step whose header contains `instruction`."""
    number = next(line.split()[0] for line in output.splitlines()
                  if line.startswith("#") and "] " + instruction in line)
    marks = [line.split()[1] for line in output.splitlines()
             if line.startswith(number + " ") and line.split()[1] in ("CACHED", "DONE")]
    return marks[-1]

"""Fixtures of this stage's tests. Only public packages (pytest, pytest-docker, pytest-testinfra,
requests, hypothesis), so that the stage still tests itself when copied out of the workbook."""

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests
import testinfra
from pytest_docker.plugin import get_docker_services

# Test traffic goes to 127.0.0.1 directly, never through a proxy the machine may configure.
for _variable in ("NO_PROXY", "no_proxy"):
    os.environ[_variable] = ",".join(filter(None, [os.environ.get(_variable), "127.0.0.1", "localhost"]))

STAGE_DIR = Path(__file__).resolve().parent.parent
# Our own compose project name: the tests never touch a stack the reader started by hand.
PROJECT = "wbtest-05-ci"
# Files that .dockerignore must keep out of the image; the tests plant them in the build context.
DECOYS = {".env": "SECRET_KEY=must-not-reach-the-image\n", ".git/HEAD": "ref: refs/heads/main\n",
          "tests/decoy.txt": "", "app/__pycache__/decoy.cpython-313.pyc": "",
          ".pytest_cache/decoy": "", ".venv/decoy": ""}


@pytest.fixture(scope="session")
def build_context(tmp_path_factory) -> Path:
    """A copy of the stage with decoy files added, so the reader's checkout is never modified."""
    context = tmp_path_factory.mktemp("stage") / STAGE_DIR.name
    shutil.copytree(STAGE_DIR, context,
                    ignore=shutil.ignore_patterns(".env", ".venv", ".git", "secrets", ".pipeline"))
    for name, content in DECOYS.items():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(content)
    # The stack's secrets, made as a reader makes them: fresh random values for each run.
    subprocess.run([str(context / "make-secrets.sh")], check=True, capture_output=True)
    return context


def secret(build_context, name: str) -> str:
    return (build_context / "secrets" / f"{name}.txt").read_text().strip()


@pytest.fixture(scope="session")
def docker_compose_file(build_context):
    return str(build_context / "compose.yaml")


@pytest.fixture(scope="session")
def docker_compose_project_name():
    return PROJECT


@pytest.fixture(scope="session")
def docker_setup():
    # First remove what an interrupted earlier run may have left, then build and start.
    return ["down --volumes --remove-orphans", "up --build --detach --wait"]


@pytest.fixture(scope="session")
def docker_services(docker_compose_command, docker_compose_file, docker_compose_project_name,
                    docker_setup, docker_cleanup):
    # An empty HTTP_PORT makes Docker pick a free 127.0.0.1 port, so a copy of the stage that the
    # reader runs on port 8080 does not get in the way.
    os.environ["HTTP_PORT"] = ""
    try:
        with get_docker_services(docker_compose_command, docker_compose_file,
                                 docker_compose_project_name, docker_setup,
                                 docker_cleanup) as services:
            yield services
    finally:
        # pytest-docker cleans up only after a successful start; a failed `up` must not leak.
        Stack(docker_compose_file).compose("down", "--volumes", "--remove-orphans", check=False)


class Stack:
    """The stage's compose project as the tests see it."""

    def __init__(self, compose_file, project: str = PROJECT, overrides=()):
        # overrides: compose files layered on top, as `-f compose.yaml -f compose.dev.yaml`
        self.compose_files = [str(compose_file), *map(str, overrides)]
        self.project = project

    def command(self, *args: str) -> list[str]:
        files = [arg for name in self.compose_files for arg in ("-f", name)]
        return ["docker", "compose", *files, "-p", self.project, *args]

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(self.command(*args), capture_output=True, text=True)
        if check and result.returncode != 0:
            pytest.fail(f"docker compose {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result

    def psql(self, sql: str) -> str:
        """The result of one SQL statement in the stack's database, unaligned (psql -tA)."""
        return self.compose("exec", "-T", "db", "psql", "-U", "links", "-d", "links", "-tAc",
                            sql).stdout.strip()

    def container(self, service: str = "web") -> str:
        return self.compose("ps", "--quiet", service).stdout.strip()

    def url(self, service: str = "nginx", port: int = 8080) -> str:
        """The base URL of the service's published port (re-read: it changes when recreated)."""
        published = self.compose("port", service, str(port)).stdout.strip()
        return f"http://127.0.0.1:{published.rsplit(':', 1)[1]}"

    def wait_until_answering(self, path: str = "/healthz", timeout: float = 60) -> str:
        """Wait on the condition (an HTTP 200), never a fixed sleep; return the base URL."""
        url = self.url()
        wait_for(lambda: answers(url + path), timeout, f"{url}{path} to answer 200",
                 on_timeout=lambda: self.compose("logs", "--tail", "30", check=False).stdout)
        return url


def wait_for(condition, timeout: float, what: str, on_timeout=lambda: ""):
    """Poll until the condition holds and return its value; fail clearly after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}\n{on_timeout()}")
        time.sleep(0.1)
    return result


def answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:  # refused, reset or timed out: not yet
        return False


@pytest.fixture(scope="session")
def stack(docker_services, docker_compose_file) -> Stack:
    return Stack(docker_compose_file)


@pytest.fixture
def base_url(stack) -> str:
    # Looked up for each test: a test that recreates the container changes the published port.
    return stack.wait_until_answering()


@pytest.fixture
def host(stack, base_url):
    """testinfra's view of the running web container (commands go through `docker exec`)."""
    return testinfra.get_host(f"docker://{stack.container()}")


# Long and random-looking enough for the app's secret check; only ever used in tests.
UNIT_TEST_SECRET = "unit-tests-" + "x" * 32


@pytest.fixture
def app_under_test(tmp_path, monkeypatch):
    """The Flask app on a fresh SQLite file, migrated with the committed migrations (no Docker)."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'test.db'}")
    monkeypatch.setenv("SECRET_KEY", UNIT_TEST_SECRET)
    monkeypatch.delenv("APP_VERSION", raising=False)  # set in the image; the tests expect "dev"
    monkeypatch.chdir(STAGE_DIR)
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({"TESTING": True})
    with app.app_context():
        upgrade(directory=str(STAGE_DIR / "migrations"))
    return app


@pytest.fixture
def client(app_under_test):
    return app_under_test.test_client()


def commit_tag() -> str:
    """The commit's short SHA, as the pipeline tags images; a unique tag outside git."""
    result = subprocess.run(["git", "-C", str(STAGE_DIR), "rev-parse", "--short=12", "HEAD"],
                            capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else f"test-{uuid.uuid4().hex[:8]}"


def docker(*args: str) -> str:
    """A docker command's output. A `docker exec` whose process never started (runc's known
    transient failure on a busy machine: "unable to start container process") is tried again."""
    for attempt in (1, 2):
        result = subprocess.run(["docker", *args], capture_output=True, text=True)
        never_started = result.returncode == 126 and "unable to start container process" in result.stderr
        if attempt == 2 or not never_started:
            break
    if result.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout.strip()


def create_link(entry_url: str) -> str:
    """A link created through the entry point; its code. Following it reads PostgreSQL (or Redis)."""
    response = requests.post(f"{entry_url}/api/links", json={"url": "https://example.org/"}, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()["code"]


class SteadyLoad:
    """Requests from 127.0.0.1 to the entry point at a steady pace, in a thread, bounded in
    time and count; records every status and the X-App-Version that answered."""

    def __init__(self, url: str, per_second: int = 40, max_seconds: float = 180, expected: int = 302):
        self.url, self.pause, self.deadline = url, 1 / per_second, time.monotonic() + max_seconds
        self.expected = expected
        self.results: list[tuple[int | str, str]] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with requests.Session() as session:
            while not self.stopped.is_set() and time.monotonic() < self.deadline \
                    and len(self.results) < 20_000:
                try:
                    response = self.send(session)
                    self.results.append((response.status_code, response.headers.get("X-App-Version", "")))
                except requests.RequestException as error:
                    self.results.append((type(error).__name__, ""))
                self.stopped.wait(self.pause)

    def send(self, session: requests.Session) -> requests.Response:
        return session.get(self.url, allow_redirects=False, timeout=5)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()

    @property
    def failures(self) -> Counter:
        return Counter(status for status, _ in self.results if status != self.expected)

    def versions(self) -> list[str]:
        return [version for _, version in self.results]

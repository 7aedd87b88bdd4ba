"""Fixtures of this stage's tests. Only public packages (pytest, pytest-docker, pytest-testinfra,
requests), so that the stage still tests itself when copied out of the workbook."""

import os
import secrets
import shutil
import subprocess
import time
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
PROJECT = "wbtest-03-compose"
# The stack's .env for this run, as a reader makes it from .env.example: a fresh password each run.
DB_PASSWORD = secrets.token_hex(16)
ENV_FILE = f"POSTGRES_USER=links\nPOSTGRES_DB=links\nPOSTGRES_PASSWORD={DB_PASSWORD}\n"
# Files that .dockerignore must keep out of the image; the tests plant them in the build context
# (.env among them: compose reads it, the image must not contain it).
DECOYS = {".env": ENV_FILE, ".git/HEAD": "ref: refs/heads/main\n",
          "tests/decoy.txt": "", "app/__pycache__/decoy.cpython-313.pyc": "",
          ".pytest_cache/decoy": "", ".venv/decoy": ""}


@pytest.fixture(scope="session")
def build_context(tmp_path_factory) -> Path:
    """A copy of the stage with decoy files added, so the reader's checkout is never modified."""
    context = tmp_path_factory.mktemp("stage") / STAGE_DIR.name
    shutil.copytree(STAGE_DIR, context, ignore=shutil.ignore_patterns(".env", ".venv", ".git"))
    for name, content in DECOYS.items():
        (context / name).parent.mkdir(parents=True, exist_ok=True)
        (context / name).write_text(content)
    return context


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
    # An empty WEB_PORT makes Docker pick a free 127.0.0.1 port, so a copy of the stage that the
    # reader runs on port 8000 does not get in the way.
    os.environ["WEB_PORT"] = ""
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

    def container(self, service: str = "web") -> str:
        return self.compose("ps", "--quiet", service).stdout.strip()

    def url(self, service: str = "web", port: int = 8000) -> str:
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


@pytest.fixture
def app_under_test(tmp_path, monkeypatch):
    """The Flask app on a fresh SQLite file, migrated with the committed migrations (no Docker)."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'test.db'}")
    monkeypatch.setenv("SECRET_KEY", "unit-tests")
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

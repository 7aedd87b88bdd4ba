"""The two ways to develop against the running stack, each proven the same way: a route saved in
the checkout is served by the running container without a rebuild. compose.dev.yaml mounts the
checkout; compose.watch.yaml has Compose Watch copy each saved file into the container."""

import shutil
import subprocess
import uuid

import pytest
import requests
from conftest import ENV_FILE, STAGE_DIR, Stack, answers, wait_for

ROUTE = '''

@bp.get("/saved-{token}")
def saved_{token}():
    return "{token}"
'''


@pytest.fixture
def checkout(tmp_path):
    """A copy of the stage as a reader has it: with a .env, and files they can edit."""
    copy = tmp_path / STAGE_DIR.name
    shutil.copytree(STAGE_DIR, copy, ignore=shutil.ignore_patterns(".env", ".venv", ".pytest_cache"))
    (copy / ".env").write_text(ENV_FILE + "WEB_PORT=\n")  # empty: a free port on 127.0.0.1
    return copy


def save_a_new_route(checkout) -> str:
    token = uuid.uuid4().hex[:12]
    views = checkout / "app" / "views.py"
    views.write_text(views.read_text() + ROUTE.format(token=token))
    return token


def served(stack: Stack, token: str) -> bool:
    try:
        response = requests.get(f"{stack.url()}/saved-{token}", timeout=2)
    except requests.RequestException:  # reloading: not yet
        return False
    return response.status_code == 200 and response.text == token


def test_dev_override_serves_a_saved_change_from_the_mounted_checkout(checkout):
    stack = Stack(checkout / "compose.yaml", "wbtest-03-dev", overrides=[checkout / "compose.dev.yaml"])
    try:
        stack.compose("up", "--build", "--detach", "--wait")
        wait_for(lambda: answers(stack.url() + "/healthz"), 60, "the dev stack to answer")
        token = save_a_new_route(checkout)
        wait_for(lambda: served(stack, token), 30, "the saved route to be served",
                 on_timeout=lambda: stack.compose("logs", "--tail", "20", "web", check=False).stdout)
        mounts = stack.compose("exec", "web", "cat", "/proc/self/mountinfo").stdout
        assert " /app " in mounts, "the checkout is not mounted over /app"
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", check=False)


def test_compose_watch_copies_a_saved_change_into_the_container(checkout):
    stack = Stack(checkout / "compose.yaml", "wbtest-03-watch", overrides=[checkout / "compose.watch.yaml"])
    watch = subprocess.Popen(stack.command("watch"), cwd=checkout, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        # `watch` builds and starts the stack first: up once web publishes its port.
        def started() -> bool:
            port = stack.compose("port", "web", "8000", check=False).stdout.strip()
            return watch.poll() is not None or bool(port)
        wait_for(started, 180, "docker compose watch to start the stack")
        assert watch.poll() is None, watch.stdout.read()
        wait_for(lambda: answers(stack.url() + "/healthz"), 60, "the watched stack to answer")
        token = save_a_new_route(checkout)
        wait_for(lambda: served(stack, token), 30, "the saved route to be served")
        mounts = stack.compose("exec", "web", "cat", "/proc/self/mountinfo").stdout
        assert " /app " not in mounts, "Watch needs no bind mount: the file was copied in"
        synced = stack.compose("exec", "web", "grep", "-c", f"saved-{token}", "/app/app/views.py")
        assert synced.stdout.strip() == "1"
    finally:
        watch.terminate()
        try:
            watch.wait(timeout=30)
        except subprocess.TimeoutExpired:
            watch.kill()
        stack.compose("down", "--volumes", "--remove-orphans", check=False)


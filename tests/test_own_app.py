"""'Use a stage for your own app', proven: a second Flask app, shaped unlike the workbook's
(a module-level `app`, no Flask-Migrate, its own static folder: tests/own_app/), moved into a
copy of stage 04 with exactly the page's steps (tests/own_app/move-in.sh and its patch), runs as
stage 04's stack with what the stage promises: nginx in front serving the static files, secrets
from files, a non-root read-only web container, every service healthy."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from workbook.docker import docker
from workbook.http import fetch
from workbook.stages import working_copy

pytestmark = pytest.mark.docker

OWN_APP = Path(__file__).parent / "own_app"
PROJECT = "wbtest-own-app"


class Stack:
    def __init__(self, directory: Path):
        self.directory = directory

    def compose(self, *args: str) -> str:
        # HTTP_PORT empty: a free port on 127.0.0.1, whatever the reader runs on 8080.
        return docker("compose", "--project-name", PROJECT, *args, cwd=self.directory,
                      env=os.environ | {"HTTP_PORT": ""}, timeout=600).stdout

    @property
    def url(self) -> str:
        return "http://" + self.compose("port", "nginx", "8080").strip()

    def container(self, service: str) -> str:
        return self.compose("ps", "--quiet", service).strip()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(working_copy("04-hardening", tmp_path_factory.mktemp("own-app")))
    subprocess.run([str(OWN_APP / "move-in.sh"), str(stack.directory)], check=True)
    try:
        stack.compose("up", "--build", "--detach", "--wait")
        yield stack
    finally:
        stack.compose("down", "--volumes", "--remove-orphans", "--rmi", "local")


def test_the_move_leaves_nothing_of_the_workbooks_app(stack):
    for gone in ("app", "wsgi.py", "migrations", "tests"):
        assert not (stack.directory / gone).exists()
    services = set(stack.compose("config", "--services").split())
    assert "visits" not in services
    assert {"nginx", "web", "db", "redis"} <= services


def test_every_service_is_up_and_healthy(stack):
    states = [json.loads(line) for line in stack.compose("ps", "--format", "json").splitlines()]
    assert {s["Service"]: (s["State"], s["Health"]) for s in states} == {
        "nginx": ("running", "healthy"), "web": ("running", "healthy"),
        "db": ("running", "healthy"), "redis": ("running", "healthy")}


def test_the_app_answers_through_nginx_and_keeps_its_data_in_postgres(stack):
    status, _, body = fetch(f"{stack.url}/readyz")
    assert (status, json.loads(body)) == (200, {"status": "ready"})
    status, _, body = fetch(f"{stack.url}/notes", {"text": "moved in"})
    assert status == 201, body
    note = json.loads(body)
    status, _, body = fetch(f"{stack.url}/notes/{note['id']}")
    assert (status, json.loads(body)) == (200, {"id": note["id"], "text": "moved in"})
    rows = docker("exec", stack.container("db"), "psql", "-U", "links", "-d", "links", "-tAc",
                  "SELECT text FROM notes").stdout
    assert rows.strip() == "moved in"


def test_nginx_serves_the_apps_own_static_folder(stack):
    status, headers, body = fetch(f"{stack.url}/assets/notes.css")
    assert status == 200
    assert body == (OWN_APP / "assets" / "notes.css").read_text()
    # nginx's location for static files (`expires 7d`), not Flask's static route (no Expires).
    assert "Expires" in headers
    assert headers.get("Server") == "nginx"


def test_the_secrets_come_from_files_and_the_web_container_stays_hardened(stack):
    web = stack.container("web")
    config = json.loads(docker("inspect", web).stdout)[0]
    password = (stack.directory / "secrets" / "db_password.txt").read_text().strip()
    assert password not in json.dumps(config["Config"]["Env"])
    assert config["Config"]["User"] == "10001:10001"
    assert config["HostConfig"]["ReadonlyRootfs"] is True
    assert config["HostConfig"]["CapDrop"] == ["ALL"]
    assert docker("exec", web, "id", "-u").stdout.strip() == "10001"

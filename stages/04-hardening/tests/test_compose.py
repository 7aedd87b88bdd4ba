"""What Compose and PostgreSQL add: a healthy two-service stack, data in PostgreSQL and in its
volume, readiness that follows the database, safe migrations with replicas, and a clear failure
when the password is wrong."""

import json
import subprocess

import pytest
import requests
import testinfra
from conftest import PROJECT, UNIT_TEST_SECRET, Stack, wait_for

pytestmark = pytest.mark.docker


def status_of(url: str) -> int | None:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:  # refused, reset or timed out: not yet
        return None


def inspect(container: str) -> dict:
    out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def test_every_service_is_healthy(stack, base_url):
    rows = [json.loads(line) for line in stack.compose("ps", "--format", "json").stdout.splitlines()]
    assert {row["Service"]: row["Health"] for row in rows} == {
        "nginx": "healthy", "web": "healthy", "visits": "healthy", "db": "healthy", "redis": "healthy"}


def test_only_nginx_publishes_a_port_and_only_on_127_0_0_1(stack, base_url):
    nginx = inspect(stack.container("nginx"))["NetworkSettings"]["Ports"]
    assert [binding["HostIp"] for binding in nginx["8080/tcp"]] == ["127.0.0.1"]
    for service in ("web", "visits", "db", "redis"):
        assert not inspect(stack.container(service))["HostConfig"]["PortBindings"], service


def test_postgres_runs_as_the_postgres_user(stack, base_url):
    db = testinfra.get_host(f"docker://{stack.container('db')}")
    uid_line = next(line for line in db.file("/proc/1/status").content_string.splitlines()
                    if line.startswith("Uid:"))
    assert uid_line.split()[1] == str(db.user("postgres").uid)
    assert "postgres" in db.file("/proc/1/cmdline").content_string


def test_api_round_trip_lands_in_postgresql(stack, base_url):
    code = requests.post(f"{base_url}/api/links", json={"url": "https://example.org/pg"},
                         timeout=5).json()["code"]
    assert requests.get(f"{base_url}/{code}", allow_redirects=False, timeout=5).status_code == 302
    # The visit reaches PostgreSQL with the mover's next batch (within a second).
    wait_for(lambda: stack.psql(f"SELECT url, visits FROM links WHERE code = '{code}'")
             == "https://example.org/pg|1", 10, "the visit in PostgreSQL")


def test_readyz_follows_the_database_without_restarting_web(stack, base_url):
    web = stack.container("web")
    started_at = inspect(web)["State"]["StartedAt"]
    stack.compose("stop", "db")
    try:
        wait_for(lambda: status_of(f"{base_url}/readyz") == 503, 30, "/readyz to report 503")
        assert status_of(f"{base_url}/healthz") == 200, "liveness must not depend on the database"
    finally:
        stack.compose("start", "db")
    wait_for(lambda: status_of(f"{base_url}/readyz") == 200, 60, "/readyz to recover")
    state = inspect(web)["State"]
    assert state["StartedAt"] == started_at
    assert inspect(web)["RestartCount"] == 0


def test_wrong_database_password_is_reported_not_hidden(stack, base_url):
    """A web container with a wrong password stays up, says why in its log, and is not healthy."""
    image = inspect(stack.container("web"))["Config"]["Image"]
    network = f"{PROJECT}_backend"
    container = subprocess.run(
        ["docker", "run", "--detach", "--label", f"workbook.owner={PROJECT}", "--network", network,
         "--env", "DATABASE_URL=postgresql+psycopg://links:wrong-password@db:5432/links",
         "--env", f"SECRET_KEY={UNIT_TEST_SECRET}",
         "--health-interval", "1s", "--health-start-period", "1s", "--health-retries", "2", image],
        capture_output=True, text=True, check=True).stdout.strip()
    try:
        def logs() -> str:
            result = subprocess.run(["docker", "logs", container], capture_output=True, text=True)
            return result.stdout + result.stderr

        wait_for(lambda: "password authentication failed" in logs(), 30, "the cause in the log")
        wait_for(lambda: inspect(container)["State"]["Health"]["Status"] == "unhealthy", 30,
                 "the container to be reported unhealthy")
        state = inspect(container)
        assert state["State"]["Running"], "no crash: the container waits and keeps saying why"
        assert state["RestartCount"] == 0
        line = next(line for line in logs().splitlines() if "password authentication failed" in line)
        assert line.startswith("wait-for-db: database unavailable"), line
    finally:
        subprocess.run(["docker", "rm", "--force", "--volumes", container], capture_output=True)


def test_data_survives_down_and_up(stack, base_url):
    code = requests.post(f"{base_url}/api/links", json={"url": "https://example.org/durable"},
                         timeout=5).json()["code"]
    stack.compose("down")  # without --volumes: the pgdata volume stays
    stack.compose("up", "--detach", "--wait")
    url = stack.wait_until_answering()
    assert requests.get(f"{url}/api/links/{code}", timeout=5).json()["url"] == "https://example.org/durable"


@pytest.fixture
def fresh_stack(docker_compose_file):
    """A second project of the same stage, with its own new database volume."""
    stack = Stack(docker_compose_file, project=f"{PROJECT}-scale")
    stack.compose("down", "--volumes", "--remove-orphans", check=False)
    yield stack
    stack.compose("down", "--volumes", "--remove-orphans", check=False)


def test_three_replicas_start_at_once_on_a_new_database(fresh_stack):
    # --build: the image of this second project must be the current code, not a stale build.
    fresh_stack.compose("up", "--build", "--detach", "--wait", "--scale", "web=3")
    logs = fresh_stack.compose("logs", "--no-log-prefix", "web").stdout
    assert logs.count("Running upgrade  -> 0001") == 1, "exactly one replica migrates"
    assert "Traceback" not in logs
    assert "ERROR" not in logs
    listing = fresh_stack.compose("ps", "--format", "json", "web").stdout
    rows = [json.loads(line) for line in listing.splitlines()]
    assert [row["Health"] for row in rows] == ["healthy"] * 3

"""What the design promises, checked under load (16 concurrent clients), not with one request:
redirects count visits in Redis and a mover brings them to PostgreSQL in batches, losing none
(also when it is killed mid-batch); the stack keeps answering with Redis or PostgreSQL stopped;
gunicorn's workers, forked from one loaded app, share no connection."""

import json
import subprocess
import time

import pytest
import requests
from conftest import SteadyLoad, wait_for

pytestmark = pytest.mark.docker


def redis_cli(stack, *args: str) -> str:
    return stack.compose("exec", "-T", "redis", "redis-cli", *args).stdout.strip()


def new_link(base_url: str) -> str:
    response = requests.post(f"{base_url}/api/links", json={"url": "https://example.org/load"}, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()["code"]


def visits_in_postgres(stack, code: str) -> int:
    return int(stack.psql(f"SELECT visits FROM links WHERE code = '{code}'") or -1)


def transactions(stack) -> int:
    sql = "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'links'"
    return int(stack.psql(sql))


def started_at(container: str) -> str:
    return subprocess.run(["docker", "inspect", "--format", "{{.State.StartedAt}}", container],
                          capture_output=True, text=True, check=True).stdout.strip()


def start_again(stack, service: str) -> None:
    """Start a stopped or killed service and wait until it is healthy (its dependencies are
    running: a paused database may not be reported healthy again yet)."""
    stack.compose("up", "--detach", "--no-deps", "--wait", service)


def test_redirects_do_not_write_to_postgresql_and_visits_arrive_in_batches(stack, base_url):
    code = new_link(base_url)
    before = transactions(stack)
    with SteadyLoad(f"{base_url}/{code}") as load:
        wait_for(lambda: load.count() >= 1500, 60, "1,500 redirects")
    served = load.outcomes[302]
    assert not load.failures()
    assert {visits for _, visits in load.headers} == {"redis"}, load.headers
    # Right away, the API shows every visit: those moved plus those still pending in Redis.
    assert requests.get(f"{base_url}/api/links/{code}", timeout=5).json()["visits"] == served
    wait_for(lambda: visits_in_postgres(stack, code) == served, 15, f"{served} visits in PostgreSQL",
             on_timeout=lambda: f"{visits_in_postgres(stack, code)} there")
    # One transaction per batch (one a second), not one per redirect; psql adds a few of its own.
    assert transactions(stack) - before < served / 50


def test_a_mover_killed_mid_batch_loses_no_visit(stack, base_url):
    code = new_link(base_url)
    with SteadyLoad(f"{base_url}/{code}") as load:
        wait_for(lambda: load.count() >= 300, 60, "300 redirects")
        # With PostgreSQL frozen, the mover takes a batch out of the pending counts and then
        # waits on the database: killed now, the batch is neither in PostgreSQL nor pending.
        stack.compose("pause", "db")
        try:
            wait_for(lambda: redis_cli(stack, "EXISTS", "visits:moving") == "1", 15,
                     "the mover to take a batch")
            stack.compose("kill", "--signal", "KILL", "visits")
        finally:
            stack.compose("unpause", "db")
        start_again(stack, "visits")
        wait_for(lambda: load.count() >= 600, 60, "300 more redirects")
    served = load.outcomes[302]
    assert not load.failures()
    wait_for(lambda: visits_in_postgres(stack, code) == served, 20, f"{served} visits in PostgreSQL",
             on_timeout=lambda: f"{visits_in_postgres(stack, code)} there")


def test_a_batch_already_committed_is_not_added_twice(stack, base_url):
    """The other place a mover can die: after its transaction, before it deletes the batch in
    Redis. The batch is left as it would be, with its id recorded as moved."""
    code = new_link(base_url)
    stack.compose("stop", "visits")
    try:
        stack.psql("UPDATE visit_mover SET last_batch = 'moved-already' WHERE id = 1")
        redis_cli(stack, "HSET", "visits:moving", code, "7", "__batch__", "moved-already")
    finally:
        start_again(stack, "visits")
    wait_for(lambda: redis_cli(stack, "EXISTS", "visits:moving") == "0", 15, "the batch to be cleared")
    assert visits_in_postgres(stack, code) == 0


def test_with_redis_stopped_every_request_is_answered_and_the_cache_comes_back(stack, base_url):
    code = new_link(base_url)
    url = f"{base_url}/{code}"
    with SteadyLoad(url) as load:
        started = time.monotonic()
        wait_for(lambda: load.count() >= 300, 60, "300 redirects")
        stack.compose("stop", "redis")
        try:
            stopped_at = load.count()
            wait_for(lambda: load.count() >= stopped_at + 600, 60, "600 redirects without Redis")
        finally:
            start_again(stack, "redis")
        back = time.monotonic()
        wait_for(lambda: requests.get(url, allow_redirects=False, timeout=5).headers["X-Cache"] == "hit",
                 10, "redirects answered from Redis again")
        back_after = time.monotonic() - back
        wait_for(lambda: load.count() >= stopped_at + 900, 60, "300 more redirects")
        duration = time.monotonic() - started
    served = load.outcomes[302]
    assert not load.failures()
    assert ("bypass", "memory") in load.headers, "Redis was skipped and the visits kept in memory"
    assert back_after < 5
    # Redis keeps its counts in memory only: what it held when it stopped (at most the visits of
    # one batch interval, 1 s) is lost; the visits counted in the workers meanwhile are not.
    per_second = served / duration
    wait_for(lambda: served - 2 * per_second <= visits_in_postgres(stack, code) <= served, 20,
             f"between {served - 2 * per_second:.0f} and {served} visits in PostgreSQL",
             on_timeout=lambda: f"{visits_in_postgres(stack, code)} there")


def test_with_postgresql_stopped_cached_redirects_work_and_the_rest_is_a_quick_json_503(stack, base_url):
    code = new_link(base_url)
    url = f"{base_url}/{code}"
    requests.get(url, allow_redirects=False, timeout=5)  # now in the cache
    web_started = started_at(stack.container("web"))
    stack.compose("stop", "db")
    try:
        with SteadyLoad(url) as load:
            wait_for(lambda: load.count() >= 600, 60, "600 redirects without PostgreSQL")
            asked = time.monotonic()
            stats = requests.get(f"{base_url}/api/links/{code}", timeout=5)
            took = time.monotonic() - asked
            ready = requests.get(f"{base_url}/readyz", timeout=5)
    finally:
        start_again(stack, "db")
    assert not load.failures()
    assert stats.status_code == 503
    assert stats.json()["message"] == "the database is unavailable"
    assert took < 1
    assert ready.status_code == 503
    # Everything answers again without a restart of web; no visit was lost meanwhile.
    wait_for(lambda: requests.get(f"{base_url}/readyz", timeout=5).status_code == 200, 30, "/readyz 200")
    assert requests.get(f"{base_url}/api/links/{code}", timeout=5).status_code == 200
    assert started_at(stack.container("web")) == web_started
    served = load.outcomes[302] + 1
    wait_for(lambda: visits_in_postgres(stack, code) == served, 20, f"{served} visits in PostgreSQL")


# Run inside web: for each process, the sockets it holds to PostgreSQL (5432) and Redis (6379).
SOCKETS_BY_PROCESS = r"""
import json, os
remote = {}
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    for line in open(table).read().splitlines()[1:]:
        fields = line.split()
        port = int(fields[2].rsplit(":", 1)[1], 16)
        if port in (5432, 6379):
            remote[fields[9]] = port
found = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    except OSError:
        continue
    inodes = [link[8:-1] for link in links if link.startswith("socket:[")]
    found[pid] = [[inode, remote[inode]] for inode in inodes if inode in remote]
print(json.dumps(found))
"""


def test_workers_forked_from_one_loaded_app_share_no_connection(stack, base_url):
    code = new_link(base_url)
    # Enough concurrent requests that every worker opens its connections to both stores.
    for path in (f"/api/links/{code}", f"/{code}"):
        with SteadyLoad(f"{base_url}{path}") as load:
            wait_for(lambda: load.count() >= 300, 60, f"300 requests to {path}")
        assert not load.failures(200 if path.startswith("/api") else 302)
    found = json.loads(stack.compose("exec", "-T", "web", "python", "-c", SOCKETS_BY_PROCESS).stdout)
    assert found.pop("1") == [], "the master (PID 1) holds no connection"
    holders: dict[str, list[str]] = {}
    for pid, sockets in found.items():
        for inode, _port in sockets:
            holders.setdefault(inode, []).append(pid)
    assert all(len(pids) == 1 for pids in holders.values()), holders
    with_db = [pid for pid, sockets in found.items() if any(port == 5432 for _, port in sockets)]
    with_redis = [pid for pid, sockets in found.items() if any(port == 6379 for _, port in sockets)]
    assert len(with_db) >= 2, found
    assert len(with_redis) >= 2, found

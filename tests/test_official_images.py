"""Contract tests of the official images the stages use.

Each test checks a documented behaviour of the official image that the stages rely on, from the
outside (docker run/exec/top/logs, HTTP on 127.0.0.1), so the same tests pass against the real
image and against the offline stand-in that `workbook images` builds under its reference.
"""

from __future__ import annotations

import json
import re
import tarfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

from workbook import LABEL, images
from workbook.docker import Container, docker, engine_answers, image_exists, image_labels, run, wait_until
from workbook.errors import WorkbookError
from workbook.http import fetch
from workbook.images import OFFICIAL_IMAGES, OFFLINE_LABEL, REPLACES_LABEL

pytestmark = pytest.mark.docker  # every test here runs containers

if not engine_answers():
    pytest.skip("no Docker engine answers (run 'make engine')", allow_module_level=True)

OWNER = "contract-tests"

DEBIAN = "debian:trixie-slim"
PYTHON = images.PYTHON
POSTGRES = "postgres:17"
REDIS = "redis:8"
NGINX = "nginx:stable"
REGISTRY = "registry:2"
PROMETHEUS = "prom/prometheus:v2.53.3"
DIND = "docker:26-dind"
COVERED = (DEBIAN, PYTHON, POSTGRES, REDIS, NGINX, REGISTRY, PROMETHEUS, DIND)


# --- helpers ---------------------------------------------------------------------------------

def unique(purpose: str) -> str:
    return f"{OWNER}-{purpose}-{uuid.uuid4().hex[:8]}"


@contextmanager
def started(image: str, purpose: str, **options) -> Iterator[Container]:
    """`run(image, owner=OWNER, ...)` under a unique name; the container goes with its anonymous
    volumes on exit. A `docker run` that created the container but could not start it raises
    before run() returns a Container, so that case is removed here by name."""
    if not image_exists(image):
        pytest.fail(f"{image} is not present: run 'make images'")
    name = unique(purpose)
    try:
        container = run(image, owner=OWNER, name=name, **options)
    except WorkbookError:
        docker("rm", "--force", "--volumes", name, check=False)
        raise
    with container:
        yield container


def run_to_completion(image: str, purpose: str, *, timeout: float = 60, **options) -> tuple[int, str]:
    """Run a container until it exits (`docker wait`); return its exit status and its output."""
    with started(image, purpose, **options) as container:
        status = int(docker("wait", container.id, timeout=timeout).stdout.strip())
        return status, container.logs()


@contextmanager
def labelled(kind: str, purpose: str) -> Iterator[str]:
    """A network or volume labelled as ours, removed on exit (its containers must be gone by then)."""
    name = unique(purpose)
    docker(kind, "create", "--label", f"{LABEL}={OWNER}", name)
    try:
        yield name
    finally:
        removal = docker(kind, "rm", name, check=False)
    # Reported only when nothing else failed, so that the first error stays the one shown.
    if removal.returncode != 0:
        raise WorkbookError(f"could not remove {kind} {name}", removal.stderr)


def wait_for_command(container: Container, *command: str, timeout: float = 60) -> None:
    """Wait until `command` succeeds inside the container; fail at once if the container exits."""
    def succeeds() -> bool:
        state = container.state()
        if not state["Running"]:
            pytest.fail(f"{container.name} exited with status {state['ExitCode']}:\n"
                        f"{container.logs()[-3000:]}")
        return container.exec(*command, check=False).returncode == 0

    wait_until(succeeds, timeout=timeout, interval=0.3, what=f"{' '.join(command)} in {container.name}",
               on_timeout=lambda: container.logs()[-3000:])


class Process(NamedTuple):
    pid: int
    user: str
    args: str


def processes(container: Container) -> list[Process]:
    """The container's processes (`docker top`), each with the user name the container's own
    /etc/passwd gives its uid (the host's ps knows only the host's names)."""
    names = {}
    for line in container.exec("cat", "/etc/passwd").stdout.splitlines():
        fields = line.split(":")
        if len(fields) > 2:
            names.setdefault(fields[2], fields[0])
    rows = docker("top", container.id, "-eo", "pid,uid,args").stdout.splitlines()[1:]
    return [Process(int(pid), names.get(uid, uid), args)
            for pid, uid, args in (row.split(None, 2) for row in rows)]


def main_process(container: Container) -> Process:
    """The container's PID 1, the process whose exit stops the container."""
    pid = container.state()["Pid"]
    found = [process for process in processes(container) if process.pid == pid]
    assert found, f"PID 1 of {container.name} is not running"
    return found[0]


def address(container: Container) -> str:
    """The container's own IP address on its (first) network."""
    networks = container.inspect()["NetworkSettings"]["Networks"]
    return next(iter(networks.values()))["IPAddress"]


def http_get(container: Container, port: int, path: str) -> tuple[int, dict[str, str], str]:
    """GET a published port of the container on 127.0.0.1: status, headers and body."""
    return fetch(f"http://127.0.0.1:{container.host_port(port)}{path}", timeout=5)


def stdout_logs(container: Container) -> str:
    return docker("logs", container.id).stdout


# --- every image -----------------------------------------------------------------------------

def test_every_official_image_has_contract_tests():
    """This file covers exactly the images of workbook.images.OFFICIAL_IMAGES."""
    assert sorted(COVERED) == sorted(image.ref for image in OFFICIAL_IMAGES)


@pytest.mark.parametrize("ref", COVERED)
def test_stand_in_names_the_image_it_replaces(ref):
    """A stand-in (label workbook.offline=true) says which official image it replaces."""
    if not image_exists(ref):
        pytest.fail(f"{ref} is not present: run 'make images'")
    labels = image_labels(ref)
    if labels.get(OFFLINE_LABEL) != "true":
        pytest.skip(f"{ref} is the real official image")
    assert labels.get(REPLACES_LABEL) == ref


# --- debian:trixie-slim ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def debian() -> Iterator[Container]:
    with started(DEBIAN, "debian", command=["sleep", "infinity"]) as container:
        yield container


def test_debian_is_trixie(debian):
    """/etc/os-release names Debian trixie."""
    release = dict(line.split("=", 1) for line in debian.exec("cat", "/etc/os-release").stdout.splitlines()
                   if "=" in line)
    assert release["ID"] == "debian"
    assert release["VERSION_CODENAME"] == "trixie"


def test_debian_apt_get_installs_packages(debian):
    """apt-get update and apt-get install work inside the image (its sources and keys are set up)."""
    docker("exec", "--env", "DEBIAN_FRONTEND=noninteractive", debian.id, "sh", "-c",
           "apt-get update -qq && apt-get install -y -qq --no-install-recommends hello", timeout=300)
    assert debian.exec("hello").stdout.strip() == "Hello, world!"


# --- python:3.13-slim ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def python() -> Iterator[Container]:
    with started(PYTHON, "python", command=["sleep", "infinity"]) as container:
        yield container


def test_python_and_pip_are_python_3_13_on_path(python):
    """`python` and `pip` are on PATH, both Python 3.13."""
    assert python.exec("python", "--version").stdout.startswith("Python 3.13.")
    assert "(python 3.13)" in python.exec("pip", "--version").stdout


def test_python_image_has_bin_sh_and_utf8_lang(python):
    """/bin/sh is present (shell-form RUN and CMD need it) and LANG is C.UTF-8."""
    assert python.exec("/bin/sh", "-c", 'printf %s "$LANG"').stdout == "C.UTF-8"


def test_pip_installs_system_wide_as_root_over_trusted_https(python):
    """As root, `pip install` from PyPI (over HTTPS it trusts) installs system-wide, with no
    --break-system-packages: another user's Python imports the package."""
    assert python.exec("id", "-u").stdout.strip() == "0"
    docker("exec", python.id, "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
           "six==1.16.0", timeout=180)
    imported = docker("exec", "--user", "65534", python.id, "python", "-c",
                      "import six; print(six.__version__)")
    assert imported.stdout.strip() == "1.16.0"


def test_python_is_where_the_official_image_has_it(python):
    """/usr/local/bin/python and python3: Dockerfiles, shebangs and tutorials name them."""
    for name in ("python", "python3"):
        assert python.exec(f"/usr/local/bin/{name}", "--version").stdout.startswith("Python 3.13.")


def test_the_c_headers_are_there_for_building_an_sdist(python):
    """Python.h where sysconfig says (a package without a wheel compiles against it; the compiler
    itself the Dockerfile installs, as on the official slim image)."""
    found = python.exec("python", "-c", "import pathlib, sysconfig; "
                        "print(pathlib.Path(sysconfig.get_paths()['include'], 'Python.h').is_file())")
    assert found.stdout.strip() == "True"


def test_python_makes_a_venv_with_pip(python):
    python.exec("python", "-m", "venv", "/tmp/venv")
    assert "(python 3.13)" in python.exec("/tmp/venv/bin/pip", "--version").stdout


def test_adduser_is_absent_as_on_the_official_trixie_image(python):
    """The trixie-based official image dropped `adduser` (useradd remains): tutorials that call
    adduser fail on both, which the troubleshooting page says."""
    assert python.exec("sh", "-c", "command -v adduser || echo absent").stdout.strip() == "absent"
    assert python.exec("sh", "-c", "command -v useradd").stdout.strip()


def test_pip_upgrades_itself(python):
    """`RUN pip install --upgrade pip`, in many a tutorial's Dockerfile, works (last: it changes
    the container's pip)."""
    docker("exec", python.id, "pip", "install", "--no-cache-dir", "--disable-pip-version-check",
           "--upgrade", "pip", timeout=180)
    assert "(python 3.13)" in python.exec("pip", "--version").stdout


# --- postgres:17 -----------------------------------------------------------------------------

PG_SECRETS = {"user": "contract", "password": "contract-secret", "db": "contractdb"}
CUSTOM_PGDATA = "/var/lib/postgresql/data/pgdata"  # the example of the image's documentation
INIT_SQL = "CREATE TABLE from_sql (note text);\nINSERT INTO from_sql VALUES ('ran the .sql');\n"
# An executable .sh is run, a non-executable one is sourced.
INIT_SCRIPTS = {
    "01-schema.sql": INIT_SQL,
    "02-run.sh": """#!/bin/bash
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<-EOSQL
	CREATE TABLE from_sh AS SELECT 'ran the executable .sh'::text AS note;
EOSQL
""",
    "03-sourced.sh": """psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \\
    -c "INSERT INTO from_sh VALUES ('sourced the other .sh')"
""",
}


def psql(container: Container, sql: str, *, user: str, password: str, db: str, check: bool = True):
    """Run `sql` with psql over TCP to the container's own address, where the image asks for a
    password (connections from the loopback inside the container are trusted)."""
    url = f"postgresql://{user}:{password}@{address(container)}:5432/{db}"
    return container.exec("psql", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-tA", "-c", sql, url, check=check)


def wait_for_postgres(container: Container, user: str) -> None:
    wait_for_command(container, "pg_isready", "-h", "127.0.0.1", "-U", user)


@pytest.fixture(scope="module")
def pg_files(tmp_path_factory) -> Path:
    """Secrets files and /docker-entrypoint-initdb.d scripts, readable by the postgres user."""
    root = tmp_path_factory.mktemp("postgres")
    for folder in ("secrets", "initdb"):
        (root / folder).mkdir()
        (root / folder).chmod(0o755)
    for key, value in PG_SECRETS.items():
        (root / "secrets" / f"pg-{key}").write_text(value + "\n")
    for name, text in INIT_SCRIPTS.items():
        (root / "initdb" / name).write_text(text)
    for path in root.rglob("*"):
        path.chmod(0o755 if path.is_dir() or path.name == "02-run.sh" else 0o644)
    return root


@pytest.fixture(scope="module")
def postgres(pg_files) -> Iterator[Container]:
    """User, password and database from *_FILE secrets, a custom PGDATA, and init scripts."""
    env = {f"POSTGRES_{key.upper()}_FILE": f"/run/secrets/pg-{key}" for key in PG_SECRETS}
    env["PGDATA"] = CUSTOM_PGDATA
    volumes = {str(pg_files / "secrets"): "/run/secrets:ro",
               str(pg_files / "initdb"): "/docker-entrypoint-initdb.d:ro"}
    with started(POSTGRES, "postgres", env=env, volumes=volumes) as container:
        wait_for_postgres(container, PG_SECRETS["user"])
        yield container


def test_postgres_file_variants_set_user_password_and_db(postgres):
    """POSTGRES_USER_FILE, POSTGRES_PASSWORD_FILE and POSTGRES_DB_FILE create that role and database."""
    out = psql(postgres, "SELECT current_user || ' ' || current_database()", **PG_SECRETS).stdout
    assert out.strip() == "contract contractdb"


def test_postgres_initialises_the_pgdata_it_is_given(postgres):
    """PGDATA is honoured: the empty directory there is initialised and the server uses it."""
    out = psql(postgres, "SHOW data_directory", **PG_SECRETS).stdout
    assert out.strip() == CUSTOM_PGDATA
    assert postgres.exec("test", "-s", f"{CUSTOM_PGDATA}/PG_VERSION", check=False).returncode == 0


def test_postgres_runs_sql_and_sh_init_scripts(postgres):
    """On first start the *.sql files of /docker-entrypoint-initdb.d run against POSTGRES_DB, the
    executable *.sh files are run and the others sourced, in name order."""
    out = psql(postgres, "SELECT note FROM from_sql UNION ALL SELECT note FROM from_sh",
               **PG_SECRETS).stdout
    assert sorted(out.splitlines()) == ["ran the .sql", "ran the executable .sh", "sourced the other .sh"]


def test_pg_isready_on_loopback_reports_accepting_connections(postgres):
    """`pg_isready -h 127.0.0.1` (the usual healthcheck) reports the server as ready."""
    result = postgres.exec("pg_isready", "-h", "127.0.0.1", "-U", PG_SECRETS["user"])
    assert "accepting connections" in result.stdout


def test_postgres_server_runs_as_postgres_user(postgres):
    """The server (PID 1) and its workers run as postgres, not root."""
    assert main_process(postgres).user == "postgres"
    assert {process.user for process in processes(postgres)} == {"postgres"}


def test_postgres_requires_the_password_over_tcp(postgres):
    """A TCP connection with a wrong password is rejected (scram-sha-256 for all hosts)."""
    result = psql(postgres, "SELECT 1", **{**PG_SECRETS, "password": "wrong"}, check=False)
    assert result.returncode != 0
    assert "password authentication failed" in result.stderr


def test_postgres_refuses_to_start_without_a_password():
    """Without POSTGRES_PASSWORD the container exits non-zero and says why."""
    status, output = run_to_completion(POSTGRES, "pg-nopassword")
    assert status != 0
    assert "POSTGRES_PASSWORD" in output


class Restarted(NamedTuple):
    stop_status: int
    first_logs: str
    second: Container


PG_PLAIN = {"user": "appuser", "password": "app-secret", "db": "appdb"}


@pytest.fixture(scope="module")
def postgres_restarted() -> Iterator[Restarted]:
    """A container initialised on a named volume with plain POSTGRES_* variables, a row written,
    stopped with `docker stop` and removed; then a new container on the same volume."""
    env = {f"POSTGRES_{key.upper()}": value for key, value in PG_PLAIN.items()}
    with labelled("volume", "pgdata") as volume:
        options = {"env": env, "volumes": {volume: "/var/lib/postgresql/data"}}
        with started(POSTGRES, "pg-first", **options) as first:
            wait_for_postgres(first, PG_PLAIN["user"])
            psql(first, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('kept')", **PG_PLAIN)
            first.stop(timeout=30)
            stop_status, first_logs = first.state()["ExitCode"], first.logs()
        with started(POSTGRES, "pg-second", **options) as second:
            wait_for_postgres(second, PG_PLAIN["user"])
            yield Restarted(stop_status, first_logs, second)


def test_postgres_plain_variables_set_user_password_and_db(postgres_restarted):
    """POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB create that role and database."""
    out = psql(postgres_restarted.second, "SELECT current_user || ' ' || current_database()",
               **PG_PLAIN).stdout
    assert out.strip() == "appuser appdb"


def test_postgres_shuts_down_cleanly_on_docker_stop(postgres_restarted):
    """`docker stop` ends the server cleanly: exit status 0, 'database system is shut down'."""
    assert postgres_restarted.stop_status == 0, postgres_restarted.first_logs[-3000:]
    assert "database system is shut down" in postgres_restarted.first_logs


def test_postgres_data_survives_in_a_named_volume(postgres_restarted):
    """A new container on the same named volume skips initialisation and has the data."""
    second = postgres_restarted.second
    assert "Skipping initialization" in second.logs()
    assert psql(second, "SELECT note FROM kept", **PG_PLAIN).stdout.strip() == "kept"


# --- redis:8 ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def redis_network() -> Iterator[str]:
    with labelled("network", "redis") as network:
        yield network


@pytest.fixture(scope="module")
def redis(redis_network) -> Iterator[Container]:
    with started(REDIS, "redis", extra=["--network", redis_network, "--network-alias", "cache"]) as container:
        wait_for_command(container, "redis-cli", "ping")
        yield container


def test_redis_server_is_version_8():
    """`docker run redis:8 redis-server --version` reports Redis 8.x."""
    status, output = run_to_completion(REDIS, "redis-version", command=["redis-server", "--version"])
    assert status == 0, output
    assert re.search(r"\bv=8\.\d+\.\d+", output), output


def test_redis_cli_ping_answers_pong(redis):
    """redis-cli in the container gets PONG from the server."""
    assert redis.exec("redis-cli", "ping").stdout.strip() == "PONG"


def test_redis_is_reachable_from_another_container(redis, redis_network):
    """With protected mode off, a container on the same user network gets PONG (no password)."""
    setting = redis.exec("redis-cli", "config", "get", "protected-mode").stdout.split()
    assert setting == ["protected-mode", "no"]
    status, output = run_to_completion(REDIS, "redis-client", command=["redis-cli", "-h", "cache", "ping"],
                                       extra=["--network", redis_network])
    assert (status, output.strip()) == (0, "PONG")


def test_redis_server_runs_as_redis_user(redis):
    """The server drops root and runs as the redis user."""
    assert main_process(redis).user == "redis"
    assert "root" not in {process.user for process in processes(redis)}


def test_redis_reads_a_config_file_given_first(tmp_path):
    """`redis-server /usr/local/etc/redis/redis.conf` (the documented way) uses that file."""
    config = tmp_path / "redis.conf"
    config.write_text("maxmemory 12mb\n")
    config.chmod(0o644)
    with started(REDIS, "redis-config", command=["redis-server", "/usr/local/etc/redis/redis.conf"],
                 volumes={str(config): "/usr/local/etc/redis/redis.conf:ro"}) as container:
        wait_for_command(container, "redis-cli", "ping")
        out = container.exec("redis-cli", "config", "get", "maxmemory").stdout.split()
        assert out == ["maxmemory", str(12 * 1024 * 1024)]


# --- nginx:stable ----------------------------------------------------------------------------

NGINX_CONF = """server {
    listen 8080;
    location = /contract {
        default_type text/plain;
        return 200 "included from conf.d\\n";
    }
}
"""


@pytest.fixture(scope="module")
def nginx(tmp_path_factory) -> Iterator[Container]:
    """nginx with one extra server of ours in /etc/nginx/conf.d/."""
    config = tmp_path_factory.mktemp("nginx") / "contract.conf"
    config.write_text(NGINX_CONF)
    config.chmod(0o644)
    with started(NGINX, "nginx", ports=[80, 8080],
                 volumes={str(config): "/etc/nginx/conf.d/contract.conf:ro"}) as container:
        container.wait_http("/", port=80)
        yield container


def test_nginx_serves_the_default_page_on_port_80(nginx):
    """Port 80 serves the default welcome page."""
    status, _, body = http_get(nginx, 80, "/")
    assert status == 200
    assert "Welcome to nginx!" in body


def test_nginx_includes_conf_d(nginx):
    """A *.conf mounted in /etc/nginx/conf.d/ is part of the configuration."""
    assert nginx.wait_http("/contract", port=8080) == "included from conf.d\n"


def test_nginx_access_log_goes_to_stdout(nginx):
    """Each request is logged to the container's stdout, so `docker logs` shows it."""
    path = f"/access-log-probe-{uuid.uuid4().hex}"
    nginx.wait_http(path, port=80, status=404)
    wait_until(lambda: f'"GET {path} HTTP/1.1" 404' in stdout_logs(nginx), timeout=10,
               what="the request in the access log on stdout", on_timeout=lambda: nginx.logs()[-3000:])


def test_nginx_runs_in_the_foreground(nginx):
    """The nginx master is PID 1 (daemon off), so the container stays up with it."""
    assert nginx.state()["Running"]
    assert "nginx: master process" in main_process(nginx).args


def test_nginx_workers_do_not_run_as_root(nginx):
    """The worker processes run as the nginx user, not root."""
    workers = [process for process in processes(nginx) if "nginx: worker process" in process.args]
    assert workers
    assert {worker.user for worker in workers} == {"nginx"}


def test_nginx_stops_gracefully():
    """`docker stop` makes nginx shut down gracefully and exit with status 0."""
    with started(NGINX, "nginx-stop", ports=[80]) as container:
        container.wait_http("/", port=80)
        container.stop(timeout=20)
        assert container.state()["ExitCode"] == 0, container.logs()[-3000:]
        assert "gracefully shutting down" in container.logs()


# --- registry:2 ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def registry() -> Iterator[Container]:
    with started(REGISTRY, "registry", ports=[5000]) as container:
        container.wait_http("/v2/", port=5000)
        yield container


def catalog(registry: Container) -> list[str]:
    status, _, body = http_get(registry, 5000, "/v2/_catalog")
    assert status == 200, body
    return json.loads(body)["repositories"]


def test_registry_answers_the_v2_api(registry):
    """GET /v2/ answers 200 with the registry/2.0 API version header."""
    status, headers, _ = http_get(registry, 5000, "/v2/")
    assert status == 200
    assert headers.get("Docker-Distribution-Api-Version") == "registry/2.0"


def test_registry_catalog_lists_repositories(registry):
    """GET /v2/_catalog answers with the list of repositories."""
    assert isinstance(catalog(registry), list)


def test_image_pushed_from_the_host_appears_in_the_catalog(registry, tmp_path):
    """`docker push 127.0.0.1:PORT/name` from the host works (127.0.0.1 is an allowed insecure
    registry) and the repository then appears in the catalog with its tag."""
    (tmp_path / "probe.txt").write_text("contract test\n")
    with tarfile.open(tmp_path / "probe.tar", "w") as tar:
        tar.add(tmp_path / "probe.txt", arcname="probe.txt")
    repository = f"{OWNER}/probe-{uuid.uuid4().hex[:8]}"
    ref = f"127.0.0.1:{registry.host_port(5000)}/{repository}:1"
    docker("import", str(tmp_path / "probe.tar"), ref)
    try:
        docker("push", ref, timeout=120)
    finally:
        docker("image", "rm", ref, check=False)
    assert repository in catalog(registry)
    status, _, body = http_get(registry, 5000, f"/v2/{repository}/tags/list")
    assert (status, json.loads(body)["tags"]) == (200, ["1"])


# --- prom/prometheus -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def prometheus() -> Iterator[Container]:
    with started(PROMETHEUS, "prometheus", ports=[9090]) as container:
        container.wait_http("/-/ready", port=9090)
        yield container


def test_prometheus_is_ready_on_9090(prometheus):
    """/-/ready on port 9090 answers 200 once the server is ready."""
    status, _, body = http_get(prometheus, 9090, "/-/ready")
    assert status == 200
    assert "Ready" in body


def test_prometheus_runs_as_non_root(prometheus):
    """The server runs as an unprivileged user (nobody), not root."""
    assert main_process(prometheus).user != "root"


def test_prometheus_default_config_scrapes_itself(prometheus):
    """With the default configuration Prometheus scrapes itself: `up` becomes 1 (the first scrape
    comes within one 15 s scrape interval)."""
    def up() -> list[str]:
        status, _, body = http_get(prometheus, 9090, "/api/v1/query?query=up")
        results = json.loads(body)["data"]["result"] if status == 200 else []
        return [r["value"][1] for r in results if r["metric"].get("job") == "prometheus"]

    wait_until(lambda: up() == ["1"], timeout=45, what="Prometheus to scrape itself (up == 1)",
               on_timeout=lambda: f"up: {up()}\n{prometheus.logs()[-3000:]}")


# --- docker:26-dind --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dind() -> Iterator[Container]:
    """An engine in a container, as stage 05's cluster.yaml runs its nodes: privileged, with
    dockerd flags as the command."""
    with started(DIND, "dind", extra=["--privileged"],
                 command=["--insecure-registry=registry.invalid:5000"]) as container:
        wait_for_command(container, "docker", "info", "--format", "{{.ID}}")
        yield container


def test_dind_engine_answers_inside_the_container(dind):
    """`docker exec NODE docker ...` reaches the container's own engine, version 26."""
    version = dind.exec("docker", "version", "--format", "{{.Server.Version}}").stdout
    assert version.startswith("26."), version


def test_dind_passes_flags_to_dockerd(dind):
    """A command of only flags is given to dockerd (here: an insecure registry)."""
    registries = dind.exec("docker", "info", "--format", "{{json .RegistryConfig.IndexConfigs}}").stdout
    assert "registry.invalid:5000" in json.loads(registries)


def test_dind_keeps_its_data_in_a_volume():
    """/var/lib/docker is a volume: images and Swarm state outlive the container's file system."""
    volumes = json.loads(docker("image", "inspect", "--format", "{{json .Config.Volumes}}", DIND).stdout)
    assert "/var/lib/docker" in volumes


def test_dind_has_the_compose_plugin(dind):
    """`docker compose` works on the node (stage 05's entry point is a compose project there)."""
    assert dind.exec("docker", "compose", "version").stdout.startswith("Docker Compose version")


def test_dind_runs_a_swarm(dind):
    """The engine can be a Swarm manager (and leaves it again)."""
    dind.exec("docker", "swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        assert dind.exec("docker", "info", "--format", "{{.Swarm.ControlAvailable}}").stdout.strip() == "true"
    finally:
        dind.exec("docker", "swarm", "leave", "--force", check=False)

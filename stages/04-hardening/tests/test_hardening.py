"""Stage 04's hardening, each property checked against the running stack: non-root, read-only,
no capabilities, secrets out of the image, nginx in front, Redis as a cache, JSON logs, metrics,
and the CIS Docker Benchmark checks of sections 4 and 5 that apply (numbered as in its v1.2.0),
one assertion each."""

import json
import re
import subprocess
from urllib.parse import quote

import pytest
import requests
import testinfra
from conftest import PROJECT, secret, wait_for

pytestmark = pytest.mark.docker

SERVICES = ["nginx", "web", "visits", "db", "redis"]
OUR_IMAGES = ["nginx", "web", "visits"]  # built by this stage; db and redis use official images as they are


def inspect(container: str) -> dict:
    out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


@pytest.fixture(scope="module")
def containers(stack) -> dict[str, dict]:
    stack.wait_until_answering()
    return {service: inspect(stack.container(service)) for service in SERVICES}


def web_get(stack, path: str) -> str:
    """GET from inside the web container (for what nginx does not expose, such as /metrics)."""
    code = f"import urllib.request; print(urllib.request.urlopen('{path}', timeout=5).read().decode())"
    return stack.compose("exec", "-T", "web", "python", "-c", code).stdout


def metric(stack, name: str, **labels) -> float:
    """The sum of a metric's samples (over all workers) that carry the given labels."""
    total = 0.0
    for line in web_get(stack, "http://127.0.0.1:8000/metrics").splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            if all(f'{key}="{value}"' in line for key, value in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
    return total


def new_link(base_url: str, url: str = "https://example.org/hardened") -> str:
    return requests.post(f"{base_url}/api/links", json={"url": url}, timeout=5).json()["code"]


# --- CIS Docker Benchmark, section 4 (images) -----------------------------------------------

@pytest.mark.parametrize("service", SERVICES)
def test_cis_4_1_a_user_other_than_root(containers, service):
    assert containers[service]["Config"]["User"] not in ("", "root", "0", "0:0")


@pytest.mark.parametrize("service", SERVICES)
def test_cis_4_6_a_healthcheck(containers, service):
    assert containers[service]["Config"]["Healthcheck"]["Test"][0] in ("CMD", "CMD-SHELL")


@pytest.mark.parametrize("service", OUR_IMAGES)
def test_every_image_we_build_checks_its_own_health(containers, service):
    """The HEALTHCHECK is in the image itself, not only in compose.yaml: `docker run` of the
    image alone is health-checked, and so is every orchestrator's container of it."""
    image = inspect(containers[service]["Image"])
    assert image["Config"]["Healthcheck"]["Test"][0] == "CMD"


@pytest.mark.parametrize("service", OUR_IMAGES)
def test_cis_4_8_no_setuid_or_setgid_files(containers, service):
    # The whole image, read as root in a throwaway container (the stack's own has no capability
    # to read every directory).
    result = subprocess.run(["docker", "run", "--rm", "--label", f"workbook.owner={PROJECT}", "--user", "0",
                             "--entrypoint", "find", containers[service]["Config"]["Image"],
                             "/", "-xdev", "-perm", "/6000", "-type", "f"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "nginx/Dockerfile"])
def test_cis_4_9_copy_not_add(build_context, dockerfile):
    assert not re.search(r"^\s*ADD\s", (build_context / dockerfile).read_text(), re.MULTILINE)


def test_cis_4_10_no_secrets_in_image_history(stack, build_context, containers):
    history = subprocess.run(["docker", "history", "--no-trunc", containers["web"]["Config"]["Image"]],
                             capture_output=True, text=True, check=True).stdout
    for name in ("db_password", "secret_key"):
        assert secret(build_context, name) not in history


# --- CIS Docker Benchmark, section 5 (container runtime) ------------------------------------

@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_3_all_capabilities_dropped(containers, service):
    assert containers[service]["HostConfig"]["CapDrop"] == ["ALL"]
    assert not containers[service]["HostConfig"]["CapAdd"]


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_4_not_privileged(containers, service):
    assert containers[service]["HostConfig"]["Privileged"] is False


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_10_memory_limited(containers, service):
    assert containers[service]["HostConfig"]["Memory"] > 0


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_11_cpu_limited(containers, service):
    assert containers[service]["HostConfig"]["NanoCpus"] > 0


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_12_read_only_root_filesystem(containers, service):
    assert containers[service]["HostConfig"]["ReadonlyRootfs"] is True


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_13_ports_bound_to_one_interface(containers, service):
    for bindings in (containers[service]["HostConfig"]["PortBindings"] or {}).values():
        assert [binding["HostIp"] for binding in bindings] == ["127.0.0.1"]


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_14_restart_policy_on_failure_5(containers, service):
    policy = containers[service]["HostConfig"]["RestartPolicy"]
    assert policy == {"Name": "on-failure", "MaximumRetryCount": 5}


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_25_no_new_privileges(containers, service):
    assert "no-new-privileges:true" in containers[service]["HostConfig"]["SecurityOpt"]


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_28_pids_limited(containers, service):
    assert (containers[service]["HostConfig"]["PidsLimit"] or 0) > 0


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_31_docker_socket_not_mounted(containers, service):
    assert not any("docker.sock" in mount["Source"] for mount in containers[service]["Mounts"])


@pytest.mark.parametrize("service", SERVICES)
def test_logs_rotate(containers, service):
    assert containers[service]["HostConfig"]["LogConfig"] == {
        "Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}


def test_database_and_cache_are_on_an_internal_network(stack, containers):
    backend = subprocess.run(["docker", "network", "inspect", f"{PROJECT}_backend"],
                             capture_output=True, text=True, check=True).stdout
    assert json.loads(backend)[0]["Internal"] is True
    for service in ("db", "redis"):
        assert list(containers[service]["NetworkSettings"]["Networks"]) == [f"{PROJECT}_backend"]


# --- non-root, read-only, no capabilities ---------------------------------------------------

@pytest.fixture
def web_host(stack, base_url):
    return testinfra.get_host(f"docker://{stack.container('web')}")


def test_the_app_runs_as_its_own_unprivileged_user(web_host, containers):
    assert web_host.run("id -u").stdout.strip() == "10001"
    assert containers["web"]["Config"]["User"] == "10001:10001"
    assert web_host.file("/proc/1/status").content_string.count("10001") >= 2  # Uid and Gid lines


def test_the_image_has_no_compiler_and_no_package_cache(containers):
    # Looked at as root in a throwaway container: the app user could not even see /root.
    script = ("command -v gcc cc make; ls -d /root/.cache/pip 2>/dev/null; "
              "find /var/lib/apt/lists /var/cache/apt -name '*Packages*' -o -name '*.deb' 2>/dev/null")
    result = subprocess.run(["docker", "run", "--rm", "--label", f"workbook.owner={PROJECT}", "--user", "0",
                             "--entrypoint", "sh", containers["web"]["Config"]["Image"], "-c", script],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == ""


def test_code_is_not_writable_by_the_app_user(web_host):
    assert web_host.file("/app/wsgi.py").user == "root"
    assert web_host.run("test -w /app/wsgi.py").rc != 0


def test_writing_outside_tmpfs_fails(web_host):
    result = web_host.run("touch /app/intruder /etc/intruder /opt/venv/intruder")
    assert result.rc != 0
    assert "Read-only file system" in result.stderr
    assert web_host.run("touch /tmp/allowed").rc == 0


@pytest.mark.parametrize("service", SERVICES)
def test_effective_capabilities_are_empty(stack, service, base_url):
    status = stack.compose("exec", "-T", service, "cat", "/proc/1/status").stdout
    assert re.search(r"^CapEff:\s+0+$", status, re.MULTILINE), service


# --- secrets --------------------------------------------------------------------------------

def test_secrets_are_not_in_the_configuration_or_environment(stack, build_context, containers):
    for name in ("db_password", "secret_key"):
        value = secret(build_context, name)
        for service in SERVICES:
            assert value not in json.dumps(containers[service]["Config"]), (name, service)
        # The app's process environment too. (The postgres image's entrypoint, official and
        # stand-in alike, exports what it read from POSTGRES_PASSWORD_FILE to its own server
        # process; that stays inside the db container and out of `docker inspect`.)
        environ = stack.compose("exec", "-T", "web", "cat", "/proc/1/environ").stdout
        assert value not in environ, name


def test_the_app_refuses_a_default_secret(containers):
    image = containers["web"]["Config"]["Image"]
    result = subprocess.run(["docker", "run", "--rm", "--label", f"workbook.owner={PROJECT}",
                             "--env", "DATABASE_URL=sqlite:////tmp/x.db", "--env", "SECRET_KEY=changeme",
                             image], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "SECRET_KEY is a default value" in result.stderr + result.stdout


# --- nginx in front -------------------------------------------------------------------------

def test_static_files_come_from_nginx_with_cache_headers(stack, base_url):
    response = requests.get(f"{base_url}/static/app.js", headers={"Accept-Encoding": "gzip"}, timeout=5)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "max-age=604800, public"  # expires 7d + public
    assert "Expires" in response.headers
    assert response.headers["Content-Encoding"] == "gzip"
    raw = requests.get(f"{base_url}/static/style.css", timeout=5, stream=True)
    assert raw.status_code == 200
    web_logs = stack.compose("logs", "web").stdout
    assert "/static/" not in web_logs, "gunicorn never saw a static file request"


def test_nginx_hides_its_version_and_the_metrics(base_url):
    response = requests.get(f"{base_url}/metrics", timeout=5)
    assert response.status_code == 404
    assert response.headers["Server"] == "nginx"


def test_an_upload_over_the_limit_gets_413_from_nginx(base_url):
    response = requests.post(f"{base_url}/api/links", data="x" * (20 * 1024),
                             headers={"Content-Type": "application/json"}, timeout=5)
    assert response.status_code == 413
    assert "nginx" in response.text  # nginx's own error page: the request never reached gunicorn


def test_forwarded_proto_https_gives_an_https_location(base_url):
    response = requests.post(f"{base_url}/api/links", json={"url": "https://example.org/tls"},
                             headers={"X-Forwarded-Proto": "https"}, timeout=5)
    assert response.status_code == 201
    assert response.headers["Location"].startswith("https://")
    assert response.json()["short_url"].startswith("https://")


def test_one_request_id_in_nginx_and_app_logs(stack, base_url):
    response = requests.get(f"{base_url}/healthz", timeout=5)
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)

    def app_entry():
        for line in stack.compose("logs", "--no-log-prefix", "web").stdout.splitlines():
            # Compose may put a terminal control sequence before a line: start at the JSON.
            if request_id in line and "{" in line:
                return json.loads(line[line.index("{"):])
        return None

    entry = wait_for(app_entry, 10, "the app's JSON log line")
    assert entry["method"] == "GET"
    assert entry["path"] == "/healthz"
    assert entry["status"] == 200
    assert entry["duration_ms"] >= 0
    assert f"rid={request_id}" in stack.compose("logs", "nginx").stdout


# --- Redis as a cache -----------------------------------------------------------------------

def test_the_second_redirect_is_answered_from_redis(stack, base_url):
    code = new_link(base_url)
    hits = metric(stack, "cache_lookups_total", result="hit")
    assert requests.get(f"{base_url}/{code}", allow_redirects=False, timeout=5).status_code == 302
    assert metric(stack, "cache_lookups_total", result="hit") == hits  # first: a miss
    assert requests.get(f"{base_url}/{code}", allow_redirects=False, timeout=5).status_code == 302
    assert metric(stack, "cache_lookups_total", result="hit") == hits + 1
    cached = stack.compose("exec", "-T", "redis", "redis-cli", "GET", f"link:{code}").stdout.strip()
    assert cached == "https://example.org/hardened"


def test_deleting_a_link_invalidates_its_cache_entry(stack, base_url):
    code = new_link(base_url)
    requests.get(f"{base_url}/{code}", allow_redirects=False, timeout=5)  # now cached
    assert requests.delete(f"{base_url}/api/links/{code}", timeout=5).status_code == 204
    assert requests.get(f"{base_url}/{code}", allow_redirects=False, timeout=5).status_code == 404


# --- metrics --------------------------------------------------------------------------------

def test_metrics_count_requests_over_all_workers(stack, base_url):
    before = metric(stack, "http_requests_total", endpoint="/healthz")
    for _ in range(40):
        requests.get(f"{base_url}/healthz", timeout=5)
    assert metric(stack, "http_requests_total", endpoint="/healthz") == before + 40
    files = stack.compose("exec", "-T", "web", "ls", "/tmp/metrics").stdout.split()
    pids = {re.search(r"_(\d+)\.db$", name).group(1) for name in files if name.startswith("counter_")}
    assert len(pids) >= 2, "several workers wrote metrics, and /metrics added them up"


@pytest.fixture(scope="module")
def prometheus(stack, containers):
    stack.compose("--profile", "monitoring", "up", "--detach", "--wait", "prometheus")
    yield
    stack.compose("--profile", "monitoring", "rm", "--stop", "--force", "prometheus", check=False)


def prometheus_api(stack, path: str) -> dict:
    return json.loads(web_get(stack, f"http://prometheus:9090{path}"))


def test_prometheus_scrapes_the_app(stack, prometheus):
    def target_up():
        targets = prometheus_api(stack, "/api/v1/targets")["data"]["activeTargets"]
        return targets and all(target["health"] == "up" for target in targets)

    wait_for(target_up, 60, "Prometheus to scrape web:8000")


def test_every_dashboard_query_returns_data(stack, prometheus, build_context, base_url):
    dashboard = json.loads((build_context / "monitoring/grafana/dashboards/links.json").read_text())
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert queries
    code = new_link(base_url)
    for query in queries:
        def answered(query=query):
            for _ in range(3):  # some traffic for the rates to see
                requests.get(f"{base_url}/{code}", allow_redirects=False, timeout=5)
            result = prometheus_api(stack, f"/api/v1/query?query={quote(query)}")
            return result["status"] == "success" and result["data"]["result"]

        wait_for(answered, 60, f"data for {query}")

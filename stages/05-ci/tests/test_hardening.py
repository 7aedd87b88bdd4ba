"""Stage 04's hardening, each property checked against the running stack: non-root, read-only,
no capabilities, secrets out of the image, nginx in front, Redis as a cache, JSON logs, metrics,
and the CIS Docker Benchmark checks of sections 4 and 5 that apply (numbered as in its v1.6.0),
one assertion each; ../cis-docker-benchmark.toml lists every check of the two sections."""

import json
import re
import subprocess
import tomllib
from collections import Counter
from pathlib import Path
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
# Every check of sections 4 and 5 is listed, with its title, in ../cis-docker-benchmark.toml:
# the test that proves it here, or why it does not apply, or the host setting it depends on.

DOCKERFILES = ["Dockerfile", "nginx/Dockerfile"]


def instructions(dockerfile_text: str) -> list[str]:
    """A Dockerfile's instructions, each on one line (continuations joined, comments dropped)."""
    lines = [line for line in dockerfile_text.splitlines() if not line.lstrip().startswith("#")]
    return [line.strip() for line in re.sub(r"\\\n", " ", "\n".join(lines)).splitlines() if line.strip()]


@pytest.mark.parametrize("service", SERVICES)
def test_cis_4_1_a_user_other_than_root(containers, service):
    assert containers[service]["Config"]["User"] not in ("", "root", "0", "0:0")


def test_cis_4_2_base_images_are_docker_official_images(build_context, containers):
    """Trusted base images, read as Docker Official Images (no namespace, no other registry):
    the FROM of each image this stage builds, and the images db and redis run as they are."""
    stages, images = set(), []
    for dockerfile in DOCKERFILES:
        for line in instructions((build_context / dockerfile).read_text()):
            if match := re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line, re.IGNORECASE):
                if match.group(1).lower() not in stages:
                    images.append(match.group(1))
                stages.add((match.group(2) or "").lower())
    images += [containers[service]["Config"]["Image"] for service in ("db", "redis")]
    assert images
    for image in images:
        assert "/" not in image, image


@pytest.mark.parametrize("service", SERVICES)
def test_cis_4_6_a_healthcheck(containers, service):
    assert containers[service]["Config"]["Healthcheck"]["Test"][0] in ("CMD", "CMD-SHELL")


@pytest.mark.parametrize("service", OUR_IMAGES)
def test_every_image_we_build_checks_its_own_health(containers, service):
    """The HEALTHCHECK is in the image itself, not only in compose.yaml: `docker run` of the
    image alone is health-checked, and so is every orchestrator's container of it."""
    image = inspect(containers[service]["Image"])
    assert image["Config"]["Healthcheck"]["Test"][0] == "CMD"


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_cis_4_7_no_update_instruction_alone(build_context, dockerfile):
    for line in instructions((build_context / dockerfile).read_text()):
        if re.search(r"\bapt(-get)?\s+update\b", line):
            assert re.search(r"\bapt(-get)?\s+install\b", line), line


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


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_cis_4_9_copy_not_add(build_context, dockerfile):
    assert not re.search(r"^\s*ADD\s", (build_context / dockerfile).read_text(), re.MULTILINE)


def test_cis_4_10_no_secrets_in_image_history(stack, build_context, containers):
    history = subprocess.run(["docker", "history", "--no-trunc", containers["web"]["Config"]["Image"]],
                             capture_output=True, text=True, check=True).stdout
    for name in ("db_password", "secret_key"):
        assert secret(build_context, name) not in history


def test_cis_4_11_only_verified_packages(build_context):
    """pip installs only what matches a pinned hash; apt only from its signed repositories."""
    requirements = (build_context / "requirements.txt").read_text()
    pins = re.findall(r"^[A-Za-z0-9][^\s=]*==\S+", requirements, re.MULTILINE)
    assert pins
    assert requirements.count("--hash=sha256:") >= len(pins)
    for dockerfile in DOCKERFILES:
        for line in instructions((build_context / dockerfile).read_text()):
            if re.search(r"\bpip\s+install\b", line):
                assert "--require-hashes" in line, line
            assert not re.search(r"allow-unauthenticated|trusted=yes|AllowInsecureRepositories", line), line


# --- CIS Docker Benchmark, section 5 (container runtime) ------------------------------------

@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_4_all_capabilities_dropped(containers, service):
    assert containers[service]["HostConfig"]["CapDrop"] == ["ALL"]
    assert not containers[service]["HostConfig"]["CapAdd"]


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_5_not_privileged(containers, service):
    assert containers[service]["HostConfig"]["Privileged"] is False


SENSITIVE_HOST_DIRECTORIES = ["/boot", "/dev", "/etc", "/lib", "/proc", "/sys", "/usr"]


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_6_no_sensitive_host_directory_mounted(containers, service):
    for mount in containers[service]["Mounts"]:
        source = mount["Source"]
        assert source != "/", mount
        assert not any(source == d or source.startswith(d + "/") for d in SENSITIVE_HOST_DIRECTORIES), mount


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_7_no_sshd_running(stack, service, base_url):
    # Every process's name, read inside the container (/proc, no ps needed).
    names = stack.compose("exec", "-T", service, "sh", "-c", "cat /proc/[0-9]*/comm 2>/dev/null; true").stdout
    assert names.split(), service
    assert "sshd" not in names.split(), service


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_8_no_privileged_host_port(containers, service):
    for bindings in (containers[service]["NetworkSettings"]["Ports"] or {}).values():
        for binding in bindings or []:
            assert int(binding["HostPort"]) >= 1024, binding


def test_cis_5_9_only_nginx_port_published(containers):
    published = {service: sorted(containers[service]["HostConfig"]["PortBindings"] or {})
                 for service in SERVICES if containers[service]["HostConfig"]["PortBindings"]}
    assert published == {"nginx": ["8080/tcp"]}
    assert not any(containers[service]["HostConfig"]["PublishAllPorts"] for service in SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_10_host_network_namespace_not_shared(containers, service):
    assert containers[service]["HostConfig"]["NetworkMode"] != "host"


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_11_memory_limited(containers, service):
    assert containers[service]["HostConfig"]["Memory"] > 0


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_12_cpu_limited(containers, service):
    assert containers[service]["HostConfig"]["NanoCpus"] > 0


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_13_read_only_root_filesystem(containers, service):
    assert containers[service]["HostConfig"]["ReadonlyRootfs"] is True


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_14_ports_bound_to_one_interface(containers, service):
    for bindings in (containers[service]["HostConfig"]["PortBindings"] or {}).values():
        assert [binding["HostIp"] for binding in bindings] == ["127.0.0.1"]


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_15_restart_policy_on_failure_5(containers, service):
    policy = containers[service]["HostConfig"]["RestartPolicy"]
    assert policy == {"Name": "on-failure", "MaximumRetryCount": 5}


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_16_host_pid_namespace_not_shared(containers, service):
    assert containers[service]["HostConfig"]["PidMode"] != "host"


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_17_host_ipc_namespace_not_shared(containers, service):
    assert containers[service]["HostConfig"]["IpcMode"] != "host"


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_18_no_host_device(containers, service):
    assert not containers[service]["HostConfig"]["Devices"]


def test_cis_5_19_no_ulimit_overridden(build_context):
    # Processes are bounded by the PIDs limit (5.29); the daemon's default ulimits stay as they are.
    assert not re.search(r"^\s*ulimits:", (build_context / "compose.yaml").read_text(), re.MULTILINE)


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_20_no_shared_mount_propagation(containers, service):
    for mount in containers[service]["Mounts"]:
        assert mount.get("Propagation", "") not in ("shared", "rshared"), mount


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_21_host_uts_namespace_not_shared(containers, service):
    assert containers[service]["HostConfig"]["UTSMode"] != "host"


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_22_default_seccomp_profile_not_disabled(containers, service):
    options = containers[service]["HostConfig"]["SecurityOpt"] or []
    assert not any(option.startswith("seccomp") and "unconfined" in option for option in options)


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_25_default_cgroup_parent(containers, service):
    assert not containers[service]["HostConfig"]["CgroupParent"]


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_26_no_new_privileges(containers, service):
    assert "no-new-privileges:true" in containers[service]["HostConfig"]["SecurityOpt"]


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_27_health_checked_at_runtime(containers, service):
    assert containers[service]["State"]["Health"]["Status"] in ("starting", "healthy", "unhealthy")


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_29_pids_limited(containers, service):
    assert (containers[service]["HostConfig"]["PidsLimit"] or 0) > 0


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_30_default_bridge_not_used(containers, service):
    assert containers[service]["HostConfig"]["NetworkMode"] not in ("default", "bridge")
    assert "bridge" not in containers[service]["NetworkSettings"]["Networks"]


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_31_host_user_namespace_not_shared(containers, service):
    assert containers[service]["HostConfig"]["UsernsMode"] != "host"


@pytest.mark.parametrize("service", SERVICES)
def test_cis_5_32_docker_socket_not_mounted(containers, service):
    assert not any("docker.sock" in mount["Source"] for mount in containers[service]["Mounts"])


# --- the CIS table: every check of sections 4 and 5, each with its test or its reason ------

CIS_TABLE = Path(__file__).resolve().parent.parent / "cis-docker-benchmark.toml"
CIS_CHECKS = {"4": 12, "5": 32}  # v1.6.0: 4.1 to 4.12 and 5.1 to 5.32
CIS_KINDS = ("test", "not_applicable", "not_tested", "host")


def test_the_cis_toml_lists_every_check_once_and_names_every_cis_test():
    """No Docker needed: the table of the docs page is generated from this file."""
    checks = tomllib.loads(CIS_TABLE.read_text())["check"]
    ids = [check["id"] for check in checks]
    assert ids == [f"{section}.{n}" for section, count in CIS_CHECKS.items() for n in range(1, count + 1)]
    named = Counter()
    for check in checks:
        assert check["title"].strip(), check["id"]
        kinds = [kind for kind in CIS_KINDS if kind in check]
        assert len(kinds) == 1, (check["id"], kinds)
        assert check[kinds[0]].strip(), check["id"]
        assert set(check) <= {"id", "title", "note", *CIS_KINDS}, check["id"]
        if "test" in check:
            assert check["test"].startswith(f"test_cis_{check['id'].replace('.', '_')}_"), check["id"]
            assert callable(globals().get(check["test"])), check["test"]
            named[check["test"]] += 1
    module_tests = {name for name, value in globals().items()
                    if name.startswith("test_cis_") and callable(value)}
    assert set(named) == module_tests
    assert all(count == 1 for count in named.values()), named


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


def test_cis_4_3_no_compiler_and_no_package_cache(containers):
    # Looked at as root in a throwaway container: the app user could not even see /root.
    # Everything found is printed; the last line says the script ran to its end (an empty output
    # alone would also be what a container that never started prints).
    script = ("command -v gcc cc make; ls -d /root/.cache/pip 2>/dev/null; "
              "find /var/lib/apt/lists /var/cache/apt -name '*Packages*' -o -name '*.deb' 2>/dev/null; "
              "echo checked")
    result = subprocess.run(["docker", "run", "--rm", "--label", f"workbook.owner={PROJECT}", "--user", "0",
                             "--entrypoint", "sh", containers["web"]["Config"]["Image"], "-c", script],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout.split()) == (0, ["checked"]), result.stdout + result.stderr


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
    # nginx's own answer, JSON like the app's (test_bad_input.py shows that gunicorn never sees it).
    assert response.json()["error"] == "Request Entity Too Large"


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
    # A link's stats, which nothing else asks for meanwhile (the health checks ask /healthz).
    code = new_link(base_url)
    endpoint = {"method": "GET", "endpoint": "/api/links/<code>"}
    before = metric(stack, "http_requests_total", **endpoint)
    for _ in range(40):
        requests.get(f"{base_url}/api/links/{code}", timeout=5)
    assert metric(stack, "http_requests_total", **endpoint) == before + 40
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

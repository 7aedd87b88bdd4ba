"""Stage 05's lesson, run for real: `./pipeline.sh` builds the images once, runs the unit tests in
the image, pushes to a registry on 127.0.0.1 and deploys to a one-node Docker Swarm; then a new
release rolls out under steady load without losing a request, and a broken one rolls back by
itself. The tests run in order, against one deployment (module scope)."""

import json
import os
import re
import subprocess
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from conftest import SteadyLoad, commit_tag, create_link, docker, wait_for
from packaging.markers import Marker

pytestmark = pytest.mark.docker

# Our own stack name: a stack the reader deployed by hand is never touched.
STACK = "wbtest-05-swarm"


def swarm_state() -> str:
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}")


class Pipeline:
    """The stage's pipeline.sh, run in the test copy of the stage."""

    def __init__(self, directory, tag: str):
        self.directory = directory
        self.tag = tag
        self.tags = {tag}

    def run(self, *steps: str, check: bool = True, **settings: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "STACK": STACK, "TAG": self.tag, "REGISTRY_PORT": "", "HTTP_PORT": "",
               # Two workers per replica: the same behaviour, less start-up time on 2 cores.
               "GUNICORN_WORKERS": "2", **settings}
        self.tags.add(env["TAG"])
        result = subprocess.run(["./pipeline.sh", *steps], cwd=self.directory, env=env,
                                capture_output=True, text=True, timeout=300)
        if check and result.returncode != 0:
            pytest.fail(f"pipeline.sh {' '.join(steps)} failed:\n{result.stdout}{result.stderr[-3000:]}")
        return result

    @property
    def registry(self) -> str:
        return docker("port", f"{STACK}-registry", "5000/tcp").splitlines()[0]

    @property
    def entry_url(self) -> str:
        edge = docker("ps", "--quiet", "--filter", f"label=com.docker.compose.project={STACK}-edge")
        return "http://" + docker("port", edge, "8080/tcp").splitlines()[0]

    def service(self, name: str = "web") -> dict:
        return json.loads(docker("service", "inspect", f"{STACK}_{name}"))[0]

    def web_containers(self) -> list[str]:
        return self.containers("web")

    def containers(self, service: str) -> list[str]:
        """The running containers of one of the stack's services."""
        return docker("ps", "--quiet", "--filter",
                      f"label=com.docker.swarm.service.name={STACK}_{service}").split()

    def remove_images(self) -> None:
        for tag in self.tags:
            for name in ("links-web", "links-nginx", "links-test"):
                subprocess.run(["docker", "image", "rm", "--force", f"{name}:{tag}"], capture_output=True)
        for image in docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split():
            if image.split("/")[0].startswith("127.0.0.1:") and image.split(":")[-1] in self.tags:
                subprocess.run(["docker", "image", "rm", "--force", image], capture_output=True)


@pytest.fixture(scope="module")
def swarm_before() -> str:
    return swarm_state()


@pytest.fixture(scope="module")
def pipeline(build_context, swarm_before):
    pipeline = Pipeline(build_context, commit_tag())
    try:
        pipeline.output = pipeline.run("all")
        yield pipeline
    finally:
        pipeline.run("down", check=False)
        pipeline.remove_images()


@pytest.fixture(scope="module")
def short_link(pipeline) -> str:
    return f"{pipeline.entry_url}/{create_link(pipeline.entry_url)}"


def test_the_unit_tests_ran_inside_the_built_image(pipeline):
    assert "==> test: the unit tests inside the image" in pipeline.output.stderr
    summary = re.search(r"^=+ (.*) in [0-9.]+s =+$", pipeline.output.stdout, re.MULTILINE)
    assert summary, pipeline.output.stdout[-2000:]
    assert re.fullmatch(r"\d+ passed", summary[1]), summary[0]


# The image: CPython 3.13 on Linux (the environment markers of requirements.txt are decided so).
IMAGE_ENVIRONMENT = {"sys_platform": "linux", "platform_system": "Linux", "implementation_name": "cpython",
                     "platform_python_implementation": "CPython", "python_version": "3.13",
                     "python_full_version": "3.13.0", "os_name": "posix"}


def pinned(requirements: Path) -> dict[str, str]:
    """name -> version of each `name==version ; marker` line whose marker holds in the image
    (names normalised as PEP 503 does)."""
    found = {}
    for line in requirements.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;\\]+)\s*(?:;([^\\]*))?", line)
        if match and (not match[3] or Marker(match[3].strip()).evaluate(IMAGE_ENVIRONMENT)):
            found[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return found


def test_the_sbom_lists_the_images_python_packages_at_their_pinned_versions(pipeline, build_context):
    sbom = build_context / ".pipeline" / "sbom" / f"links-web-{pipeline.tag}.cdx.json"
    document = json.loads(sbom.read_text())
    assert document["bomFormat"] == "CycloneDX"
    listed = {re.sub(r"[-_.]+", "-", c["name"]).lower(): c["version"] for c in document["components"]}
    # Every pin of requirements.txt (markers aside: all apply on Linux), at that very version.
    for name, version in pinned(build_context / "requirements.txt").items():
        assert listed.get(name) == version, f"{name}: SBOM has {listed.get(name)}, pinned {version}"
    # The SBOM tool itself is not in the image's environment.
    assert "cyclonedx-bom" not in listed


def test_the_image_is_in_the_registry_under_the_commit_tag(pipeline):
    registry = f"http://{pipeline.registry}/v2"
    catalog = requests.get(f"{registry}/_catalog", timeout=5).json()["repositories"]
    assert {"links-web", "links-nginx"} <= set(catalog)
    for name in ("links-web", "links-nginx"):
        assert pipeline.tag in requests.get(f"{registry}/{name}/tags/list", timeout=5).json()["tags"]
    # Swarm runs exactly that image, pulled from the registry and pinned to its digest.
    image = pipeline.service()["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert image.startswith(f"{pipeline.registry}/links-web:{pipeline.tag}@sha256:"), image


def test_the_stack_converges_to_two_healthy_replicas(pipeline):
    assert pipeline.service()["Spec"]["Mode"]["Replicated"]["Replicas"] == 2
    containers = wait_for(lambda: len(pipeline.web_containers()) == 2 and pipeline.web_containers(),
                          60, "two running web replicas")
    for container in containers:
        assert docker("inspect", "--format", "{{.State.Health.Status}}", container) == "healthy"
    response = requests.get(f"{pipeline.entry_url}/readyz", timeout=5)
    assert response.status_code == 200
    assert response.headers["X-App-Version"] == pipeline.tag
    # DNS round-robin: requests through nginx reach both replicas (each answers with its hostname
    # in gunicorn's access log; here: two distinct container ids serve within 40 requests).
    served = set()
    for _ in range(40):
        requests.get(f"{pipeline.entry_url}/healthz", timeout=5)
    for container in containers:
        if "/healthz" in subprocess.run(["docker", "logs", "--tail", "200", container],
                                        capture_output=True, text=True).stdout:
            served.add(container)
    assert served == set(containers)


def test_secrets_are_swarm_secrets_and_not_in_the_environment(pipeline, build_context):
    names = docker("secret", "ls", "--format", "{{.Name}}").split()
    assert {f"{STACK}_db_password", f"{STACK}_secret_key"} <= set(names)
    password = (build_context / "secrets" / "db_password.txt").read_text().strip()
    for container in pipeline.web_containers():
        assert password not in docker("inspect", container)
        assert docker("exec", container, "cat", "/run/secrets/db_password").strip() == password


def test_a_new_release_rolls_out_under_load_without_losing_a_request(pipeline, short_link):
    with SteadyLoad(short_link) as load:
        wait_for(lambda: len(load.results) >= 20, 30, "the load to start")
        pipeline.run("build", "push", "deploy", TAG=f"{pipeline.tag}-v2", APP_VERSION="v2")
        wait_for(lambda: load.versions()[-20:] == ["v2"] * 20, 30, "the new release to answer")
    assert pipeline.service()["UpdateStatus"]["State"] == "completed"
    assert load.failures == Counter(), f"lost requests: {load.failures} of {len(load.results)}"
    versions = load.versions()
    assert versions[0] == pipeline.tag
    assert versions[-1] == "v2"


def test_a_broken_release_is_rolled_back_while_the_service_keeps_answering(pipeline, short_link):
    # A release whose health check fails: the v2 image with a check that always fails.
    registry, good = pipeline.registry, f"{pipeline.tag}-v2"
    broken = f"{pipeline.tag}-broken"
    dockerfile = f'FROM {registry}/links-web:{good}\nHEALTHCHECK --interval=1s --retries=2 CMD ["false"]\n'
    subprocess.run(["docker", "build", "--quiet", "--tag", f"{registry}/links-web:{broken}", "-"],
                   input=dockerfile, check=True, capture_output=True, text=True)
    docker("push", "--quiet", f"{registry}/links-web:{broken}")
    docker("tag", f"{registry}/links-nginx:{good}", f"{registry}/links-nginx:{broken}")
    with SteadyLoad(short_link) as load:
        wait_for(lambda: len(load.results) >= 20, 30, "the load to start")
        result = pipeline.run("deploy", check=False, TAG=broken)
    # The pipeline goes red, Swarm is back on v2, and no request was lost meanwhile.
    assert result.returncode != 0
    assert "rolled it back" in result.stderr, result.stderr[-2000:]
    service = pipeline.service()
    assert service["UpdateStatus"]["State"] == "rollback_completed"
    assert f"links-web:{good}@" in service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert load.failures == Counter(), f"lost requests: {load.failures} of {len(load.results)}"
    assert set(load.versions()) == {"v2"}


# How long the database stays away: Swarm's health checks (every 10 s, 3 retries) would have
# stopped every web task within it if they asked the database, as they once did.
OUTAGE_SECONDS = 30


@contextmanager
def database_stopped(pipeline):
    """PostgreSQL scaled to 0 until the block ends, and back even if an assertion in it fails
    (else every later test would find the stack without its database)."""
    docker("service", "scale", "--detach", f"{STACK}_db=0")
    try:
        # Swarm takes the task out of the service's DNS before it stops the container: until the
        # container is gone, pooled connections still reach PostgreSQL and may answer 200.
        wait_for(lambda: not pipeline.containers("db"), 60, "PostgreSQL's container to stop")
        yield
    finally:
        docker("service", "scale", "--detach", f"{STACK}_db=1")


def test_a_database_outage_under_load_stops_no_web_task(pipeline, short_link):
    stats_url = short_link.replace(f"{pipeline.entry_url}/", f"{pipeline.entry_url}/api/links/")
    tasks_before = sorted(pipeline.web_containers())
    # The link was followed before, so it is in Redis: its redirect needs no database.
    with SteadyLoad(short_link) as redirects, \
            SteadyLoad(f"{pipeline.entry_url}/healthz", per_second=10, expected=200) as liveness:
        wait_for(lambda: len(redirects.results) >= 20, 30, "the load to start")
        gone = time.monotonic()
        with database_stopped(pipeline):
            for _ in range(5):  # several requests: every worker of every replica answers alike
                stats = requests.get(stats_url, timeout=5)
                assert stats.status_code == 503
                assert stats.json() == {"error": "Service Unavailable",
                                        "message": "the database is unavailable"}
            assert requests.get(f"{pipeline.entry_url}/readyz", timeout=5).status_code == 503
            # The outage's length is what this test is about: the load runs on meanwhile.
            time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - gone)))
            assert sorted(pipeline.web_containers()) == tasks_before, "no web task was stopped"
        # Back without a redeploy: the API answers again once PostgreSQL does.
        wait_for(lambda: requests.get(stats_url, timeout=5).status_code == 200, 120,
                 "the API to answer 200 again")
    assert redirects.failures == Counter(), f"failed redirects: {redirects.failures}"
    assert liveness.failures == Counter(), f"failed /healthz: {liveness.failures}"
    assert sorted(pipeline.web_containers()) == tasks_before
    tasks = docker("service", "ps", "--format", "{{.ID}}", f"{STACK}_web").split()
    assert len(tasks) == len(set(tasks))


def test_web_tasks_that_exit_cleanly_are_replaced(pipeline, short_link):
    """SIGTERM: gunicorn shuts down gracefully and exits 0, as it does when Swarm stops a task
    whose health check failed. With `restart_policy: on-failure` that left 0 replicas for good;
    with `any` Swarm starts new tasks."""
    killed = pipeline.web_containers()
    assert len(killed) == 2
    for container in killed:
        docker("kill", "--signal", "TERM", container)
    for container in killed:
        wait_for(lambda c=container: docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}",
                                            c) == "exited 0", 30, f"{container} to exit 0")
    def new_healthy_tasks() -> list[str] | None:
        now = pipeline.web_containers()
        health = [docker("inspect", "--format", "{{.State.Health.Status}}", c) for c in now]
        healthy = [c for c, state in zip(now, health, strict=True) if state == "healthy"]
        return now if len(healthy) == 2 and not set(now) & set(killed) else None

    assert len(wait_for(new_healthy_tasks, 120, "two new healthy web tasks")) == 2
    wait_for(lambda: requests.get(short_link, allow_redirects=False, timeout=5).status_code == 302, 30,
             "the entry point to answer through the new tasks")


def test_down_removes_the_deployment_and_leaves_swarm_as_found(pipeline, swarm_before):
    pipeline.run("down")
    assert swarm_state() == swarm_before
    for kind in ("container", "network", "volume"):
        listed = docker(kind, "ls", *(["--all"] if kind == "container" else []), "--format", "{{.Names}}"
                        if kind == "container" else "{{.Name}}")
        assert STACK not in listed, f"{kind}s left: {listed}"

"""Stage 05 on a three-node Swarm (cluster.yaml, ./cluster.sh): the same stack file, and what a
cluster adds. Under steady load through the entry point on 127.0.0.1: a node running a web
replica crashes and no GET fails; a release rolls out across the three nodes without a failed
request; with a manager lost the cluster still takes a deploy, and the node rejoins; every link
acknowledged with a 201 meanwhile is readable after. The tests run in order, against one cluster
(module scope); each prints what it measured."""

import json
import os
import subprocess
import time
from collections import Counter

import pytest
import requests
from conftest import SteadyLoad, commit_tag, create_link, docker, wait_for

pytestmark = pytest.mark.docker

# Our own names: a stack or cluster the reader runs by hand is never touched.
STACK = "wbtest-05-cluster"
# The entry point (edge.yaml's nginx) runs on node1: the tests crash the other nodes.
ENTRY_NODE = "node1"


class Cluster:
    """pipeline.sh and cluster.sh, run in the test copy of the stage."""

    def __init__(self, directory, tag: str):
        self.directory, self.tag = directory, tag
        self.tags = {tag}

    def run(self, script: str, *steps: str, check: bool = True, **settings: str) -> str:
        env = {**os.environ, "STACK": STACK, "TAG": self.tag,
               "REGISTRY_PORT": "", "HTTP_PORT": "", "GUNICORN_WORKERS": "2", **settings}
        self.tags.add(env["TAG"])
        result = subprocess.run([f"./{script}", *steps], cwd=self.directory, env=env,
                                capture_output=True, text=True, timeout=600)
        if check and result.returncode != 0:
            pytest.fail(f"{script} {' '.join(steps)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        return result.stderr

    def node(self, name: str) -> str:
        """The container of a node (running or not)."""
        return docker("ps", "--all", "--quiet",
                      "--filter", f"label=com.docker.compose.project={STACK}-cluster",
                      "--filter", f"label=com.docker.compose.service={name}")

    def on(self, node: str, *args: str) -> str:
        """A docker command on a node, as if logged in to that machine."""
        return docker("exec", self.node(node), "docker", *args)

    @property
    def entry_url(self) -> str:
        return "http://" + docker("port", self.node(ENTRY_NODE), "8080/tcp").splitlines()[0]

    def nodes(self) -> dict[str, tuple[str, str]]:
        """hostname -> (status, manager status), as the entry node's manager sees them."""
        rows = self.on(ENTRY_NODE, "node", "ls", "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}")
        return {name: (status, manager)
                for name, status, manager in (row.split() for row in rows.splitlines())}

    def running(self, service: str = "web") -> list[tuple[str, str]]:
        """(node, image) of each task of a service that runs now."""
        rows = self.on(ENTRY_NODE, "service", "ps", "--filter", "desired-state=running",
                       "--format", "{{.Node}} {{.Image}} {{.CurrentState}}", f"{STACK}_{service}")
        return [(node, image) for node, image, state, *_ in (row.split() for row in rows.splitlines())
                if state == "Running"]

    def service(self, name: str = "web") -> dict:
        return json.loads(self.on(ENTRY_NODE, "service", "inspect", f"{STACK}_{name}"))[0]

    def remove_images(self) -> None:
        for image in docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split():
            name, _, tag = image.rpartition(":")
            if tag in self.tags and name.rsplit("/", 1)[-1] in ("links-web", "links-nginx"):
                subprocess.run(["docker", "image", "rm", "--force", image], capture_output=True)


class LinkWriter(SteadyLoad):
    """New links through the entry point at a steady pace; keeps the code of every 201."""

    def __init__(self, url: str, per_second: int = 5):
        super().__init__(f"{url}/api/links", per_second=per_second, expected=201)
        self.created: list[str] = []

    def send(self, session):
        response = session.post(self.url, json={"url": "https://example.org/cluster"}, timeout=5)
        if response.status_code == 201:
            self.created.append(response.json()["code"])
        return response


# Every link acknowledged during the tests, read back by the last one.
ACKNOWLEDGED: list[str] = []


@pytest.fixture(scope="module")
def cluster(build_context):
    cluster = Cluster(build_context, commit_tag())
    try:
        cluster.run("pipeline.sh", "registry", "build", "push")
        started = time.monotonic()
        cluster.run("cluster.sh", "up", "deploy")
        print(f"\ncluster up and deployed in {time.monotonic() - started:.1f} s")
        yield cluster
    finally:
        cluster.run("cluster.sh", "down", check=False)
        cluster.run("pipeline.sh", "down", check=False)
        cluster.remove_images()


@pytest.fixture(scope="module")
def short_link(cluster) -> str:
    code = create_link(cluster.entry_url)
    ACKNOWLEDGED.append(code)
    return f"{cluster.entry_url}/{code}"


def crash(cluster, node: str) -> None:
    """The machine loses power: its engine and every container on it die at once."""
    docker("kill", cluster.node(node))
    wait_for(lambda: cluster.nodes()[node][0] == "Down", 60, f"the managers to see {node} down")


def test_three_managers_and_the_replicas_spread(cluster):
    assert cluster.nodes() == {"node1": ("Ready", "Leader"), "node2": ("Ready", "Reachable"),
                               "node3": ("Ready", "Reachable")}
    web = wait_for(lambda: len(cluster.running()) == 3 and cluster.running(), 60, "three web replicas")
    assert sorted(node for node, _ in web) == ["node1", "node2", "node3"]
    # PostgreSQL on the labelled node, where its volume is.
    assert [node for node, _ in cluster.running("db")] == ["node1"]
    # Pulled by digest from the registry, as the nodes name it.
    assert all(image.startswith("registry:5000/links-web@sha256:") for _, image in web)


def test_a_node_lost_under_load_fails_no_request(cluster, short_link):
    victim = next(node for node, _ in cluster.running() if node != ENTRY_NODE)
    with SteadyLoad(short_link) as load, LinkWriter(cluster.entry_url) as writes:
        wait_for(lambda: len(load.results) >= 20, 30, "the load to start")
        lost = time.monotonic()
        crash(cluster, victim)
        seen_down = time.monotonic() - lost
        wait_for(lambda: len([n for n, _ in cluster.running() if n != victim]) == 3, 120,
                 "three web replicas on the two nodes left")
        full_strength = time.monotonic() - lost
        served = len(load.results)
        wait_for(lambda: len(load.results) >= served + 40, 30, "requests served by the new replica too")
    ACKNOWLEDGED.extend(writes.created)
    # The next test finds the node still down.
    cluster.lost = victim
    print(f"\n{victim} crashed: seen down after {seen_down:.1f} s, three replicas again after "
          f"{full_strength:.1f} s; {len(load.results)} GETs, failures {dict(load.failures)}; "
          f"{len(writes.created)} links created, failed writes {dict(writes.failures)}")
    assert load.failures == Counter(), f"failed GETs: {load.failures} of {len(load.results)}"


def test_with_a_manager_lost_the_cluster_takes_a_deploy_and_the_node_rejoins(cluster, short_link):
    # Every node is a manager: the lost one too. Two of three are a majority, so the cluster
    # still changes: a deploy that asks for a fourth replica is accepted and carried out.
    assert cluster.nodes()[cluster.lost][1] == "Unreachable"
    with SteadyLoad(short_link) as load, LinkWriter(cluster.entry_url) as writes:
        wait_for(lambda: len(load.results) >= 20, 30, "the load to start")
        cluster.run("cluster.sh", "deploy", REPLICAS="4")
        assert cluster.service()["Spec"]["Mode"]["Replicated"]["Replicas"] == 4
        four = wait_for(lambda: len(cluster.running()) == 4 and cluster.running(), 60, "four web replicas")
        on_nodes = Counter(node for node, _ in four)
        # Power back: the node's engine starts from its volume and rejoins by itself.
        started = time.monotonic()
        docker("start", cluster.node(cluster.lost))
        wait_for(lambda: cluster.nodes()[cluster.lost] == ("Ready", "Reachable"), 120,
                 f"{cluster.lost} to rejoin")
        rejoined = time.monotonic() - started
    ACKNOWLEDGED.extend(writes.created)
    print(f"\nwith {cluster.lost} lost a deploy went through (web replicas per node: {dict(on_nodes)}); "
          f"{cluster.lost} rejoined {rejoined:.1f} s after its restart; "
          f"failed GETs {dict(load.failures)}, failed writes {dict(writes.failures)}")
    assert cluster.lost not in on_nodes
    assert load.failures == Counter(), f"failed GETs: {load.failures} of {len(load.results)}"
    assert cluster.nodes() == {"node1": ("Ready", "Leader"), "node2": ("Ready", "Reachable"),
                               "node3": ("Ready", "Reachable")}


def test_a_release_rolls_out_across_the_nodes_without_a_failed_request(cluster, short_link):
    new = f"{cluster.tag}-v2"
    cluster.run("pipeline.sh", "build", "push", TAG=new, APP_VERSION="v2")
    with SteadyLoad(short_link) as load, LinkWriter(cluster.entry_url) as writes:
        wait_for(lambda: len(load.results) >= 20, 30, "the load to start")
        started = time.monotonic()
        cluster.run("cluster.sh", "deploy", TAG=new)
        rollout = time.monotonic() - started
        wait_for(lambda: load.versions()[-20:] == ["v2"] * 20, 30, "the new release to answer")
    ACKNOWLEDGED.extend(writes.created)
    running = cluster.running()
    print(f"\nrolled out in {rollout:.1f} s, replicas per node now "
          f"{dict(Counter(node for node, _ in running))}; {len(load.results)} GETs, "
          f"failures {dict(load.failures)}; failed writes {dict(writes.failures)}")
    assert load.failures == Counter(), f"failed GETs: {load.failures} of {len(load.results)}"
    assert writes.failures == Counter(), f"failed writes: {writes.failures}"
    assert cluster.service()["UpdateStatus"]["State"] == "completed"
    # The new version everywhere: three replicas (the deploy's default again), all of it.
    wanted = cluster.service()["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert wanted.startswith("registry:5000/links-web@sha256:")
    assert [image for _, image in running] == [wanted] * 3


def test_every_acknowledged_link_is_readable(cluster):
    assert len(ACKNOWLEDGED) > 100
    with requests.Session() as session:
        unreadable = [code for code in ACKNOWLEDGED
                      if session.get(f"{cluster.entry_url}/api/links/{code}", timeout=5).status_code != 200]
    assert unreadable == []


def test_down_removes_every_node_volume_and_network(cluster):
    cluster.run("cluster.sh", "down")
    for kind in ("container", "network", "volume"):
        listed = docker(kind, "ls", *(["--all"] if kind == "container" else []),
                        "--format", "{{.Names}}" if kind == "container" else "{{.Name}}")
        assert f"{STACK}-cluster" not in listed, f"{kind}s left: {listed}"

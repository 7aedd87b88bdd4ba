"""Stage 05 on one node and on three (full run only), side by side in one run: the same release
rolled out under load on each, interleaved, and on the three nodes a node crashed under load."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from ..docker import wait_until
from ..runs import ClusterRun, PipelineRun
from .config import summary
from .rollout import short_link, update_under_load
from .wrk import FAILURES, failed_requests, wrk

REPLICAS = "3"  # on both sides: the cluster's one per node, and as many on the single node


def _kinds(figures: dict) -> dict[str, int]:
    """wrk's failed requests by kind (timeouts, read errors, 5xx answers, ...)."""
    return {kind: figures[kind] for kind in FAILURES if figures[kind]}


def _rollout(run: PipelineRun, deploy, url: str, release: str, config: dict) -> dict:
    """One release rolled out by `deploy()` while wrk loads `url`: Swarm's update time and the
    requests that failed."""
    def build_and_deploy() -> None:
        run.pipeline("build", "push", TAG=release, APP_VERSION=release)
        deploy(release)

    took, figures = update_under_load(run, build_and_deploy, url, config["cluster_load_seconds"], config,
                                      "cluster_load_seconds")
    return {"release": release, "update_seconds": took, "requests": figures["requests"],
            "errors": failed_requests(figures), "failures": _kinds(figures)}


def _node_lost(cluster: ClusterRun, url: str, config: dict) -> dict:
    """A node running a web replica (not node1, the entry point) crashes while wrk loads `url`:
    when the managers see it down, when three replicas run again on the others, the requests
    that failed; then it is powered on and rejoins."""
    seconds = config["cluster_load_seconds"]
    victim = next(node for node in cluster.running() if node != cluster.ENTRY_NODE)
    with ThreadPoolExecutor(max_workers=1) as pool:
        load = pool.submit(wrk, url, seconds, config["connections"], config["threads"])
        time.sleep(5)  # the crash comes while the load runs at full pace, not as it starts
        crashed = time.monotonic()
        cluster.crash(victim)
        wait_until(lambda: cluster.nodes()[victim][0] == "Down", timeout=60, what=f"{victim} seen down")
        seen_down = time.monotonic() - crashed
        wait_until(lambda: len([n for n in cluster.running() if n != victim]) == int(REPLICAS),
                   timeout=seconds, what="the replicas back to full strength")
        full_strength = time.monotonic() - crashed
        figures = load.result()
    powered = time.monotonic()
    cluster.power_on(victim)
    wait_until(lambda: cluster.nodes()[victim] == ("Ready", "Reachable"), timeout=120,
               what=f"{victim} to rejoin")
    return {"node": victim, "seen_down_seconds": seen_down, "full_strength_seconds": full_strength,
            "rejoin_seconds": time.monotonic() - powered, "requests": figures["requests"],
            "errors": failed_requests(figures), "failures": _kinds(figures)}


def measure_cluster(config: dict, progress) -> dict:
    stage, reps = config["cluster_stage"], config["cluster_repetitions"]
    one = PipelineRun(stage, stack="wbtest-bench-one", show_commands=False)
    three = ClusterRun(stage, stack="wbtest-bench-three", show_commands=False)
    date, started = datetime.now(UTC), time.monotonic()
    rollouts = {"one": [], "three": []}
    losses = []
    try:
        progress(stage, "one node: build, push, deploy")
        one.pipeline("registry", "build", "push", "deploy", REPLICAS=REPLICAS)
        progress(stage, "three nodes: build, push, cluster up, deploy")
        three.up()
        sides = {"one": one, "three": three}
        urls = {side: short_link(run, "https://example.org/cluster") for side, run in sides.items()}
        deploys = {"one": lambda tag: one.pipeline("deploy", TAG=tag, REPLICAS=REPLICAS),
                   "three": lambda tag: three.cluster("deploy", TAG=tag, REPLICAS=REPLICAS)}
        for i in range(reps):
            for side, run in sides.items():  # interleaved
                release = f"{run.tag}-r{i + 1}"
                progress(stage, f"{side} node(s): rolling out {release} under load")
                rollouts[side].append(_rollout(run, deploys[side], urls[side], release, config))
            progress(stage, f"three nodes: a node crashed under load ({i + 1}/{reps})")
            losses.append(_node_lost(three, urls["three"], config))
    finally:
        one.down()
        three.down()
    keys = ("connections", "threads", "cluster_load_seconds", "cluster_repetitions")
    one_node = summary([r["update_seconds"] for r in rollouts["one"]])
    three_nodes = summary([r["update_seconds"] for r in rollouts["three"]])
    ratios = [t["update_seconds"] / o["update_seconds"] for o, t in zip(rollouts["one"], rollouts["three"],
                                                                       strict=True)]
    return {"stage": stage, "date": date.isoformat(timespec="seconds"), "replicas": int(REPLICAS),
            "config": {key: config[key] for key in keys}, "seconds": time.monotonic() - started,
            "rollout": {"one_node": one_node, "three_nodes": three_nodes,
                        "three_over_one": summary(ratios), "runs": rollouts},
            "node_lost": {"seen_down_seconds": summary([r["seen_down_seconds"] for r in losses]),
                          "full_strength_seconds": summary([r["full_strength_seconds"] for r in losses]),
                          "rejoin_seconds": summary([r["rejoin_seconds"] for r in losses]),
                          "errors": sum(r["errors"] for r in losses), "runs": losses}}

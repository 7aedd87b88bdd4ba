"""Stage 05's rolling update under load (full run only), as it was before the benchmark was split."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial

from ..errors import WorkbookError
from ..runs import PipelineRun
from .config import summary
from .wrk import failed_requests, wrk


def _swarm_time(timestamp: str) -> datetime:
    """A Swarm timestamp (RFC 3339 with nanoseconds) as a datetime (microseconds suffice)."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", timestamp.replace("Z", "+00:00")))


def short_link(run: PipelineRun, target: str) -> str:
    """A link to `target` created through the entry point: the URL that follows it."""
    status, body = run.post_json("/api/links", {"url": target})
    if status != 201:
        raise WorkbookError(f"{run.stage}: creating a link answered {status}", str(body))
    return f"{run.url}/{body['code']}"


def update_under_load(run: PipelineRun, deploy, url: str, seconds: float, config: dict,
                      setting: str) -> tuple[float, dict]:
    """`deploy()` rolls a release out while wrk loads `url` for `seconds`: how long Swarm's
    rolling update took (the service's own UpdateStatus, start to completion) and wrk's figures.
    An update that did not complete within the load fails the run (raise `setting`)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        load = pool.submit(wrk, url, seconds, config["connections"], config["threads"])
        deploy()
        update = run.service()["UpdateStatus"]
        figures = load.result()
    took = (_swarm_time(update["CompletedAt"]) - _swarm_time(update["StartedAt"])).total_seconds()
    if update["State"] != "completed" or took >= seconds:
        raise WorkbookError(f"{run.stage}: the update ({update['State']}, {took:.0f} s) did not "
                            f"finish within the {seconds} s of load; raise {setting}")
    return took, figures


def measure_rollout(config: dict, progress) -> dict:
    """Stage 05: new releases rolled out by its pipeline (build, push, `docker stack deploy`)
    while wrk keeps loading the entry point; for each, the requests that failed during the load
    and how long Swarm's rolling update took (from the service's own UpdateStatus)."""
    stage, seconds = config["rollout_stage"], config["rollout_load_seconds"]
    run = PipelineRun(stage, stack="wbtest-bench-rollout", show_commands=False)
    date, started, rollouts = datetime.now(UTC), time.monotonic(), []
    try:
        progress(stage, "pipeline: build, test, push, deploy")
        run.up()
        url = short_link(run, "https://example.org/rollout")
        for i in range(config["rollout_repetitions"]):
            release = f"{run.tag}-r{i + 1}"
            progress(stage, f"rolling out {release} under load ({seconds} s)")
            took, figures = update_under_load(
                run, partial(run.pipeline, "build", "push", "deploy", TAG=release, APP_VERSION=release),
                url, seconds, config, "rollout_load_seconds")
            rollouts.append({"release": release, "update_seconds": took, "requests": figures["requests"],
                             "errors": failed_requests(figures),
                             "rps": figures["requests"] / figures["seconds"]})
        replicas = run.service()["Spec"]["Mode"]["Replicated"]["Replicas"]
    finally:
        run.down()
    keys = ("connections", "threads", "rollout_load_seconds", "rollout_repetitions")
    return {"stage": stage, "date": date.isoformat(timespec="seconds"), "replicas": replicas,
            "config": {key: config[key] for key in keys}, "seconds": time.monotonic() - started,
            "update_seconds": summary([r["update_seconds"] for r in rollouts]),
            "errors": sum(r["errors"] for r in rollouts), "rollouts": rollouts}

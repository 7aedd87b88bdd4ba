"""The worker-count sweep (full run only): stage 04's redirect measured once per gunicorn worker
count, web recreated with GUNICORN_WORKERS set to each. `cores` is the web container's CPU limit
(its compose file's `cpus`, rounded up), which is what stage 04's gunicorn.conf.py counts."""

from __future__ import annotations

import ast
import json
import math
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from ..docker import docker, wait_until
from ..errors import WorkbookError
from .figures import measure_load
from .stack import Stack

# What stage 04's gunicorn.conf.py uses when GUNICORN_WORKERS is unset (a test keeps them equal),
# `cores` being the container's CPU limit.
GUNICORN_DEFAULT_WORKERS = "2*cores+1"


def worker_count(formula: int | str, cores: int) -> int:
    """A worker count of the config: a number, or a formula of `cores` such as "2*cores+1"
    (integers, `cores`, +, - and * only)."""
    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.Name) and node.id == "cores":
            return cores
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Sub | ast.Mult):
            left, right = value(node.left), value(node.right)
            return left + right if isinstance(node.op, ast.Add) else (
                left - right if isinstance(node.op, ast.Sub) else left * right)
        raise WorkbookError(f"worker count {formula!r}: only numbers, `cores`, +, - and * are allowed")

    try:
        count = value(ast.parse(str(formula), mode="eval").body)
    except SyntaxError as error:
        raise WorkbookError(f"worker count {formula!r} is not a formula") from error
    if count < 1:
        raise WorkbookError(f"worker count {formula!r} is {count} with {cores} cores: at least 1 is needed")
    return count


def cpu_limit(compose_config: dict, service: str = "web") -> float | None:
    """A service's CPU limit in `docker compose config --format json` (None: unlimited)."""
    limits = (((compose_config.get("services", {}).get(service) or {}).get("deploy") or {})
              .get("resources") or {}).get("limits") or {}
    cpus = limits.get("cpus")
    return float(cpus) if cpus not in (None, "", 0, "0") else None


def limit_cores(cpus: float | None) -> int:
    """The cores gunicorn.conf.py counts: the CPU limit rounded up, else the machine's CPUs."""
    return math.ceil(cpus) if cpus else os.cpu_count() or 1


def gunicorn_workers(run) -> int:
    """The number of gunicorn worker processes running in web: PID 1 is the master (the
    entrypoint execs gunicorn), the workers are its children."""
    rows = [(line.split(None, 2) + [""])[:3] for line in run.processes("web").splitlines()[1:]]
    return sum(1 for pid, ppid, command in rows if ppid == "1" and "gunicorn" in command)


def measure_workers(config: dict, progress) -> dict:
    """The redirect's figures for each worker count of `config["workers"]`: the stack started
    once, then web recreated with GUNICORN_WORKERS set for each count, `repetitions` runs per
    count through the stack's entry point (nginx), cached and batched as shipped."""
    stage = config["workers_stage"]
    date, started = datetime.now(UTC), time.monotonic()
    with tempfile.TemporaryDirectory(prefix="workbook-bench-") as tmp:
        stack = Stack(stage, f"wbtest-bench-{stage}", Path(tmp))
        run = stack.run
        cpus = cpu_limit(json.loads(run.compose("config", "--format", "json")))
        cores = limit_cores(cpus)
        formulas: dict[int, list[str]] = {}
        for formula in config["workers"]:  # counts that coincide (1 and `cores` on 1 core) run once
            formulas.setdefault(worker_count(formula, cores), []).append(str(formula).replace(" ", ""))
        default = worker_count(GUNICORN_DEFAULT_WORKERS, cores)
        points = []
        try:
            progress(stage, "building (worker sweep)")
            run.compose("build", timeout=900)
            run.compose("up", "--detach", "--wait")
            code = stack.create_links(1, "https://example.org/bench-workers")[0]
            for workers in sorted(formulas):
                progress(stage, f"starting with {workers} workers")
                stack.switch({"GUNICORN_WORKERS": str(workers)})
                # Workers boot one after another (and the app answers as soon as the first one
                # does): wait until all run. One that never comes (killed at the memory limit)
                # fails the run.
                wait_until(lambda count=workers: gunicorn_workers(run) == count, timeout=60, interval=0.5,
                           what=f"{stage}: {workers} gunicorn workers running",
                           on_timeout=lambda: f"{gunicorn_workers(run)} running\n{run.logs('web', 20)}")
                load = measure_load(stack, "redirect", config, code, progress=progress)
                web = load["containers"].get("web", {})
                figures = {key: load[key] for key in ("rps", "p50_ms", "p99_ms", "errors", "wrk_cpu_share")}
                points.append({"workers": workers, "formulas": formulas[workers], **figures,
                               "memory_mib": {"web": web.get("peak_mib")},
                               "throttled_share": web.get("throttled_share")})
            web_id = run.compose("ps", "--quiet", "web").strip()
            limits = docker("inspect", "--format", "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}", web_id)
            nano_cpus, memory = limits.stdout.split()
        finally:
            run.down()
    keys = ("repetitions", "warmup_seconds", "load_seconds", "connections", "threads")
    return {"stage": stage, "date": date.isoformat(timespec="seconds"), "cores": cores,
            "cores_from": ("web's CPU limit, rounded up" if cpus
                           else "the machine's CPUs (web has no CPU limit)"),
            "web_limits": {"cpus": int(nano_cpus) / 1e9 or None,
                           "memory_mib": int(memory) / 2**20 or None},
            "default": GUNICORN_DEFAULT_WORKERS, "default_workers": default,
            "config": {key: config[key] for key in keys}, "seconds": time.monotonic() - started,
            "points": points}

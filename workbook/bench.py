"""`workbook bench`: every stage measured side by side on this machine, in one run.

Figures are medians over repeated runs, with min and max. Load comes from wrk in a separate
process, sent only to 127.0.0.1. The results go to a JSON file that the docs render.
"""

from __future__ import annotations

import ast
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import tomllib
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from . import REPO_ROOT, STAGES_DIR, images, stages
from .docker import build, docker, image_layers, image_size, wait_until
from .errors import WorkbookError
from .notebook import PipelineRun, StageRun

BENCH_DIR = REPO_ROOT / "bench"
CONFIG_FILE = BENCH_DIR / "config.toml"
RESULTS_FILE = BENCH_DIR / "results.json"
REPORTER = BENCH_DIR / "report.lua"
BASE_IMAGE = "python:3.13-slim"


def load_config(mode: str) -> tuple[dict, dict]:
    config = tomllib.loads(CONFIG_FILE.read_text())
    return config[mode], config["thresholds"]


def _stage_sources() -> str:
    """The text of every stage's Dockerfile and compose file: which official images they use."""
    paths = [*STAGES_DIR.glob("*/Dockerfile"), *STAGES_DIR.glob("*/compose*.yaml")]
    return "\n".join(path.read_text() for path in paths)


def summary(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": values}


# --- one figure each ------------------------------------------------------------------------

def measure_startup(run: StageRun) -> dict:
    """Seconds from `compose up` to the first 200 on /healthz, and to healthy (if checked)."""
    run.compose("down", "--volumes", "--remove-orphans", "--timeout", "3")
    started = time.monotonic()
    run.compose("up", "--detach")
    wait_until(lambda: run.status("/healthz") == 200, timeout=120, interval=0.02,
               what=f"{run.stage} to answer")
    first_200 = time.monotonic() - started
    container = run.compose("ps", "--quiet", "web").strip()
    has_check = docker("inspect", "--format", "{{if .State.Health}}yes{{end}}", container).stdout.strip()
    healthy = None
    if has_check:
        wait_until(lambda: docker("inspect", "--format", "{{.State.Health.Status}}", container)
                   .stdout.strip() == "healthy", timeout=120, interval=0.05, what=f"{run.stage} healthy")
        healthy = time.monotonic() - started
    return {"first_200_s": first_200, "healthy_s": healthy}


def measure_image(run: StageRun) -> dict:
    """Size, layers, and size over the floor (base image + installed packages + app)."""
    size = image_size(run.image)
    # Where pip put the packages: /usr/local/lib (system-wide) or a virtual environment in /opt.
    site = run.exec("web", "python", "-c", "import os, sys; print(' '.join(p for p in sys.path "
                    "if p.startswith(('/usr/local/lib', '/opt/')) and os.path.isdir(p)))").split()
    packages = sum(int(run.exec("web", "du", "-sb", path).split()[0]) for path in site)
    app = int(run.exec("web", "du", "-sb", "/app").split()[0])
    floor = image_size(BASE_IMAGE) + packages + app
    return {"size_bytes": size, "layers": sum(1 for layer in image_layers(run.image) if layer.size),
            "floor_bytes": floor, "over_floor_bytes": size - floor}


def wrk(url: str, seconds: float, connections: int, threads: int) -> dict:
    if shutil.which("wrk") is None:
        raise WorkbookError("wrk is not installed: apt-get install wrk (make bench installs it)")
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("load is only ever sent to 127.0.0.1")
    result = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s",
                             "--timeout", "5s", "-s", str(REPORTER), url],
                            capture_output=True, text=True, timeout=seconds + 60)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("{")), None)
    if result.returncode != 0 or line is None:
        raise WorkbookError(f"wrk against {url} failed", result.stdout[-1500:] + result.stderr[-1500:])
    return json.loads(line)


def failed_requests(figures: dict) -> int:
    """wrk's failures of every kind: socket errors, timeouts, and answers that are not 2xx/3xx."""
    return sum(figures[key] for key in ("connect_errors", "read_errors", "write_errors", "timeouts",
                                        "status_errors"))


def memory_mib(containers: list[str], stop: threading.Event, peaks: dict) -> None:
    """Sample `docker stats` until `stop` is set; keep each container's peak memory in MiB."""
    units = {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "kB": 1e3 / 2**20,
             "MB": 1e6 / 2**20, "GB": 1e9 / 2**20}
    while not stop.is_set():
        out = docker("stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}", *containers,
                     check=False).stdout
        for line in out.splitlines():
            name, usage = line.split("\t")
            number, unit = re.match(r"([\d.]+)\s*([A-Za-z]+)", usage.split("/")[0].strip()).groups()
            peaks[name] = max(peaks.get(name, 0.0), float(number) * units[unit])


def measure_load(run: StageRun, config: dict, base_url: str | None = None) -> dict:
    """wrk on the hot read path (a redirect), with the memory of every container sampled.
    `base_url` sends the load elsewhere than the stack's entry point (gunicorn directly)."""
    status, link = run.post_json("/api/links", {"url": "https://example.org/bench"})
    if status != 201:
        raise WorkbookError(f"{run.stage}: could not create the benchmark's link ({status})")
    url = f"{base_url or run.url}/{link['code']}"
    wrk(url, config["warmup_seconds"], config["connections"], config["threads"])
    containers = run.compose("ps", "--format", "{{.Name}}").split()
    peaks: dict[str, float] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=memory_mib, args=(containers, stop, peaks), daemon=True)
    sampler.start()
    try:
        figures = wrk(url, config["load_seconds"], config["connections"], config["threads"])
    finally:
        stop.set()
        sampler.join(timeout=30)
    errors = failed_requests(figures)
    return {"rps": figures["requests"] / figures["seconds"], "p50_ms": figures["p50_us"] / 1000,
            "p99_ms": figures["p99_us"] / 1000, "errors": errors,
            "memory_mib": {name.removeprefix(run.project + "-"): mib for name, mib in peaks.items()}}


def naive_dockerfile(dockerfile: str) -> str:
    """The same Dockerfile with the code copied in before the dependencies are installed: any code
    change then invalidates the install layer, as in a Dockerfile that copies the code first."""
    install = dockerfile.find("pip install")
    run_at = dockerfile.rfind("\nRUN ", 0, install)
    if install < 0 or run_at < 0:
        raise WorkbookError("cannot find the dependency install (RUN ... pip install) in this Dockerfile")
    return dockerfile[:run_at] + "\nCOPY . /naive-order/" + dockerfile[run_at:]


def measure_rebuilds(stage: str, repetitions: int) -> dict:
    """Rebuild after a code-only change: the stage's layer order against the naive order."""
    results: dict[str, list[float]] = {"ordered": [], "naive": []}
    with tempfile.TemporaryDirectory(prefix="workbook-bench-") as tmp:
        context = Path(tmp) / stage
        shutil.copytree(STAGES_DIR / stage, context, ignore=shutil.ignore_patterns(
            ".env", ".venv", "__pycache__", ".pytest_cache"))
        (context / "Dockerfile.naive").write_text(naive_dockerfile((context / "Dockerfile").read_text()))
        views = context / "app" / "views.py"
        for order, dockerfile in (("ordered", "Dockerfile"), ("naive", "Dockerfile.naive")):
            tag = f"wbtest-bench-{stage}-{order}:{uuid.uuid4().hex[:8]}"
            try:
                build(context, tag, dockerfile=context / dockerfile)  # warm the cache
                for _ in range(repetitions):
                    views.write_text(views.read_text() + f"\n# code-only change {uuid.uuid4()}\n")
                    results[order].append(build(context, tag, dockerfile=context / dockerfile).seconds)
            finally:
                docker("rmi", tag, check=False)
    return {f"rebuild_{order}_s": summary(values) for order, values in results.items()}


def measure_cold_build(stage: str, repetitions: int) -> dict:
    tag = f"wbtest-bench-{stage}-cold:{uuid.uuid4().hex[:8]}"
    try:
        times = [build(STAGES_DIR / stage, tag, no_cache=True).seconds for _ in range(repetitions)]
    finally:
        docker("rmi", tag, check=False)
    return {"cold_s": summary(times)}


# --- the run --------------------------------------------------------------------------------

OVERRIDES = BENCH_DIR / "overrides"


def has_proxy(stage: str) -> bool:
    return (STAGES_DIR / stage / "nginx").is_dir()


def measure_stage(stage: str, config: dict, rebuild: bool, progress) -> dict:
    reps = config["repetitions"]
    # A stage with nginx in front also gets web's port published, to compare with and without it.
    extra = (OVERRIDES / "publish-web.yaml",) if has_proxy(stage) else ()
    run = StageRun(stage, project=f"wbtest-bench-{stage}", extra_files=extra)
    stages.prepare(run.directory)  # what the stage's README asks first (secrets files)
    try:
        progress(stage, "building")
        run.compose("build")
        startups = []
        for i in range(reps):
            progress(stage, f"start-up {i + 1}/{reps}")
            startups.append(measure_startup(run))
        result = {"startup": {"first_200_s": summary([s["first_200_s"] for s in startups]),
                              "healthy_s": summary([s["healthy_s"] for s in startups])
                              if startups[0]["healthy_s"] is not None else None}}
        result["image"] = measure_image(run)
        loads = []
        for i in range(reps):
            progress(stage, f"load {i + 1}/{reps} ({config['load_seconds']} s)")
            loads.append(measure_load(run, config))
        result["load"] = load_summary(loads)
        result["load"]["memory_mib"] = memory_summary(loads)
        if has_proxy(stage):
            result.update(measure_variants(run, config, progress))
    finally:
        run.down()
    result["build"] = {}
    if rebuild:
        progress(stage, "rebuilds after a code-only change")
        result["build"].update(measure_rebuilds(stage, reps))
    if config["cold_build"]:
        progress(stage, "cold builds")
        result["build"].update(measure_cold_build(stage, reps))
    return result


def load_summary(loads: list[dict]) -> dict:
    figures = {key: summary([load[key] for load in loads]) for key in ("rps", "p50_ms", "p99_ms")}
    return figures | {"errors": sum(load["errors"] for load in loads)}


def memory_summary(loads: list[dict]) -> dict:
    """Each container's peak memory over the load runs (MiB), as median, min and max."""
    return {name: summary([load["memory_mib"].get(name, 0.0) for load in loads])
            for name in loads[0]["memory_mib"]}


def measure_variants(run: StageRun, config: dict, progress) -> dict:
    """The same load sent to gunicorn directly (bypassing nginx), and through nginx with the
    Redis cache switched off in the app."""
    reps = config["repetitions"]
    web_port = run.compose("port", "web", "8000").strip().rsplit(":", 1)[1]
    direct = []
    for i in range(reps):
        progress(run.stage, f"load direct to gunicorn {i + 1}/{reps}")
        direct.append(measure_load(run, config, base_url=f"http://127.0.0.1:{web_port}"))
    run.files += ["-f", str(OVERRIDES / "no-cache.yaml")]
    run.compose("up", "--detach", "--wait", "web")
    uncached = []
    for i in range(reps):
        progress(run.stage, f"load without the cache {i + 1}/{reps}")
        uncached.append(measure_load(run, config))
    return {"load_direct": load_summary(direct), "load_uncached": load_summary(uncached)}


# --- the worker-count sweep -------------------------------------------------------------------

# What stage 04's gunicorn.conf.py uses when GUNICORN_WORKERS is unset (a test keeps them equal).
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


def gunicorn_workers(run: StageRun) -> int:
    """The number of gunicorn worker processes running in web: PID 1 is the master (the
    entrypoint execs gunicorn), the workers are its children."""
    rows = [(line.split(None, 2) + [""])[:3] for line in run.processes("web").splitlines()[1:]]
    return sum(1 for pid, ppid, command in rows if ppid == "1" and "gunicorn" in command)


def measure_workers(config: dict, progress) -> dict:
    """The stage's load figures for each worker count of `config["workers"]`: the stack started
    once, then web recreated with GUNICORN_WORKERS set for each count, and the same load as
    measure_load, `repetitions` times per count, through the stack's entry point (nginx)."""
    stage, cores, reps = config["workers_stage"], os.cpu_count() or 1, config["repetitions"]
    formulas: dict[int, list[str]] = {}
    for formula in config["workers"]:  # on 1 core, 1 and `cores` are the same count: run it once
        formulas.setdefault(worker_count(formula, cores), []).append(str(formula).replace(" ", ""))
    default = worker_count(GUNICORN_DEFAULT_WORKERS, cores)
    run = StageRun(stage, project=f"wbtest-bench-{stage}")
    stages.prepare(run.directory)
    points = []
    date, started = datetime.now(UTC), time.monotonic()
    try:
        progress(stage, "building (worker sweep)")
        run.compose("build", timeout=900)
        for workers in sorted(formulas):
            progress(stage, f"starting with {workers} workers")
            run.env["GUNICORN_WORKERS"] = str(workers)
            # The whole stack the first time; then only web is recreated (its environment changed).
            run.compose("up", "--detach", "--wait")
            # nginx resolves `web` once, when it starts: restarted, it finds the new container.
            run.compose("restart", "nginx")
            wait_until(lambda: run.status("/healthz") == 200, timeout=60, interval=0.1,
                       what=f"{stage} with {workers} workers to answer through nginx")
            # Workers boot one after another (and the app answers as soon as the first one does):
            # wait until all run. One that never comes (killed at the memory limit) fails the run.
            wait_until(lambda count=workers: gunicorn_workers(run) == count, timeout=60, interval=0.5,
                       what=f"{stage}: {workers} gunicorn workers running",
                       on_timeout=lambda: f"{gunicorn_workers(run)} running\n{run.logs('web', 20)}")
            loads = []
            for i in range(reps):
                progress(stage, f"{workers} workers: load {i + 1}/{reps} ({config['load_seconds']} s)")
                loads.append(measure_load(run, config))
            points.append({"workers": workers, "formulas": formulas[workers],
                           **load_summary(loads), "memory_mib": memory_summary(loads)})
        web = run.compose("ps", "--quiet", "web").strip()
        nano_cpus, memory = docker("inspect", "--format", "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}",
                                   web).stdout.split()
    finally:
        run.down()
    keys = ("repetitions", "warmup_seconds", "load_seconds", "connections", "threads")
    return {"stage": stage, "date": date.isoformat(timespec="seconds"), "cores": cores,
            "web_limits": {"cpus": int(nano_cpus) / 1e9 or None, "memory_mib": int(memory) / 2**20 or None},
            "default": GUNICORN_DEFAULT_WORKERS, "default_workers": default,
            "config": {key: config[key] for key in keys}, "seconds": time.monotonic() - started,
            "points": points}


def _swarm_time(timestamp: str) -> datetime:
    """A Swarm timestamp (RFC 3339 with nanoseconds) as a datetime (microseconds suffice)."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", timestamp.replace("Z", "+00:00")))


def measure_rollout(config: dict, progress) -> dict:
    """Stage 05: new releases rolled out by its pipeline (build, push, `docker stack deploy`)
    while wrk keeps loading the entry point; for each, the requests that failed during the load
    and how long Swarm's rolling update took (from the service's own UpdateStatus)."""
    stage, seconds = config["rollout_stage"], config["rollout_load_seconds"]
    run = PipelineRun(stage, stack="wbtest-bench-rollout")
    date, started, rollouts = datetime.now(UTC), time.monotonic(), []
    try:
        progress(stage, "pipeline: build, test, push, deploy")
        run.up()
        status, body = run.post_json("/api/links", {"url": "https://example.org/rollout"})
        if status != 201:
            raise WorkbookError(f"{stage}: creating a link answered {status}", str(body))
        url = f"{run.url}/{body['code']}"
        for i in range(config["rollout_repetitions"]):
            release = f"{run.tag}-r{i + 1}"
            progress(stage, f"rolling out {release} under load ({seconds} s)")
            with ThreadPoolExecutor(max_workers=1) as pool:
                load = pool.submit(wrk, url, seconds, config["connections"], config["threads"])
                run.pipeline("build", "push", "deploy", TAG=release, APP_VERSION=release)
                update = run.service()["UpdateStatus"]
                figures = load.result()
            took = (_swarm_time(update["CompletedAt"]) - _swarm_time(update["StartedAt"])).total_seconds()
            if update["State"] != "completed" or took >= seconds:
                raise WorkbookError(f"{stage}: the update ({update['State']}, {took:.0f} s) did not "
                                    f"finish within the {seconds} s of load; raise rollout_load_seconds")
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


# The sections of a full run that can also run alone: name -> (the config key that enables it,
# what it measures).
SECTIONS = {"workers": ("workers", "worker sweep"), "rollout": ("rollout_stage", "rolling update")}


def run_only(section: str, mode: str = "full", output: Path = RESULTS_FILE, progress=None,
             overrides: dict | None = None) -> dict:
    """One section of the full run alone ("workers" or "rollout"), merged into an existing
    results file: that section is replaced, every other one is kept as it is."""
    key, what = SECTIONS[section]
    config = load_config(mode)[0] | (overrides or {})
    if not config.get(key):
        raise WorkbookError(f"the {mode} run has no {what} (no `{key}` in [{mode}] of {CONFIG_FILE})")
    if not output.exists():
        raise WorkbookError(f"{output} does not exist: the {what} is merged into the results of a "
                            "full run (run `workbook bench` first)")
    results = json.loads(output.read_text())
    measure = measure_workers if section == "workers" else measure_rollout
    results[section] = measure(config, progress or (lambda stage, step: None))
    output.write_text(json.dumps(results, indent=2) + "\n")
    return results


def ratios(results: dict) -> dict[str, float]:
    stage_results = results["stages"]
    names = sorted(stage_results)
    first = names[0]
    found = {}

    def rps(stage):
        return stage_results[stage]["load"]["rps"]["median"]

    for before, after in zip(names, names[1:], strict=False):
        found[f"rps_{_key(after)}_over_{_key(before)}"] = rps(after) / rps(before)
    for stage in names[1:]:
        found[f"image_{_key(stage)}_over_{_key(first)}"] = (
            stage_results[stage]["image"]["size_bytes"] / stage_results[first]["image"]["size_bytes"])
    for before, after in zip(names, names[1:], strict=False):
        found[f"image_{_key(after)}_over_{_key(before)}"] = (
            stage_results[after]["image"]["size_bytes"] / stage_results[before]["image"]["size_bytes"])
    for stage in names:
        figures = stage_results[stage]
        if "load_direct" in figures:
            found[f"rps_via_nginx_over_direct_{_key(stage)}"] = (
                figures["load"]["rps"]["median"] / figures["load_direct"]["rps"]["median"])
            found[f"rps_cached_over_uncached_{_key(stage)}"] = (
                figures["load"]["rps"]["median"] / figures["load_uncached"]["rps"]["median"])
        build_figures = stage_results[stage]["build"]
        if "rebuild_ordered_s" in build_figures:
            found[f"rebuild_ordered_over_naive_{_key(stage)}"] = (
                build_figures["rebuild_ordered_s"]["median"] / build_figures["rebuild_naive_s"]["median"])
    return found


def _key(stage: str) -> str:
    return stage.replace("-", "_")


def check(results: dict, thresholds: dict) -> list[str]:
    """Each threshold that the results miss, as a sentence."""
    failures = []
    found = results["ratios"]
    for name, limit in thresholds.items():
        if name == "max_errors":
            for stage, figures in results["stages"].items():
                for load in ("load", "load_direct", "load_uncached"):
                    if load in figures and figures[load]["errors"] > limit:
                        failures.append(f"{stage}: {figures[load]['errors']} failed requests ({load})")
            for rollout in results.get("rollout", {}).get("rollouts", []):
                if rollout["errors"] > limit:
                    failures.append(f"{results['rollout']['stage']}: {rollout['errors']} failed requests "
                                    f"while rolling out {rollout['release']}")
            for point in results.get("workers", {}).get("points", []):
                if point["errors"] > limit:
                    failures.append(f"{results['workers']['stage']}: {point['errors']} failed requests "
                                    f"with {point['workers']} workers")
        elif name.startswith("max_rebuild_ordered_over_naive"):
            for ratio_name, value in found.items():
                if ratio_name.startswith("rebuild_ordered_over_naive") and value > limit:
                    failures.append(f"{ratio_name} = {value:.2f}, above {limit}")
        else:
            bound, ratio_name = name.split("_", 1)
            value = found.get(ratio_name)
            if value is None:
                failures.append(f"{ratio_name} was not measured")
            elif (bound == "min" and value < limit) or (bound == "max" and value > limit):
                side = "below" if bound == "min" else "above"
                failures.append(f"{ratio_name} = {value:.2f}, {side} {limit}")
    return failures


def run_benchmark(mode: str = "full", output: Path = RESULTS_FILE, progress=None,
                  overrides: dict | None = None) -> dict:
    config = load_config(mode)[0] | (overrides or {})
    progress = progress or (lambda stage, step: None)
    names = stages.names() if config.get("stages", "all") == "all" else config["stages"]
    rebuild_for = names if config["rebuild_stages"] == "all" else config["rebuild_stages"]
    started = time.monotonic()
    results = {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": mode, "config": config, "cores": os.cpu_count(), "machine": platform.machine(),
            "engine": docker("version", "--format", "{{.Server.Version}}").stdout.strip(),
            "images": {image.ref: images.status(image) for image in images.OFFICIAL_IMAGES
                       if image.ref in _stage_sources()},
        },
        "stages": {stage: measure_stage(stage, config, stage in rebuild_for, progress) for stage in names},
    }
    results["ratios"] = ratios(results)
    if config.get("workers"):  # the full run only: minutes of load
        results["workers"] = measure_workers(config, progress)
    if config.get("rollout_stage"):  # the full run only: two deployments and minutes of load
        results["rollout"] = measure_rollout(config, progress)
    results["meta"]["seconds"] = time.monotonic() - started
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    return results

"""The figures of one stage: start-up, image, builds, and the loads measured apart (the ceiling,
a read, the redirect, a write, and the redirect over many links against one), with what each
load run recorded: wrk's figures and CPU share, each container's throttling and peak memory, and
(on stages with PostgreSQL) the database's transactions per 1,000 redirects."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from pathlib import Path

from .. import STAGES_DIR, images, stages
from ..docker import build, docker, image_layers, image_size, wait_until
from ..errors import WorkbookError
from ..runs import StageRun
from . import cgroup
from .config import summary
from .stack import Stack
from .wrk import failed_requests, wait_for_free_ports, wrk

# The loads measured on every stage: name -> (path, wrk request script, whether the redirect's
# visit write is in it). "{code}" is the benchmark's link; "redirect" is the hot row (every
# request counts a visit of the same link), "spread" the same redirect over many links.
LOADS = {
    "ceiling": ("/healthz", None),
    "read": ("/api/links/{code}", None),
    "redirect": ("/{code}", None),
    "write": ("/api/links", "post"),
    "spread": ("/", "spread"),
    # A static file: through nginx, which serves it from its image, and from gunicorn (Flask's
    # static route) on its own port, on a stage with nginx.
    "static": ("/static/app.js", None),
}
# Loads that write to the database in a stage whose redirect writes (01-03).
WRITE_LOADS = ("redirect", "write", "spread")


# --- start-up, image, builds (as before the loads were split) ---------------------------------

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


def startup_summary(startups: list[dict]) -> dict:
    return {"first_200_s": summary([s["first_200_s"] for s in startups]),
            "healthy_s": summary([s["healthy_s"] for s in startups])
            if startups[0]["healthy_s"] is not None else None}


def measure_image(run: StageRun) -> dict:
    """Size, layers, and size over the floor (base image + installed packages + app)."""
    size = image_size(run.image)
    # Where pip put the packages: /usr/local/lib (system-wide) or a virtual environment in /opt.
    site = run.exec("web", "python", "-c", "import os, sys; print(' '.join(p for p in sys.path "
                    "if p.startswith(('/usr/local/lib', '/opt/')) and os.path.isdir(p)))").split()
    packages = sum(int(run.exec("web", "du", "-sb", path).split()[0]) for path in site)
    app = int(run.exec("web", "du", "-sb", "/app").split()[0])
    floor = image_size(images.PYTHON) + packages + app
    return {"size_bytes": size, "layers": sum(1 for layer in image_layers(run.image) if layer.size),
            "floor_bytes": floor, "over_floor_bytes": size - floor}


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
        shutil.copytree(STAGES_DIR / stage, context, ignore=shutil.ignore_patterns(*stages.LOCAL_FILES))
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


# --- load runs --------------------------------------------------------------------------------

def connections_for(stage: str, load: str, config: dict) -> int:
    """The connections of a load: `connections`, or for a write load on a stage listed in
    `write_connections` (SQLite: one writer at a time) the lower count it holds without errors."""
    if load in WRITE_LOADS:
        return config.get("write_connections", {}).get(stage, config["connections"])
    return config["connections"]


def load_run(stack: Stack, url: str, config: dict, connections: int, script: str | None = None,
             codes: list[str] | None = None) -> dict:
    """One measured wrk run, with the cgroup readings of every container of the stack."""
    waited = wait_for_free_ports()
    readings = cgroup.Readings(stack.containers())
    readings.start()
    figures = wrk(url, config["load_seconds"], connections, config["threads"], script, codes)
    containers = readings.stop()
    return {"rps": figures["requests"] / figures["seconds"], "p50_ms": figures["p50_us"] / 1000,
            "p99_ms": figures["p99_us"] / 1000, "requests": figures["requests"],
            "seconds": figures["seconds"], "errors": failed_requests(figures),
            "wrk_cpu_share": figures["wrk_cpu_share"], "waited_for_ports_s": waited,
            "containers": containers}


def figure(runs: list[dict], **about) -> dict:
    """A load's runs as one figure: medians (min, max) and sums; each container's throttling
    summed over the runs, its peak memory as median (min, max)."""
    containers = {}
    for name in runs[0]["containers"]:
        readings = [run["containers"][name] for run in runs if name in run["containers"]]
        peaks = [r["peak_mib"] for r in readings if r["peak_mib"] is not None]
        periods = sum(r["periods"] for r in readings)
        throttled = sum(r["throttled_periods"] for r in readings)
        containers[name] = {"peak_mib": summary(peaks) if peaks else None,
                            "peak_reset": all(r["peak_reset"] for r in readings),
                            "periods": periods, "throttled_periods": throttled,
                            "throttled_share": throttled / periods if periods else 0.0,
                            "throttled_s": sum(r["throttled_s"] for r in readings)}
    return about | {
        "rps": summary([r["rps"] for r in runs]), "p50_ms": summary([r["p50_ms"] for r in runs]),
        "p99_ms": summary([r["p99_ms"] for r in runs]), "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "wrk_cpu_share": summary([r["wrk_cpu_share"] for r in runs]), "containers": containers,
        "runs": [{key: r[key] for key in ("rps", "requests", "errors", "wrk_cpu_share", "waited_for_ports_s")}
                 for r in runs]}


def measure_load(stack: Stack, name: str, config: dict, code: str, codes: list[str] | None = None,
                 count_transactions: bool = False, progress=None, direct: bool = False) -> dict:
    """One load of LOADS, `repetitions` times after a warm-up; with `count_transactions`, the
    database's transactions over the measured runs (read right after the warm-up, so that what
    PostgreSQL has not yet flushed to its statistics is about the same at both readings)."""
    path, script = LOADS[name]
    url = (stack.direct_url if direct else stack.url) + path.format(code=code)
    connections = connections_for(stack.stage, name, config)
    wrk(url, config["warmup_seconds"], connections, config["threads"], script, codes)
    before = stack.transactions() if count_transactions else None
    runs = []
    for i in range(config["repetitions"]):
        if progress:
            progress(stack.stage, f"load {name} {i + 1}/{config['repetitions']} ({config['load_seconds']} s)")
        runs.append(load_run(stack, url, config, connections, script, codes))
    result = figure(runs, path=path, connections=connections, threads=config["threads"],
                    environment=dict(stack.env), direct=direct)
    if before is not None:
        result["transactions"] = transactions_per_redirects(stack.transactions() - before,
                                                            result["requests"])
    return result


def transactions_per_redirects(transactions: int, redirects: int) -> dict:
    return {"transactions": transactions, "redirects": redirects,
            "per_1000_redirects": 1000 * transactions / redirects if redirects else None}

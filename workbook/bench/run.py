"""The benchmark's run: every stage in turn (figures.py), stage 04's pairs (pairs.py), the
sweep and the rollout of the full run (workers.py, rollout.py), the ratios and gates (gates.py),
all written to one JSON file that the docs render (report.py)."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from .. import images, stages
from ..docker import engine_version
from ..errors import WorkbookError
from .buildcache import measure_buildcache
from .cluster import measure_cluster
from .config import CONFIG_FILE, RESULTS_FILE, RESULTS_FORMAT, load_config, stage_sources
from .faults import measure_faults
from .figures import (
    measure_cold_build,
    measure_image,
    measure_load,
    measure_rebuilds,
    measure_startup,
    startup_summary,
)
from .firstrun import measure_firstrun
from .gates import gates, ratios
from .pairs import VARIANTS, control_verdict, measure_pairs
from .rollout import measure_rollout
from .stack import Stack
from .workers import measure_workers

# The control pair's band when [thresholds] names none.
CONTROL_PAIR = [0.9, 1.1]


def measure_stage(stage: str, config: dict, thresholds: dict, rebuild: bool, progress) -> dict:
    reps = config["repetitions"]
    with tempfile.TemporaryDirectory(prefix="workbook-bench-") as tmp:
        stack = Stack(stage, f"wbtest-bench-{stage}", Path(tmp))
        run = stack.run
        try:
            progress(stage, "building")
            run.compose("build")
            startups = []
            for i in range(reps):
                progress(stage, f"start-up {i + 1}/{reps}")
                startups.append(measure_startup(run))
            stack.forget_urls()
            result = {"startup": startup_summary(startups), "image": measure_image(run)}
            progress(stage, f"making {config['spread_links']} links for the spread writes")
            code = stack.create_links(1, "https://example.org/bench")[0]
            codes = stack.create_links(config["spread_links"])
            count = stack.has_database_service()
            loads = {}
            for name in ("ceiling", "read", "redirect", "write"):
                loads[name] = measure_load(stack, name, config, code, progress=progress,
                                           count_transactions=count and name == "redirect")
            result["loads"] = loads
            if not stack.proxied:  # every redirect writes: the hot row against many rows
                loads["spread"] = measure_load(stack, "spread", config, code, codes, progress=progress)
            else:
                # The guide's "nginx for static files": the same file from nginx and from gunicorn.
                loads["static"] = measure_load(stack, "static", config, code, progress=progress)
                loads["static_direct"] = measure_load(stack, "static", config, code, progress=progress,
                                                      direct=True)
                bounds = thresholds.get("control_pair", CONTROL_PAIR)
                result["pairs"] = measure_pairs(stack, config, code, bounds, progress)
                void = control_verdict(result["pairs"]["pairs"], bounds)
                if void:
                    raise WorkbookError(f"{stage}: {void}")
                # The redirect writes only when visits are counted synchronously: hot row vs spread.
                progress(stage, "visits counted synchronously: one row against many")
                stack.switch(VARIANTS["sync"].env)
                loads["redirect_sync"] = measure_load(stack, "redirect", config, code, progress=progress)
                loads["spread_sync"] = measure_load(stack, "spread", config, code, codes, progress=progress)
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


# The sections of a full run that can also run alone: name -> (the config key that enables it,
# what it measures).
SECTIONS = {"workers": ("workers", "worker sweep"), "rollout": ("rollout_stage", "rolling update"),
            "faults": ("faults", "fault matrix"),
            "cluster": ("cluster_stage", "one node against three"),
            "buildcache": ("buildcache_stage", "pip cache mount"),
            "firstrun": ("firstrun_stage", "first run")}
MEASURES = {"workers": lambda config, progress: measure_workers(config, progress),
            "rollout": lambda config, progress: measure_rollout(config, progress),
            "faults": lambda config, progress: measure_faults(config, progress),
            "cluster": lambda config, progress: measure_cluster(config, progress),
            "buildcache": lambda config, progress: measure_buildcache(config, progress),
            "firstrun": lambda config, progress: measure_firstrun(config, progress)}


def run_only(section: str, mode: str = "full", output: Path = RESULTS_FILE, progress=None,
             overrides: dict | None = None) -> dict:
    """One section of the full run alone ("workers" or "rollout"), merged into an existing
    results file: that section is replaced, every other one is kept as it is."""
    option, what = SECTIONS[section]
    config = load_config(mode)[0] | (overrides or {})
    if not config.get(option):
        raise WorkbookError(f"the {mode} run has no {what} (no `{option}` in [{mode}] of {CONFIG_FILE})")
    if not output.exists():
        raise WorkbookError(f"{output} does not exist: the {what} is merged into the results of a "
                            "full run (run `workbook bench` first)")
    results = json.loads(output.read_text())
    results[section] = MEASURES[section](config, progress or (lambda stage, step: None))
    if "thresholds" in results.get("meta", {}):  # the gates table covers the merged section too
        results["gates"] = gates(results, results["meta"]["thresholds"])
    output.write_text(json.dumps(results, indent=2) + "\n")
    return results


def run_benchmark(mode: str = "full", output: Path = RESULTS_FILE, progress=None,
                  overrides: dict | None = None) -> dict:
    """Every stage of the mode, then the sweep and the rollout if the mode has them; the ratios
    and the gates of [thresholds]; written to `output`. A void run (control pair out of its
    band) raises and writes nothing."""
    config, thresholds = load_config(mode)
    config = config | (overrides or {})
    progress = progress or (lambda stage, step: None)
    names = stages.names() if config.get("stages", "all") == "all" else config["stages"]
    rebuild_for = names if config["rebuild_stages"] == "all" else config["rebuild_stages"]
    started = time.monotonic()
    results = {
        "meta": {
            "format": RESULTS_FORMAT,
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": mode, "config": config, "thresholds": thresholds, "cores": os.cpu_count(),
            "machine": platform.machine(),
            "engine": engine_version(),
            "images": {image.ref: images.status(image) for image in images.OFFICIAL_IMAGES
                       if image.ref in stage_sources()},
        },
        "stages": {stage: measure_stage(stage, config, thresholds, stage in rebuild_for, progress)
                   for stage in names},
    }
    results["ratios"] = ratios(results)
    if config.get("workers"):  # the full run only: minutes of load
        results["workers"] = measure_workers(config, progress)
    if config.get("rollout_stage"):  # the full run only: two deployments and minutes of load
        results["rollout"] = measure_rollout(config, progress)
    if config.get("faults"):  # the quick run has a short list
        results["faults"] = measure_faults(config, progress)
    if config.get("cluster_stage"):  # the full run only: four deployments, three nodes
        results["cluster"] = measure_cluster(config, progress)
    if config.get("buildcache_stage"):  # the full run only: cold builds take minutes
        results["buildcache"] = measure_buildcache(config, progress)
    if config.get("firstrun_stage"):  # the full run only: a fresh engine builds a stage from nothing
        results["firstrun"] = measure_firstrun(config, progress)
    results["gates"] = gates(results, thresholds)
    results["meta"]["seconds"] = time.monotonic() - started
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    return results

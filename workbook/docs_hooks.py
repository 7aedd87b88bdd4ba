"""MkDocs hooks: pages generated from the repository at build time, never written by hand.

- changes/<a>-to-<b>.md: for each pair of consecutive stages, a unified diff per changed file.
- benchmarks/results.md: the tables and charts of bench/results.json, as `make bench` wrote it
  (and `workbook bench --only workers` merged its worker sweep into it).
"""

from __future__ import annotations

import difflib
import json
import subprocess
from pathlib import Path

from mkdocs.structure.files import File, Files

from workbook.stages import all_stages

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGES_DIR = REPO_ROOT / "stages"
RESULTS_FILE = REPO_ROOT / "bench" / "results.json"
# Local state that is not part of a stage (all of it ignored by git).
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".venv", ".ruff_cache", "secrets"}
SKIP_NAMES = {".env"}
# Files whose diff is shown open; the rest (prose, pins) start folded.
OPEN_SUFFIXES = {".py", ".sh", ".yaml", ".yml", ".html", ".js", ".css", ".conf", ".ini", ""}


def stage_files(stage: Path) -> dict[str, str]:
    """The stage's files as git sees them (tracked, or new and not ignored), so that local state
    such as .env, secrets/ or caches never reaches a page. Outside a git checkout: every file
    but the known local state."""
    listing = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                             cwd=stage, capture_output=True, text=True)
    if listing.returncode == 0:
        names = [name for name in listing.stdout.split("\0") if name and (stage / name).is_file()]
    else:
        names = [path.relative_to(stage).as_posix() for path in stage.rglob("*") if path.is_file()
                 and not SKIP_PARTS & set(path.relative_to(stage).parts) and path.name not in SKIP_NAMES]
    return {name: (stage / name).read_text() for name in sorted(names)}


def changes_page(old: Path, new: Path) -> str:
    before, after = stage_files(old), stage_files(new)
    lines = [f"# What changed from {old.name} to {new.name}", "",
             f"Generated at build time from `stages/{old.name}` and `stages/{new.name}`: one diff "
             "per changed file. The stage's page explains why.", ""]
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    changed = sorted(name for name in before.keys() & after.keys() if before[name] != after[name])
    lines.append(f"**{len(changed)} changed, {len(added)} added, {len(removed)} removed.**")
    lines.append("")
    for name in changed + added:
        diff = difflib.unified_diff(before.get(name, "").splitlines(), after[name].splitlines(),
                                    f"{old.name}/{name}", f"{new.name}/{name}", lineterm="", n=3)
        fold = "???+" if Path(name).suffix in OPEN_SUFFIXES else "???"
        status = "added" if name in added else "changed"
        lines += [f'{fold} note "`{name}` ({status})"', "", "    ```diff"]
        lines += [f"    {line}" for line in diff]
        lines += ["    ```", ""]
    for name in removed:
        lines += [f"- `{name}` was removed.", ""]
    return "\n".join(lines)


def _mb(value: float) -> str:
    return f"{value / 1e6:.1f}"


def _spread(figure: dict | None, digits: int = 1) -> str:
    """A median with its min and max: '12.3 (11.9 – 13.0)'."""
    if not figure:
        return "–"
    return f"{figure['median']:.{digits}f} ({figure['min']:.{digits}f} – {figure['max']:.{digits}f})"


def _bar_chart(title: str, axis: str, values: dict[str, float]) -> list[str]:
    names = ", ".join(f'"{name}"' for name in values)
    top = max(values.values()) * 1.15
    bars = ", ".join(f"{value:.1f}" for value in values.values())
    return ["```mermaid", "xychart-beta", f'    title "{title}"', f"    x-axis [{names}]",
            f'    y-axis "{axis}" 0 --> {top:.0f}', f"    bar [{bars}]", "```", ""]


def workers_section(sweep: dict | None) -> list[str]:
    """The worker sweep: one row and one bar per worker count, the stage's default marked."""
    lines = ["## gunicorn workers", ""]
    if not sweep:
        return lines + ["No worker sweep in these results yet: `make bench` measures it, or "
                        "`.venv/bin/workbook bench --only workers` alone.", ""]
    config, default = sweep["config"], sweep["default_workers"]
    limits = sweep.get("web_limits") or {}
    parts = ([f"{limits['cpus']:g} CPU"] if limits.get("cpus") else []) + (
        [f"{limits['memory_mib']:.0f} MiB"] if limits.get("memory_mib") else [])
    limit = f", and the stage's compose.yaml limits web to {' and '.join(parts)}" if parts else ""
    best = max(point["rps"]["median"] for point in sweep["points"])
    lines += [f"The load above, on {sweep['stage']} (through nginx, cached) with `GUNICORN_WORKERS` "
              f"set to each count in turn: wrk with {config['connections']} connections for "
              f"{config['load_seconds']} s, {config['repetitions']} runs per figure, measured on "
              f"{sweep['date'][:10]}. This machine has {sweep['cores']} cores{limit}; unset, the "
              f"stage runs `{sweep['default']}` = {default} workers (marked default below). Why that "
              "default is chosen is explained in the stage's README; these are the figures behind it.", "",
              "| Workers | Formula | Requests/s | vs. best | p50 (ms) | p99 (ms) | Failed requests "
              "| Peak memory of web (MiB) |",
              "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    labels = {}
    for point in sweep["points"]:
        workers = point["workers"]
        labels[workers] = f"{workers} (default)" if workers == default else str(workers)
        name = f"**{workers}** (default)" if workers == default else str(workers)
        formulas = ", ".join(f"`{formula}`" for formula in point["formulas"])
        lines.append(f"| {name} | {formulas} | {_spread(point['rps'], 0)} | "
                     f"{point['rps']['median'] / best:.0%} | {_spread(point['p50_ms'])} | "
                     f"{_spread(point['p99_ms'])} | {point['errors']} | "
                     f"{_spread(point['memory_mib'].get('web-1'), 0)} |")
    lines.append("")
    lines += _bar_chart("Requests per second by gunicorn workers", "req/s",
                        {labels[p["workers"]]: p["rps"]["median"] for p in sweep["points"]})
    lines += _bar_chart("Peak memory of web by gunicorn workers (MiB)", "MiB",
                        {labels[p["workers"]]: p["memory_mib"]["web-1"]["median"] for p in sweep["points"]})
    return lines


def rollout_section(rollout: dict | None) -> list[str]:
    """Stage 05's rolling updates under load: one row per release rolled out."""
    lines = ["## Rolling update", ""]
    if not rollout:
        return lines + ["No rolling update in these results yet: `make bench` measures it, or "
                        "`.venv/bin/workbook bench --only rollout` alone.", ""]
    config = rollout["config"]
    lines += [f"{rollout['stage']}'s pipeline rolls out a new release (build, push, `docker stack "
              f"deploy`) to {rollout['replicas']} web replicas while wrk, with {config['connections']} "
              f"connections for {config['rollout_load_seconds']} s, follows a short link through the "
              f"entry point; measured on {rollout['date'][:10]}. The update's duration is Swarm's own "
              "(the service's UpdateStatus, start to completion): start-first, one replica at a time, "
              "each healthy before the next.", "",
              "| Release | Update took (s) | Requests during the load | Requests/s | Failed requests |",
              "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| `{r['release']}` | {r['update_seconds']:.1f} | {r['requests']} | {r['rps']:.0f} | "
              f"{r['errors']} |" for r in rollout["rollouts"]]
    return lines + [""]


def results_page(results_file: Path = RESULTS_FILE) -> str:
    lines = ["# Benchmark results", ""]
    if not results_file.exists():
        return "\n".join(lines + ["No measurements yet: run `make bench` to make them on your machine."])
    results = json.loads(results_file.read_text())
    meta, by_stage = results["meta"], results["stages"]
    standins = [ref for ref, state in meta["images"].items() if state == "stand-in"]
    lines += [f"Measured by `make bench` ({meta['mode']} run) on {meta['date'][:10]}: "
              f"{meta['cores']} cores ({meta['machine']}), Docker Engine {meta['engine']}, "
              f"{meta['config']['repetitions']} runs per figure, shown as median (min – max). "
              "The method is on [the benchmarks page](../benchmarks.md).", ""]
    if standins:
        lines += ['!!! note "Offline stand-ins"',
                  f"    These figures were measured with the offline stand-ins of {', '.join(standins)}"
                  " (see [Offline images](../offline-images.md)); sizes differ a little from the "
                  "official images.", ""]
    first = next(iter(by_stage.values()))["image"]["size_bytes"]
    lines += ["## Image size", "",
              "| Stage | Size (MB) | Layers | Floor (MB) | Over the floor (MB) | vs. first stage |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for stage, figures in by_stage.items():
        image = figures["image"]
        lines.append(f"| {stage} | {_mb(image['size_bytes'])} | {image['layers']} | "
                     f"{_mb(image['floor_bytes'])} | {_mb(image['over_floor_bytes'])} | "
                     f"{image['size_bytes'] / first:.2f}× |")
    lines += ["", "The floor is the base image plus the installed Python packages plus the app: what "
              "the image cannot do without. Everything over it is weight a later stage can remove.", ""]
    sizes = {stage: figures["image"]["size_bytes"] / 1e6 for stage, figures in by_stage.items()}
    lines += _bar_chart("Image size (MB)", "MB", sizes)
    lines += ["## Build time", "", "| Stage | Cold build (s) | Rebuild after a code change (s) | "
              "Same, code copied before dependencies (s) |", "| --- | ---: | ---: | ---: |"]
    for stage, figures in by_stage.items():
        build = figures["build"]
        lines.append(f"| {stage} | {_spread(build.get('cold_s'))} | "
                     f"{_spread(build.get('rebuild_ordered_s'))} | {_spread(build.get('rebuild_naive_s'))} |")
    lines += ["", "## Start-up", "", "| Stage | `compose up` to first 200 (s) | to healthy (s) |",
              "| --- | ---: | ---: |"]
    for stage, figures in by_stage.items():
        startup = figures["startup"]
        lines.append(f"| {stage} | {_spread(startup['first_200_s'])} | "
                     f"{_spread(startup['healthy_s'])} |")
    config = meta["config"]
    lines += ["", "## Under load", "",
              f"wrk with {config['connections']} connections for {config['load_seconds']} s on the "
              "redirect (`GET /<code>`, the hot read path), from a separate process on 127.0.0.1.", "",
              "| Stage | Requests/s | p50 (ms) | p99 (ms) | Failed requests | Peak memory (MiB) |",
              "| --- | ---: | ---: | ---: | ---: | --- |"]
    for stage, figures in by_stage.items():
        load = figures["load"]
        memory = ", ".join(f"{name}: {mib['median']:.0f}" for name, mib in load["memory_mib"].items())
        lines.append(f"| {stage} | {_spread(load['rps'], 0)} | {_spread(load['p50_ms'])} | "
                     f"{_spread(load['p99_ms'])} | {load['errors']} | {memory} |")
    variants = {stage: figures for stage, figures in by_stage.items() if "load_direct" in figures}
    if variants:
        lines += ["", "### Through nginx, directly, and without the cache", "",
                  "The same load on a stage with nginx and Redis: through nginx with the cache (the "
                  "stage as shipped), straight to gunicorn's port, and through nginx with the app's "
                  "Redis cache switched off.", "",
                  "| Stage | Variant | Requests/s | p50 (ms) | p99 (ms) | Failed requests |",
                  "| --- | --- | ---: | ---: | ---: | ---: |"]
        for stage, figures in variants.items():
            for label, key in (("through nginx, cached", "load"), ("direct to gunicorn", "load_direct"),
                               ("through nginx, no cache", "load_uncached")):
                load = figures[key]
                lines.append(f"| {stage} | {label} | {_spread(load['rps'], 0)} | {_spread(load['p50_ms'])} "
                             f"| {_spread(load['p99_ms'])} | {load['errors']} |")
    lines += [""] + _bar_chart("Requests per second", "req/s",
                               {s: f["load"]["rps"]["median"] for s, f in by_stage.items()})
    lines += workers_section(results.get("workers"))
    lines += rollout_section(results.get("rollout"))
    lines += ["## Ratios", "", "| Ratio | Value |", "| --- | ---: |"]
    lines += [f"| `{name}` | {value:.2f} |" for name, value in results["ratios"].items()]
    return "\n".join(lines) + "\n"


def on_files(files: Files, config) -> Files:
    ordered = all_stages()
    for old, new in zip(ordered, ordered[1:], strict=False):
        files.append(File.generated(config, f"changes/{old.name}-to-{new.name}.md",
                                    content=changes_page(old, new)))
    files.append(File.generated(config, "benchmarks/results.md", content=results_page()))
    return files

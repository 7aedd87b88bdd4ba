"""The results page of the docs (benchmarks/results.md), generated from bench/results.json at
build time: no number on it is typed by hand. Results in an older format than the benchmark's
current one get a short note instead of tables that would misread them."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from ..generated_zh import localize
from .config import RESULTS_FILE, RESULTS_FORMAT
from .gates import PAIR_RATIOS

LOAD_LABELS = {"ceiling": "Ceiling `GET /healthz`", "read": "Read `GET /api/links/<code>`",
               "redirect": "Redirect `GET /<code>` (one link)", "write": "Write `POST /api/links`",
               "spread": "Redirect over many links", "static": "Static file `GET /static/app.js`, nginx",
               "static_direct": "Static file `GET /static/app.js`, gunicorn directly"}
SYNC_LOADS = {"redirect_sync": "redirect", "spread_sync": "spread"}


def _mb(value: float) -> str:
    return f"{value / 1e6:.1f}"


def _spread(figure: dict | None, digits: int = 1) -> str:
    """A median with its min and max: '12.3 (11.9 – 13.0)'."""
    if not figure:
        return "–"
    return f"{figure['median']:.{digits}f} ({figure['min']:.{digits}f} – {figure['max']:.{digits}f})"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _bar_chart(title: str, axis: str, values: dict[str, float]) -> list[str]:
    names = ", ".join(f'"{name}"' for name in values)
    top = max(max(values.values()) * 1.15, 1)
    bars = ", ".join(f"{value:.1f}" for value in values.values())
    return ["```mermaid", "xychart-beta", f'    title "{title}"', f"    x-axis [{names}]",
            f'    y-axis "{axis}" 0 --> {top:.0f}', f"    bar [{bars}]", "```", ""]


def _web_memory(point: dict) -> dict | None:
    memory = point.get("memory_mib") or {}
    return memory.get("web") or memory.get("web-1")  # web-1: results before the split


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
    cores = (f"`cores` is {sweep['cores']} ({sweep['cores_from']})" if sweep.get("cores_from")
             else f"This machine has {sweep['cores']} cores")
    best = max(point["rps"]["median"] for point in sweep["points"])
    lines += [f"The redirect, on {sweep['stage']} (through nginx, cached) with `GUNICORN_WORKERS` "
              f"set to each count in turn: wrk with {config['connections']} connections for "
              f"{config['load_seconds']} s, {config['repetitions']} runs per figure, measured on "
              f"{sweep['date'][:10]}. {cores}{limit}; unset, the "
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
                     f"{_spread(_web_memory(point), 0)} |")
    lines.append("")
    lines += _bar_chart("Requests per second by gunicorn workers", "req/s",
                        {labels[p["workers"]]: p["rps"]["median"] for p in sweep["points"]})
    memory = {labels[p["workers"]]: _web_memory(p)["median"] for p in sweep["points"] if _web_memory(p)}
    if memory:
        lines += _bar_chart("Peak memory of web by gunicorn workers (MiB)", "MiB", memory)
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


def cluster_table(cluster: dict | None) -> list[str]:
    """Stage 05 on one node and on three: rolling updates side by side, and a node crashed."""
    if not cluster:
        return ["(One node against three is not measured yet: `make bench`, or "
                "`.venv/bin/workbook bench --only cluster` alone.)", ""]
    config, rollout, lost = cluster["config"], cluster["rollout"], cluster["node_lost"]

    def failed(runs: list[dict]) -> str:
        kinds = Counter()
        for r in runs:
            kinds.update(r.get("failures", {}))
        detail = ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in sorted(kinds.items()))
        return f"{sum(r['errors'] for r in runs)} of {sum(r['requests'] for r in runs)}" + \
            (f" ({detail})" if detail else "")

    return [f"Measured on {cluster['date'][:10]} by `make bench`: {cluster['replicas']} web replicas on "
            f"each side; wrk with {config['connections']} connections for {config['cluster_load_seconds']} "
            f"s follows a short link through the entry point during each change; "
            f"{config['cluster_repetitions']} rounds, the two sides taking turns. Median (min – max).", "",
            "| Figure | One node | Three nodes |", "| --- | ---: | ---: |",
            f"| Rolling update of the release, Swarm's own time (s) | {_spread(rollout['one_node'])} | "
            f"{_spread(rollout['three_nodes'])} |",
            "| Its time on three nodes over one, round by round | | "
            f"{_spread(rollout['three_over_one'], 2)} |",
            f"| Failed requests during the updates | {failed(rollout['runs']['one'])} | "
            f"{failed(rollout['runs']['three'])} |",
            "| A node crashed: seen down by the managers after (s) | – | "
            f"{_spread(lost['seen_down_seconds'])} |",
            f"| A node crashed: three replicas running again after (s) | – | "
            f"{_spread(lost['full_strength_seconds'])} |",
            f"| A node crashed: failed requests | – | {failed(lost['runs'])} |",
            f"| The node powered on: rejoined after (s) | – | {_spread(lost['rejoin_seconds'])} |", ""]


def buildcache_table(section: dict | None) -> list[str]:
    """pip's cache mount against none: builds after a dependency change, and cold builds."""
    if not section:
        return ["(The cache mount is not measured yet: `make bench`, or "
                "`.venv/bin/workbook bench --only buildcache` alone.)", ""]
    figures = section["figures"]

    def packages(kind: str, side: str) -> str:
        proof = section["runs"][kind][side][-1]["proof"]
        return f"{proof['downloaded']} downloaded, {proof['from_cache']} from its cache"

    caveat = [] if section.get("pip_caches_here", True) else [
        "On the machine that measured this, pip took nothing from its cache, mount or not: the "
        "package index's answers reached it without cache headers (`Cache-Control`), and pip keeps "
        "only the downloads they allow (the run checked: the same file downloaded twice into one "
        "cache was downloaded twice). The mount can save nothing there; where the index's answers "
        "allow caching, as the public index's do, its files come from the mount.", ""]
    rows = {"dependency_change": "After a change of `requirements.txt` (the steps before it cached)",
            "cold": "Cold, `--no-cache` (every step runs, `apt-get` too)"}
    return [f"Measured on {section['date'][:10]} by `make bench`: stage {section['stage']} built with its "
            "Dockerfile and with the cache mount taken out (`--no-cache-dir` instead), the two taking "
            f"turns, {section['config']['buildcache_repetitions']} times each; seconds per build, "
            "median (min – max), and the ratio of the two, build by build.", "",
            "| Build | With the cache mount (s) | Without (s) | With over without "
            "| pip's files, with / without |",
            "| --- | ---: | ---: | ---: | --- |",
            *[f"| {label} | {_spread(figures[kind]['mount_s'])} | {_spread(figures[kind]['no_mount_s'])} | "
              f"{_spread(figures[kind]['mount_over_no_mount'], 2)} | {packages(kind, 'mount')} / "
              f"{packages(kind, 'no_mount')} |" for kind, label in rows.items()], "", *caveat]


def firstrun_table(section: dict | None) -> list[str]:
    """What a reader's first `make start` costs, step by step: seconds and disk."""
    if not section:
        return ["(The first run is not measured yet: `make bench`, or "
                "`.venv/bin/workbook bench --only firstrun` alone.)", ""]
    venv, start, docs = section["venv"], section["first_start"], section["docs"]
    official = sum(start["images"].values())
    seconds = venv["seconds"] + start["seconds"] + docs["seconds"]
    disk = venv["bytes"] + start["added_bytes"] + docs["bytes"] + official
    return [f"Measured on {section['date'][:10]} by `make bench` (`workbook bench --only firstrun`), "
            "apart from the measuring machine's caches: the virtual environment installed with pip's "
            f"cache off, and stage {start['stage']} built and started on a fresh engine, which holds "
            "nothing but the official images (no build cache).", "",
            "| Step of a first `make start` | Time (s) | Disk (MB) |", "| --- | ---: | ---: |",
            f"| The workbook's virtual environment `.venv`, from the lock | {venv['seconds']:.0f} | "
            f"{_mb(venv['bytes'])} |",
            f"| The official images it runs on ({', '.join(f'`{ref}`' for ref in start['images'])}) | "
            f"downloading them: your network | {_mb(official)} |",
            f"| Stage {start['stage']} built and started, `docker compose up --build --wait` | "
            f"{start['seconds']:.0f} | {_mb(start['added_bytes'])} |",
            f"| The docs site built | {docs['seconds']:.0f} | {_mb(docs['bytes'])} |",
            f"| **Together**, without the downloads | **{seconds:.0f}** | **{_mb(disk)}** |", ""]


def gates_section(rows: list[dict]) -> list[str]:
    lines = ["## Gates", "", "The gates of `bench/config.toml` (`[thresholds]`), checked on this run.", "",
             "| Gate | Figure | Value | Limit | |", "| --- | --- | ---: | ---: | --- |"]
    for row in rows:
        value = row["value"]
        shown = ("not measured" if value is None
                 else f"{value:.3g}" if isinstance(value, float) else str(value))
        lines.append(f"| `{row['gate']}` | {row['figure']} | {shown} | {row['limit']} | "
                     f"{'pass' if row['passed'] else '**fail**'} |")
    return lines + [""]


def loads_section(by_stage: dict) -> list[str]:
    lines = ["## Requests per second, each load apart", "",
             "Each load on its own, median (min – max) of the runs; the redirect of one link writes "
             "one hot row in every stage whose redirect counts the visit in the database, the "
             "redirect over many links spreads the same writes over many rows.", "",
             "| Stage | " + " | ".join(LOAD_LABELS.values()) + " |",
             "| --- |" + " ---: |" * len(LOAD_LABELS)]
    for stage, figures in by_stage.items():
        loads = figures["loads"]
        lines.append(f"| {stage} | " + " | ".join(_spread((loads.get(name) or {}).get("rps"), 0)
                                                  for name in LOAD_LABELS) + " |")
        sync = {SYNC_LOADS[name]: figure for name, figure in loads.items() if name in SYNC_LOADS}
        if sync:
            lines.append(f"| {stage}, visits counted synchronously | " + " | ".join(
                _spread((sync.get(name) or {}).get("rps"), 0) for name in LOAD_LABELS) + " |")
    lines += ["", "### Latency and failed requests", "",
              "| Stage | Load | Connections | p50 (ms) | p99 (ms) | Requests | Failed requests |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for stage, figures in by_stage.items():
        for name, load in figures["loads"].items():
            lines.append(f"| {stage} | {name} | {load['connections']} | {_spread(load['p50_ms'])} | "
                         f"{_spread(load['p99_ms'])} | {load['requests']} | {load['errors']} |")
    lines.append("")
    lines += _bar_chart("Requests per second, ceiling and read", "req/s",
                        {f"{stage} {name}": figures["loads"][name]["rps"]["median"]
                         for stage, figures in by_stage.items() for name in ("ceiling", "read")
                         if name in figures["loads"]})
    return lines


def pairs_section(by_stage: dict) -> list[str]:
    lines = []
    for stage, figures in by_stage.items():
        pairs = figures.get("pairs")
        if not pairs:
            continue
        low, high = pairs["control_bounds"]
        lines += [f"## {stage}: variants in pairs", "",
                  f"Each pair ran interleaved, {pairs['repetitions']} repetitions (in this order: "
                  f"{', '.join(pairs['order'])}); the ratio is A/B in requests per second, the median "
                  f"of the repetitions' ratios (min – max). The control pair must fall within "
                  f"{low}–{high}, or the run is void.", "",
                  "| Pair | What it measures | A | B | A/B | A req/s | B req/s |",
                  "| --- | --- | --- | --- | ---: | ---: | ---: |"]
        for name, pair in pairs["pairs"].items():
            lines.append(f"| `{PAIR_RATIOS.get(name, name)}` | {pair['measures']} | {pair['a']} | "
                         f"{pair['b']} | {_spread(pair['ratio'], 2)} | {_spread(pair['a_rps'], 0)} | "
                         f"{_spread(pair['b_rps'], 0)} |")
        lines += ["", "Each variant's proof, from its first run: the headers of one answer before the "
                  "load, and how far web's counters moved during it (against the requests wrk counted).", "",
                  "| Run | Variant | X-Cache | X-Visits | Requests | Counters moved |",
                  "| --- | --- | --- | --- | ---: | --- |"]
        for slot, data in pairs["slots"].items():
            run = data["runs"][0]
            shown = run["proof"]
            counters = "; ".join(f"`{sample}` +{delta:.0f}" for sample, delta in shown["counters"].items())
            headers = shown["headers"]
            lines.append(f"| {slot} | {data['description']} | {headers.get('X-Cache') or '–'} | "
                         f"{headers.get('X-Visits') or '–'} | {run['requests']} | {counters or '–'} |")
        lines.append("")
    return lines


def resources_section(by_stage: dict) -> list[str]:
    lines = ["## The load generator and the containers", "",
             "wrk's CPU time over the run's wall time (100% = one core busy all along: wrk, not the "
             "stack, would then be the limit); per container, the share of CPU periods in which "
             "its CPU limit throttled it, and its peak memory (MiB) from its cgroup.", "",
             "| Stage | Load | wrk CPU | Throttled periods | Peak memory (MiB) |",
             "| --- | --- | ---: | --- | --- |"]
    for stage, figures in by_stage.items():
        for name, load in figures["loads"].items():
            containers = load["containers"]
            throttled = ", ".join(f"{c}: {_percent(v['throttled_share'])}" for c, v in containers.items()
                                  if v["periods"]) or "no CPU limit"
            memory = ", ".join(f"{c}: {v['peak_mib']['median']:.0f}" for c, v in containers.items()
                               if v.get("peak_mib"))
            lines.append(f"| {stage} | {name} | {_percent(load['wrk_cpu_share']['median'])} | "
                         f"{throttled} | {memory or '–'} |")
    reset = all(v.get("peak_reset") for f in by_stage.values() for load in f["loads"].values()
                for v in load["containers"].values())
    lines += ["", "Peak memory was reset before each run: it is the peak under that load." if reset else
              "Peak memory could not be reset before every run here: where not, it is the container's "
              "peak since it started (start-up included).", ""]
    return lines


def transactions_section(by_stage: dict, found: dict) -> list[str]:
    rows = [(stage, figures["loads"]["redirect"]["transactions"]) for stage, figures in by_stage.items()
            if "redirect" in figures["loads"] and figures["loads"]["redirect"].get("transactions")]
    if not rows:
        return []
    lines = ["## PostgreSQL transactions per 1,000 redirects", "",
             "`xact_commit + xact_rollback` of the `links` database in `pg_stat_database`, before and "
             "after the redirect load (stage 04 as shipped: cached, visits batched).", "",
             "| Stage | Redirects | Transactions | Per 1,000 redirects |", "| --- | ---: | ---: | ---: |"]
    for stage, tx in rows:
        per = tx["per_1000_redirects"]
        lines.append(f"| {stage} | {tx['redirects']} | {tx['transactions']} | "
                     f"{'–' if per is None else f'{per:.1f}'} |")
    ratio = [f"`{name}` = {value:.4f}" for name, value in found.items() if name.startswith("pg_transactions_")
             and "_over_" in name]
    return lines + ([""] + ["Ratio: " + ", ".join(ratio)] if ratio else []) + [""]


def stage_basics(by_stage: dict, meta: dict) -> list[str]:
    first = next(iter(by_stage.values()))["image"]["size_bytes"]
    lines = ["## Image size", "",
             "| Stage | Size (MB) | Layers | Floor (MB) | Over the floor (MB) | vs. first stage |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for stage, figures in by_stage.items():
        image = figures["image"]
        lines.append(f"| {stage} | {_mb(image['size_bytes'])} | {image['layers']} | "
                     f"{_mb(image['floor_bytes'])} | {_mb(image['over_floor_bytes'])} | "
                     f"{image['size_bytes'] / first:.2f}× |")
    lines += ["", "The floor is the base image plus the installed Python packages plus the app: what "
              "the image cannot do without. Everything over it is weight a later stage can remove.", ""]
    lines += _bar_chart("Image size (MB)", "MB",
                        {s: f["image"]["size_bytes"] / 1e6 for s, f in by_stage.items()})
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
        lines.append(f"| {stage} | {_spread(startup['first_200_s'])} | {_spread(startup['healthy_s'])} |")
    return lines + [""]


def faults_table(faults: dict | None, stage: str | None = None) -> list[str]:
    """The fault matrix as tables, one per stage (only `stage`'s where given: a stage's page),
    one row per fault."""
    if not faults or (stage and stage not in faults["stages"]):
        return ["No fault matrix in these results yet: `make bench` measures it, or "
                "`.venv/bin/workbook bench --only faults` alone.", ""]
    config = faults["config"]
    lines = [f"Steady traffic (4 threads following one cached link, one link created every 0.2 s, "
             f"through the entry point on 127.0.0.1), one fault at a time, {config['fault_calm_seconds']} s "
             "of traffic before and after each. *Recovery* is the time from the fault until a redirect, "
             "a read and a write all answer again; *links lost* counts links that got a 201 and are not "
             "readable afterwards; *visits lost* compares the redirects served with PostgreSQL's count "
             "once the mover has moved everything, against the bound the stage's README states.", ""]
    for name, section in faults["stages"].items():
        if stage and name != stage:
            continue
        lines += [f"**{name}, under {section['orchestrator']}**", "",
                  "| Fault | Requests | Failed | Which | Recovery (s) | Links lost | Visits lost (bound) |",
                  "| --- | ---: | ---: | --- | ---: | ---: | ---: |"]
        for fault_name, fault in section["faults"].items():
            which = ", ".join(f"{kind} ×{n}" for kind, n in sorted(fault["failures"].items())) or "–"
            lines.append(f"| `{fault_name}`: {fault['what']} | {fault['requests']} | {fault['failed']} | "
                         f"{which} | {fault['recovery_s']:.1f} | {fault['lost_links']} | "
                         f"{fault['visits_lost']} ({fault['visits_bound']}) |")
        lines.append("")
    return lines


def faults_section(faults: dict | None) -> list[str]:
    return ["## Faults", "", *faults_table(faults)]


def results_page(results_file: Path = RESULTS_FILE, language: str = "en") -> str:
    """The results page; in `language` "zh" in Chinese (generated_zh)."""
    return localize(_results_page(results_file), language)


def _results_page(results_file: Path) -> str:
    lines = ["# Benchmark results", ""]
    if not results_file.exists():
        return "\n".join(lines + ["No measurements yet: run `make bench` to make them on your "
                                  "machine."]) + "\n"
    results = json.loads(results_file.read_text())
    meta = results.get("meta", {})
    if meta.get("format") != RESULTS_FORMAT:
        return "\n".join(lines + [
            f"The results in `bench/results.json` (measured on {meta.get('date', '?')[:10]}) predate "
            "the current benchmark, which measures each load apart, stage 04's variants in pairs and "
            "the database's transactions (see [the method](../benchmarks.md)): run `make bench` to "
            "measure them again."]) + "\n"
    by_stage, config = results["stages"], meta["config"]
    standins = [ref for ref, state in meta["images"].items() if state == "stand-in"]
    lines += [f"Measured by `make bench` ({meta['mode']} run) on {meta['date'][:10]}: "
              f"{meta['cores']} cores ({meta['machine']}), Docker Engine {meta['engine']}; wrk with "
              f"{config['threads']} thread(s) and {config['connections']} connections for "
              f"{config['load_seconds']} s per run, {config['repetitions']} run(s) per figure, shown as "
              "median (min – max). The method is on [the benchmarks page](../benchmarks.md).", ""]
    if standins:
        lines += ['!!! note "Offline stand-ins"',
                  f"    These figures were measured with the offline stand-ins of {', '.join(standins)}"
                  " (see [Offline images](../offline-images.md)); sizes differ a little from the "
                  "official images.", ""]
    if results.get("gates"):
        lines += gates_section(results["gates"])
    lines += loads_section(by_stage)
    lines += pairs_section(by_stage)
    lines += transactions_section(by_stage, results.get("ratios", {}))
    lines += resources_section(by_stage)
    lines += stage_basics(by_stage, meta)
    lines += workers_section(results.get("workers"))
    lines += rollout_section(results.get("rollout"))
    lines += faults_section(results.get("faults"))
    for name, (heading, table, _) in SECTION_TABLES.items():
        lines += [heading, "", *table(results.get(name))]
    lines += ["## Ratios", "", "| Ratio | Value |", "| --- | ---: |"]
    lines += [f"| `{name}` | {value:.3g} |" for name, value in results["ratios"].items()]
    return "\n".join(lines) + "\n"


# --- figures inside other pages ---------------------------------------------------------------

# `[[bench:NAME]]` in a docs page: the ratio NAME of the committed results (bench/results.json),
# written by the benchmark, never typed. The docs hook replaces it at build time.
FIGURE_MARK = re.compile(r"\[\[bench:([a-z0-9_]+)\]\]")
# A line `[[bench-faults:STAGE]]`: the fault matrix's table of STAGE.
FAULTS_MARK = re.compile(r"\[\[bench-faults:([a-z0-9-]+)\]\]")
# The sections that are one table: on the results page under their heading, and on any page as a
# line `[[bench-NAME]]` (one node against three, pip's cache mount, a reader's first run); each
# with what a page says in its place when the results are of an older format.
SECTION_TABLES = {
    "cluster": ("## One node against three", cluster_table,
                "(One node against three is not measured yet: `make bench`.)"),
    "buildcache": ("## pip's cache mount", buildcache_table,
                   "(The cache mount is not measured yet: `make bench`.)"),
    "firstrun": ("## A first run", firstrun_table, "(The first run is not measured yet: `make bench`.)"),
}
TABLE_MARK = re.compile(r"\[\[bench-(" + "|".join(SECTION_TABLES) + r")\]\]")


def insert_figures(markdown: str, results_file: Path = RESULTS_FILE, language: str = "en") -> str:
    """Each `[[bench:NAME]]` replaced by the ratio NAME as measured (`1.62`, with `×` for a ratio
    of two rates); results of an older format, or no results, say so in place. A NAME the
    current results do not have is an error: a page must not cite a figure that is not there.
    In `language` "zh", what is inserted is in Chinese (generated_zh)."""
    def text(english: str) -> str:
        return localize(english, language)

    marks = FIGURE_MARK.search(markdown) or FAULTS_MARK.search(markdown) or TABLE_MARK.search(markdown)
    if not marks:
        return markdown
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    if results.get("meta", {}).get("format") != RESULTS_FORMAT:
        markdown = FAULTS_MARK.sub(text("(The fault matrix is not measured yet: `make bench`.)"), markdown)
        markdown = TABLE_MARK.sub(lambda m: text(SECTION_TABLES[m[1]][2]), markdown)
        return FIGURE_MARK.sub(text("(not measured yet: `make bench`)"), markdown)
    found = results.get("ratios", {})
    markdown = FAULTS_MARK.sub(lambda m: text("\n".join(faults_table(results.get("faults"), m[1]))), markdown)
    markdown = TABLE_MARK.sub(lambda m: text("\n".join(SECTION_TABLES[m[1]][1](results.get(m[1])))), markdown)

    def figure(match: re.Match) -> str:
        name = match[1]
        if name not in found:
            raise KeyError(f"[[bench:{name}]]: no such figure in {results_file.name}")
        value = found[name]
        if name.startswith("web_peak_mib"):
            return f"{value:.0f} MiB"
        if name.startswith("pg_transactions_per_1000"):
            return f"{value:.1f}"
        if "_over_" in name or name.startswith("control_pair"):
            return f"{value:.2f}×" if value >= 0.1 else f"{value:.4f}×"
        return f"{value:.2f}"

    return FIGURE_MARK.sub(figure, markdown)

"""The ratios a run yields, and the gates of bench/config.toml's [thresholds] they must meet.

A gate `min_<ratio>` or `max_<ratio>` bounds one ratio (`max_rebuild_ordered_over_naive` bounds
every stage's); `max_errors` bounds the failed requests of every load run; `control_pair` is the
band the control pair must fall in. A failed gate names the figure, its value and its limit."""

from __future__ import annotations

from .config import key

# Each pair of stage 04 as a ratio's name (A over B).
PAIR_RATIOS = {"control": "control_pair", "cache": "cached_over_uncached",
               "visits": "batched_over_sync_visits", "proxy": "via_nginx_over_direct",
               "redis_down": "redis_down_over_uncached"}
# The loads compared stage against stage.
COMPARED_LOADS = ("ceiling", "read", "redirect", "write")


def _rps(figures: dict, load: str) -> float | None:
    figure = figures.get("loads", {}).get(load)
    return figure["rps"]["median"] if figure else None


def web_peak_mib(figures: dict) -> float | None:
    """The web container's highest peak memory over a stage's load runs (pairs included)."""
    peaks = []
    for figure in figures.get("loads", {}).values():
        web = figure["containers"].get("web") or {}
        if web.get("peak_mib"):
            peaks.append(web["peak_mib"]["max"])
    for slot in figures.get("pairs", {}).get("slots", {}).values():
        for run in slot["runs"]:
            peak = (run["containers"].get("web") or {}).get("peak_mib")
            if peak is not None:
                peaks.append(peak)
    return max(peaks) if peaks else None


def ratios(results: dict) -> dict[str, float]:
    by_stage = results["stages"]
    names = sorted(by_stage)
    found: dict[str, float] = {}
    for before, after in zip(names, names[1:], strict=False):
        for load in COMPARED_LOADS:
            a, b = _rps(by_stage[after], load), _rps(by_stage[before], load)
            if a and b:
                found[f"{load}_{key(after)}_over_{key(before)}"] = a / b
    first = names[0] if names else None
    for stage in names[1:]:
        found[f"image_{key(stage)}_over_{key(first)}"] = (
            by_stage[stage]["image"]["size_bytes"] / by_stage[first]["image"]["size_bytes"])
    for before, after in zip(names, names[1:], strict=False):
        found[f"image_{key(after)}_over_{key(before)}"] = (
            by_stage[after]["image"]["size_bytes"] / by_stage[before]["image"]["size_bytes"])
    with_transactions = []
    for stage in names:
        figures, k = by_stage[stage], key(stage)
        redirect, ceiling = _rps(figures, "redirect"), _rps(figures, "ceiling")
        if redirect and ceiling:
            found[f"redirect_over_ceiling_{k}"] = redirect / ceiling
        for hot, spread in (("redirect", "spread"), ("redirect_sync", "spread_sync")):
            if _rps(figures, hot) and _rps(figures, spread):
                found[f"spread_over_hot_row_{k}"] = _rps(figures, spread) / _rps(figures, hot)
        static, static_direct = _rps(figures, "static"), _rps(figures, "static_direct")
        if static and static_direct:
            found[f"static_via_nginx_over_gunicorn_{k}"] = static / static_direct
        for name, pair in figures.get("pairs", {}).get("pairs", {}).items():
            found[f"{PAIR_RATIOS.get(name, name)}_{k}"] = pair["ratio"]["median"]
        per_1000 = ((figures.get("loads", {}).get("redirect") or {}).get("transactions") or {}).get(
            "per_1000_redirects")
        if per_1000 is not None:
            found[f"pg_transactions_per_1000_redirects_{k}"] = per_1000
            with_transactions.append((stage, per_1000))
        peak = web_peak_mib(figures)
        if peak is not None:
            found[f"web_peak_mib_{k}"] = peak
        build = figures.get("build", {})
        if "rebuild_ordered_s" in build:
            found[f"rebuild_ordered_over_naive_{k}"] = (
                build["rebuild_ordered_s"]["median"] / build["rebuild_naive_s"]["median"])
    for (before, b), (after, a) in zip(with_transactions, with_transactions[1:], strict=False):
        found[f"pg_transactions_{key(after)}_over_{key(before)}"] = a / b if b else float("inf")
    return found


def failed_runs(results: dict) -> list[str]:
    """Every load run with failed requests, as '<where>: N failed requests ...'."""
    found = []
    for stage, figures in results.get("stages", {}).items():
        for load, figure in figures.get("loads", {}).items():
            if figure["errors"]:
                found.append(f"{stage}: {figure['errors']} failed requests in the {load} load "
                             f"({figure['connections']} connections)")
        for slot, data in figures.get("pairs", {}).get("slots", {}).items():
            for i, run in enumerate(data["runs"]):
                if run["errors"]:
                    found.append(f"{stage}: {run['errors']} failed requests in pair run {slot} "
                                 f"#{i + 1}")
    rollout = results.get("rollout") or {}
    for r in rollout.get("rollouts", []):
        if r["errors"]:
            found.append(f"{rollout['stage']}: {r['errors']} failed requests while rolling out "
                         f"{r['release']}")
    # A node crash is a fault, like those of the fault matrix: its failed requests are reported
    # (by kind), not gated. A rolling update must lose none, on one node or three.
    cluster = results.get("cluster") or {}
    for side, runs in (cluster.get("rollout") or {}).get("runs", {}).items():
        for r in runs:
            if r["errors"]:
                found.append(f"{cluster['stage']}: {r['errors']} failed requests while rolling out "
                             f"{r['release']} on {side} node(s)")
    sweep = results.get("workers") or {}
    for point in sweep.get("points", []):
        if point["errors"]:
            found.append(f"{sweep['stage']}: {point['errors']} failed requests with "
                         f"{point['workers']} workers")
    return found


def _total_errors(results: dict) -> int:
    total = 0
    for figures in results.get("stages", {}).values():
        total += sum(figure["errors"] for figure in figures.get("loads", {}).values())
        total += sum(run["errors"] for slot in figures.get("pairs", {}).get("slots", {}).values()
                     for run in slot["runs"])
    total += sum(r["errors"] for r in (results.get("rollout") or {}).get("rollouts", []))
    total += sum(p["errors"] for p in (results.get("workers") or {}).get("points", []))
    cluster = results.get("cluster") or {}
    rollouts = (cluster.get("rollout") or {}).get("runs", {}).values()
    total += sum(r["errors"] for runs in rollouts for r in runs)
    return total


def gates(results: dict, thresholds: dict) -> list[dict]:
    """Each gate as a row: its name, the figure it bounds, value, limit, passed, and the
    sentence that explains a failure."""
    found = ratios(results) if results.get("stages") else {}
    rows = []
    for name, limit in thresholds.items():
        if name == "max_errors":
            failures = failed_runs(results)
            total = _total_errors(results)
            rows.append({"gate": name, "figure": "failed requests, every load run", "value": total,
                         "limit": limit, "passed": total <= limit,
                         "failures": failures if total > limit else []})
        elif name == "control_pair":
            low, high = limit
            for ratio_name, value in found.items():
                if ratio_name.startswith("control_pair_"):
                    passed = low <= value <= high
                    failure = (f"{ratio_name} = {value:.3g}, outside {low}-{high} (gate {name}): "
                               "the run is void")
                    rows.append({"gate": name, "figure": ratio_name, "value": value,
                                 "limit": f"{low}-{high}", "passed": passed,
                                 "failures": [] if passed else [failure]})
        elif name == "max_fault_lost_links":
            for fault, found_fault in _faults(results):
                lost = found_fault["lost_links"]
                rows.append({"gate": name, "figure": f"links acknowledged (201) but lost, {fault}",
                             "value": lost, "limit": limit, "passed": lost <= limit,
                             "failures": [] if lost <= limit else [
                                 f"{fault}: {lost} links that got a 201 are not readable (gate {name})"]})
        elif name == "fault_visits_within_bounds":
            for fault, found_fault in _faults(results):
                lost, bound = found_fault["visits_lost"], found_fault["visits_bound"]
                low = -found_fault.get("in_flight", 0)  # counted, but the answer never arrived
                passed = not limit or low <= lost <= bound
                rows.append({"gate": name, "figure": f"visits lost, {fault}", "value": lost,
                             "limit": f"{low}-{bound}", "passed": passed,
                             "failures": [] if passed else [
                                 f"{fault}: {lost} visits lost, outside the README's bound {low}-{bound} "
                                 f"(gate {name})"]})
        elif name == "max_rebuild_ordered_over_naive":
            for ratio_name, value in found.items():
                if ratio_name.startswith("rebuild_ordered_over_naive"):
                    rows.append(_bound(name, ratio_name, "max", value, limit))
        else:
            bound, ratio_name = name.split("_", 1)
            rows.append(_bound(name, ratio_name, bound, found.get(ratio_name), limit))
    return rows


def _bound(gate: str, figure: str, bound: str, value: float | None, limit: float) -> dict:
    if value is None:
        return {"gate": gate, "figure": figure, "value": None, "limit": limit, "passed": False,
                "failures": [f"{figure} was not measured (gate {gate}, limit {limit})"]}
    passed = value >= limit if bound == "min" else value <= limit
    side = "below the minimum" if bound == "min" else "above the maximum"
    return {"gate": gate, "figure": figure, "value": value, "limit": limit, "passed": passed,
            "failures": [] if passed else [f"{figure} = {value:.3g}, {side} {limit} (gate {gate})"]}


def _faults(results: dict) -> list[tuple[str, dict]]:
    """(`<stage> <fault>`, its figures) for every fault of every stage in the fault matrix."""
    return [(f"{stage} {fault}", figures) for stage, section in
            (results.get("faults") or {}).get("stages", {}).items()
            for fault, figures in section["faults"].items()]


def check(results: dict, thresholds: dict, only: str | None = None) -> list[str]:
    """Each gate that the results miss, as a sentence naming the figure, its value and the limit.
    `only` ("workers" or "rollout", a section run alone): only that section's failed requests."""
    if only:
        results = {"stages": {}, only: results[only]}
        names = (("max_fault_lost_links", "fault_visits_within_bounds") if only == "faults"
                 else ("max_errors",))
        thresholds = {name: thresholds[name] for name in names if name in thresholds}
    return [failure for row in gates(results, thresholds) for failure in row["failures"]]

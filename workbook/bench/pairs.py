"""Stage 04's variants compared in pairs. The runs of every pair are interleaved (the variants
take turns, A B A B ...), and each pair is reported as the median of its per-repetition ratios
A/B, with min and max: drift over the run (a warming disk, another process) then moves A and B
alike instead of deciding the ratio. A control pair, the same variant twice, shows the noise of
the method: outside its bounds (0.9-1.1) the run is void.

Each variant proves it is what it claims: before its run, one request must carry the expected
X-Cache and X-Visits headers; after it, web's /metrics counters must have moved in the expected
label by about the number of requests wrk counted (and not at all where nothing should move)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import WorkbookError
from .config import summary
from .figures import load_run
from .stack import Stack
from .wrk import wrk

CACHE_HIT = 'cache_lookups_total{result="hit"}'


@dataclass(frozen=True)
class Variant:
    """How web runs (`env`), where the load goes (`direct`: gunicorn's port, else the entry
    point), and its proofs: headers of one answer, counters that grow by about the request count
    (`grows`) or not at all (`still`)."""

    description: str
    env: dict[str, str] = field(default_factory=dict)
    stopped: tuple[str, ...] = ()   # services stopped during the run (a fault, not a setting)
    direct: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    grows: tuple[str, ...] = ()
    still: tuple[str, ...] = ()


BATCHED = {"X-Cache": "hit", "X-Visits": "redis"}
VARIANTS = {
    "cached": Variant("through nginx, cache on, visits batched via Redis (as shipped)",
                      headers=BATCHED, grows=(CACHE_HIT, 'visits_counted_total{where="redis"}')),
    "direct": Variant("straight to gunicorn's port, cache on, visits batched", direct=True,
                      headers=BATCHED, grows=(CACHE_HIT, 'visits_counted_total{where="redis"}')),
    "uncached": Variant("through nginx, cache off (CACHE_TTL_SECONDS=0), visits batched",
                        env={"CACHE_TTL_SECONDS": "0"}, headers={"X-Cache": "off", "X-Visits": "redis"},
                        grows=('visits_counted_total{where="redis"}',), still=(CACHE_HIT,)),
    "sync": Variant("through nginx, cache on, each visit an UPDATE in PostgreSQL (VISIT_COUNTING=sync)",
                    env={"VISIT_COUNTING": "sync"}, headers={"X-Cache": "hit", "X-Visits": "database"},
                    grows=(CACHE_HIT, 'visits_counted_total{where="database"}'),
                    still=('visits_counted_total{where="redis"}',)),
    "redis_down": Variant("through nginx, Redis stopped: the circuit breaker skips it, the lookup goes to "
                          "PostgreSQL and visits wait in the workers' memory", stopped=("redis",),
                          headers={"X-Cache": "bypass", "X-Visits": "memory"},
                          grows=('cache_lookups_total{result="bypass"}',
                                 'visits_counted_total{where="memory"}'),
                          still=(CACHE_HIT,)),
}
# One repetition: each slot is one run of a variant. Neighbouring slots form the pairs, so each
# pair's runs are minutes apart at most; odd repetitions run the slots in reverse order, so that
# A comes first as often as B, and a repetition begins with the variant the previous one ended
# with (web is recreated only where the variant changes).
SLOTS = {"uncached": "uncached", "redis_down": "redis_down", "cached": "cached",
         "cached_again": "cached", "direct": "direct", "sync": "sync"}
PAIRS = {
    "control": ("cached", "cached_again",
                "the same variant twice (the cached redirect): the method's own noise"),
    "cache": ("cached", "uncached",
              "the Redis cache: the redirect's target from Redis against from PostgreSQL"),
    "visits": ("cached_again", "sync",
               "visits counted in Redis and moved in batches against an UPDATE per redirect"),
    "proxy": ("cached_again", "direct", "nginx in front of gunicorn against gunicorn directly"),
    "redis_down": ("redis_down", "uncached",
                   "Redis stopped against the cache switched off: the breaker makes a dead Redis cost "
                   "(almost) nothing"),
}


def schedule(repetitions: int) -> list[tuple[int, str]]:
    """(repetition, slot) in the order they run: forward, then backward, then forward..."""
    order = list(SLOTS)
    return [(rep, slot) for rep in range(repetitions) for slot in (order if rep % 2 == 0 else order[::-1])]


# --- proofs ------------------------------------------------------------------------------------

_SAMPLE = re.compile(r"^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)")


def sample_key(name: str, labels: str = "") -> str:
    """A sample's name with its labels in a fixed order: 'name{a="1",b="2"}'."""
    pairs = sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels or ""))
    return name + ("{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}" if pairs else "")


def metric_samples(text: str) -> dict[str, float]:
    """Prometheus text exposition as {sample: value} (comments skipped)."""
    samples = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            try:
                samples[sample_key(match[1], match[2])] = float(match[3])
            except ValueError:
                continue
    return samples


def proof(variant: Variant, headers: dict[str, str], before: dict[str, float], after: dict[str, float],
          requests: int, connections: int) -> dict:
    """What a run showed about its variant, and each way it fell short of its claim."""
    problems = [f"{name}: {headers.get(name) or 'absent'} (expected {want})"
                for name, want in variant.headers.items() if headers.get(name) != want]
    deltas = {}
    for sample in (*variant.grows, *variant.still):
        key = sample_key(*_split(sample))
        deltas[sample] = after.get(key, 0.0) - before.get(key, 0.0)
    for sample in variant.grows:  # requests in flight when wrk stopped (warm-up, run) count too
        if not 0.9 * requests <= deltas[sample] <= 1.1 * requests + 2 * connections:
            problems.append(f"{sample} grew by {deltas[sample]:.0f} over {requests} requests")
    problems += [f"{sample} grew by {deltas[sample]:.0f} (expected 0)" for sample in variant.still
                 if deltas[sample] != 0]
    return {"headers": headers, "counters": deltas, "problems": problems}


def _split(sample: str) -> tuple[str, str]:
    name, _, labels = sample.partition("{")
    return name, "{" + labels if labels else ""


# --- ratios --------------------------------------------------------------------------------------

def pair_summary(a_rps: list[float], b_rps: list[float]) -> dict:
    """The per-repetition ratios A/B and their median (min, max)."""
    if len(a_rps) != len(b_rps) or not a_rps:
        raise ValueError("a pair needs as many runs of A as of B, at least one")
    ratios = [a / b for a, b in zip(a_rps, b_rps, strict=True)]
    return {"ratio": summary(ratios), "a_rps": summary(a_rps), "b_rps": summary(b_rps)}


def control_verdict(pairs: dict, bounds: list[float]) -> str | None:
    """Why the run is void (the control pair's median ratio outside `bounds`), or None."""
    low, high = bounds
    control = pairs.get("control")
    if control is None:
        return "the control pair was not measured"
    value = control["ratio"]["median"]
    if not low <= value <= high:
        runs = ", ".join(f"{r:.2f}" for r in control["ratio"]["runs"])
        return (f"the control pair (the same variant twice) came out at {value:.2f} (runs: {runs}), "
                f"outside {low}-{high}: this machine was too noisy for the pairs to mean anything; "
                "the run is void (nothing was written). Run it again on a quieter machine.")
    return None


# --- measuring -------------------------------------------------------------------------------------

def measure_pairs(stack: Stack, config: dict, code: str, control_bounds: list[float], progress) -> dict:
    """Every slot of SLOTS, `pair_repetitions` times, interleaved; the pairs' ratios (the
    control pair's `control_bounds` recorded with them)."""
    reps = config["pair_repetitions"]
    runs: dict[str, list[dict]] = {slot: [] for slot in SLOTS}
    last_url = None
    for rep, slot in schedule(reps):
        variant = VARIANTS[SLOTS[slot]]
        progress(stack.stage, f"pairs {rep + 1}/{reps}: {slot} ({config['load_seconds']} s)")
        switched = stack.switch(variant.env, variant.stopped)
        url = (stack.direct_url if variant.direct else stack.url) + f"/{code}"
        if switched or url != last_url:  # fresh workers or another path: warm up first
            wrk(url, config["warmup_seconds"], config["connections"], config["threads"])
        last_url = url
        headers = stack.header_check(url)
        before = metric_samples(stack.metrics())
        run = load_run(stack, url, config, config["connections"])
        shown = proof(variant, headers, before, metric_samples(stack.metrics()), run["requests"],
                      config["connections"])
        if shown["problems"]:
            raise WorkbookError(f"{stack.stage}: the {SLOTS[slot]} variant ({slot}) is not what it claims",
                                "\n".join(shown["problems"]))
        runs[slot].append(run | {"proof": shown})
    pairs = {}
    for name, (a, b, measures) in PAIRS.items():
        pairs[name] = {"a": a, "b": b, "measures": measures} | pair_summary(
            [r["rps"] for r in runs[a]], [r["rps"] for r in runs[b]])
    stack.switch({}, ())  # leave the stack as shipped, every service running
    slots = {slot: {"variant": SLOTS[slot], "description": VARIANTS[SLOTS[slot]].description,
                    "environment": VARIANTS[SLOTS[slot]].env, "stopped": list(VARIANTS[SLOTS[slot]].stopped),
                    "runs": runs[slot]} for slot in SLOTS}
    return {"repetitions": reps, "order": [slot for _, slot in schedule(reps)], "slots": slots,
            "pairs": pairs, "control_bounds": list(control_bounds)}

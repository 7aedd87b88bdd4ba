"""The benchmark: its quick run against real containers (every stage measured, the gates of
bench/config.toml met, nothing left running), and everything computable without Docker from
results made here: pair ratios and the control pair, gates, Lua scripts, cgroup files, proofs,
the worker sweep and the results page."""

import copy
import ipaddress
import json
import re
import socket
import subprocess
import sys
import time

import pytest

from workbook import REPO_ROOT, bench, docs_hooks, http, stages
from workbook.bench import buildcache, cgroup, faults, figures, pairs, report, stack, workers, wrk
from workbook.docker import leftovers
from workbook.errors import WorkbookError

STAGE_04 = REPO_ROOT / "stages" / "04-hardening"
QUICK_SECONDS = 420  # a budget, not a figure: about 3.5 minutes on 2 cores, room for a loaded machine


@pytest.mark.docker
def test_quick_benchmark_meets_its_thresholds(tmp_path):
    output = tmp_path / "quick.json"
    for attempt in (1, 2):
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "workbook", "bench", "--quick", "--check",
                                 "--output", str(output)], cwd=REPO_ROOT, capture_output=True, text=True)
        elapsed = time.monotonic() - started
        # A void run (its control pair out of band: the machine was too noisy) measured nothing and
        # says "run it again": once, as a reader would. A missed gate is never run again.
        if attempt == 2 or "the run is void" not in result.stdout + result.stderr:
            break
        print(f"the quick run was void ({result.stderr.strip().splitlines()[-1]}); running it again")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert elapsed < QUICK_SECONDS, f"the quick run took {elapsed:.0f} s"

    results = json.loads(output.read_text())
    assert results["meta"]["format"] == bench.RESULTS_FORMAT
    # Every stage but 05, whose Compose stack is 04's (the full run measures it, and its rollout).
    assert sorted(results["stages"]) == [name for name in stages.names() if name != "05-ci"]
    for stage, found in results["stages"].items():
        loads = found["loads"]
        assert {"ceiling", "read", "redirect", "write"} <= loads.keys(), stage
        assert ("spread" in loads) != ("spread_sync" in loads), f"{stage}: hot row against many rows"
        for name, load in loads.items():
            assert load["errors"] == 0, (stage, name)
            assert load["rps"]["median"] > 0
            assert load["p50_ms"]["median"] <= load["p99_ms"]["median"]
            assert 0 < load["wrk_cpu_share"]["median"] < 2.5, "wrk's CPU time is recorded"
            assert "web" in load["containers"]
        assert found["image"]["floor_bytes"] < found["image"]["size_bytes"]
        assert found["startup"]["first_200_s"]["median"] > 0
    pairs_04 = results["stages"]["04-hardening"]["pairs"]
    assert set(pairs_04["pairs"]) == set(pairs.PAIRS)
    assert all(not run["proof"]["problems"] for slot in pairs_04["slots"].values() for run in slot["runs"])
    for name in ("ceiling_02_gunicorn_over_01_basic", "cached_over_uncached_04_hardening",
                 "pg_transactions_04_hardening_over_03_compose", "web_peak_mib_04_hardening"):
        assert name in results["ratios"]
    assert all(row["passed"] for row in results["gates"])
    assert "] 01-basic: load" in result.stdout, "progress is shown while it runs"
    assert not any(name.startswith("wbtest-bench") for names in leftovers().values() for name in names)


@pytest.mark.parametrize("stage", stages.names())
def test_naive_dockerfile_copies_code_before_dependencies(stage):
    dockerfile = (REPO_ROOT / "stages" / stage / "Dockerfile").read_text()
    naive = bench.naive_dockerfile(dockerfile)
    # The code goes in right before the RUN that installs the dependencies, nothing else changes.
    assert naive.replace("\nCOPY . /naive-order/", "") == dockerfile
    assert naive.index("COPY . /naive-order/") < naive.index("pip install")
    run_of_install = naive.rfind("\nRUN ", 0, naive.index("pip install"))
    assert naive.index("COPY . /naive-order/") < run_of_install


# --- a results file of the current format, made here ------------------------------------------

def spread(value, runs=None):
    runs = runs or [value * 0.9, value, value * 1.1]
    return {"median": value, "min": min(runs), "max": max(runs), "runs": runs}


def load(rps, web_mib=100.0, errors=0, connections=8, throttled=0, transactions=None):
    containers = {"web": {"peak_mib": spread(web_mib), "peak_reset": True, "periods": 20,
                          "throttled_periods": throttled, "throttled_share": throttled / 20,
                          "throttled_s": throttled * 0.01}}
    found = {"path": "/", "connections": connections, "threads": 1, "environment": {},
             "rps": spread(rps), "p50_ms": spread(5.0), "p99_ms": spread(20.0), "requests": int(rps * 2),
             "errors": errors, "wrk_cpu_share": spread(0.25), "containers": containers,
             "runs": [{"rps": rps, "requests": int(rps * 2), "errors": errors, "wrk_cpu_share": 0.25}]}
    if transactions is not None:
        found["transactions"] = figures.transactions_per_redirects(transactions, int(rps * 2))
    return found


def pair_runs(rps_values, variant="cached"):
    runs = []
    for rps in rps_values:
        shown = {"headers": dict(pairs.VARIANTS[variant].headers), "counters": {}, "problems": []}
        runs.append({"rps": rps, "p50_ms": 2.0, "p99_ms": 9.0, "requests": int(rps * 2), "seconds": 2.0,
                     "errors": 0, "wrk_cpu_share": 0.3, "proof": shown,
                     "containers": {"web": {"peak_mib": 120.0, "peak_reset": True, "periods": 20,
                                            "throttled_periods": 1, "throttled_share": 0.05,
                                            "throttled_s": 0.01}}})
    return runs


def pairs_fixture(cached=(1000, 1100, 1050), uncached=(500, 520, 480), again=(1010, 1080, 1040),
                  direct=(1100, 1150, 1120), sync=(300, 310, 290), redis_down=(450, 470, 430)):
    rps = {"cached": cached, "uncached": uncached, "cached_again": again, "direct": direct, "sync": sync,
           "redis_down": redis_down}
    slots = {slot: {"variant": variant, "description": pairs.VARIANTS[variant].description,
                    "environment": pairs.VARIANTS[variant].env, "runs": pair_runs(rps[slot], variant)}
             for slot, variant in pairs.SLOTS.items()}
    found = {name: {"a": a, "b": b, "measures": measures} | pairs.pair_summary(list(rps[a]), list(rps[b]))
             for name, (a, b, measures) in pairs.PAIRS.items()}
    return {"repetitions": 3, "order": [slot for _, slot in pairs.schedule(3)], "slots": slots,
            "pairs": found, "control_bounds": [0.9, 1.1]}


def stage_fixture(image_mb, loads, **extra):
    return {"startup": {"first_200_s": spread(1.5), "healthy_s": None},
            "image": {"size_bytes": int(image_mb * 1e6), "layers": 9, "floor_bytes": int(image_mb * 0.8e6),
                      "over_floor_bytes": int(image_mb * 0.2e6)},
            "build": {"rebuild_ordered_s": spread(1.0), "rebuild_naive_s": spread(20.0)},
            "loads": loads} | extra


def results_fixture() -> dict:
    results = {
        "meta": {"format": bench.RESULTS_FORMAT, "date": "2026-01-02T03:04:05+00:00", "mode": "quick",
                 "cores": 2, "machine": "x86_64", "engine": "28.0", "images": {"postgres:17": "official"},
                 "config": {"repetitions": 1, "connections": 8, "threads": 1, "load_seconds": 2},
                 "seconds": 170.0},
        "stages": {
            "01-basic": stage_fixture(200, {"ceiling": load(600), "read": load(400),
                                            "redirect": load(150, connections=4),
                                            "write": load(140, connections=4),
                                            "spread": load(160, connections=4)}),
            "02-gunicorn": stage_fixture(201, {"ceiling": load(1000), "read": load(700),
                                               "redirect": load(160, connections=4),
                                               "write": load(150, connections=4),
                                               "spread": load(170, connections=4)}),
            "03-compose": stage_fixture(210, {"ceiling": load(1100), "read": load(800),
                                              "redirect": load(300, transactions=1000), "write": load(280),
                                              "spread": load(700)}),
            "04-hardening": stage_fixture(110, {"ceiling": load(1300, web_mib=120.0),
                                                "read": load(1000, web_mib=120.0),
                                                "redirect": load(1000, web_mib=130.0, transactions=4),
                                                "write": load(400, web_mib=125.0),
                                                "redirect_sync": load(320), "spread_sync": load(600),
                                                "static": load(9000), "static_direct": load(1500)},
                                          pairs=pairs_fixture()),
        },
    }
    results["ratios"] = bench.ratios(results)
    results["gates"] = bench.gates(results, bench.load_config("quick")[1])
    return results


def write(tmp_path, results) -> object:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    return path


# --- pairs and the control pair ------------------------------------------------------------------

def test_a_pair_is_the_median_of_its_per_repetition_ratios():
    found = pairs.pair_summary([100, 300, 200], [50, 100, 200])
    assert found["ratio"]["runs"] == [2.0, 3.0, 1.0]
    assert (found["ratio"]["median"], found["ratio"]["min"], found["ratio"]["max"]) == (2.0, 1.0, 3.0)
    assert found["a_rps"]["median"] == 200
    with pytest.raises(ValueError, match="as many runs"):
        pairs.pair_summary([1, 2], [1])


def test_pairs_run_interleaved_and_each_pair_side_by_side():
    order = pairs.schedule(3)
    slots = list(pairs.SLOTS)
    assert [slot for _, slot in order] == slots + slots[::-1] + slots
    for rep in range(3):
        sequence = [slot for r, slot in order if r == rep]
        for a, b, _ in pairs.PAIRS.values():  # A and B of each pair at most one run apart
            assert abs(sequence.index(a) - sequence.index(b)) <= 2
    assert pairs.PAIRS["control"][0] != pairs.PAIRS["control"][1]
    assert pairs.SLOTS[pairs.PAIRS["control"][0]] == pairs.SLOTS[pairs.PAIRS["control"][1]]


def test_the_control_pair_voids_a_noisy_run():
    assert pairs.control_verdict(pairs_fixture()["pairs"], [0.9, 1.1]) is None
    noisy = pairs_fixture(cached=(1000, 1300, 1250), again=(1000, 1000, 1000))["pairs"]
    verdict = pairs.control_verdict(noisy, [0.9, 1.1])
    assert "1.25" in verdict
    assert "outside 0.9-1.1" in verdict
    assert "void" in verdict
    assert "not measured" in pairs.control_verdict({}, [0.9, 1.1])


# --- proofs: headers and /metrics counters --------------------------------------------------------

METRICS = """# HELP cache_lookups_total Lookups of a link in the cache
# TYPE cache_lookups_total counter
cache_lookups_total{result="hit"} 1200.0
cache_lookups_total{result="miss"} 3.0
visits_counted_total{where="redis"} 1203.0
http_requests_total{method="GET",status="302"} 1203.0
"""


def test_metrics_are_read_by_sample_with_labels_in_a_fixed_order():
    samples = pairs.metric_samples(METRICS)
    assert samples['cache_lookups_total{result="hit"}'] == 1200.0
    assert samples['http_requests_total{method="GET",status="302"}'] == 1203.0
    assert pairs.sample_key("x", '{b="2",a="1"}') == 'x{a="1",b="2"}'
    assert not any(key.startswith("#") for key in samples)


def test_a_variant_proves_what_it_claims_or_the_run_fails():
    before = pairs.metric_samples(METRICS)
    after = dict(before)
    after['cache_lookups_total{result="hit"}'] += 1000
    after['visits_counted_total{where="redis"}'] += 1004
    cached = pairs.VARIANTS["cached"]
    good = pairs.proof(cached, {"X-Cache": "hit", "X-Visits": "redis"}, before, after, 1000, 8)
    assert good["problems"] == []
    assert good["counters"]['cache_lookups_total{result="hit"}'] == 1000
    wrong = pairs.proof(cached, {"X-Cache": "miss", "X-Visits": "redis"}, before, before, 1000, 8)
    assert "X-Cache: miss (expected hit)" in wrong["problems"]
    assert any("grew by 0 over 1000 requests" in problem for problem in wrong["problems"])
    uncached = pairs.proof(pairs.VARIANTS["uncached"], {"X-Cache": "off", "X-Visits": "redis"}, before,
                           after, 1000, 8)
    assert uncached["problems"] == ['cache_lookups_total{result="hit"} grew by 1000 (expected 0)']
    assert pairs.VARIANTS["sync"].env == {"VISIT_COUNTING": "sync"}
    assert pairs.VARIANTS["uncached"].env == {"CACHE_TTL_SECONDS": "0"}


def test_a_variant_is_an_override_file_of_webs_environment():
    text = stack.variant_override({"VISIT_COUNTING": "sync", "CACHE_TTL_SECONDS": "0"})
    assert json.loads(text) == {"services": {"web": {"environment": {
        "CACHE_TTL_SECONDS": "0", "VISIT_COUNTING": "sync"}}}}
    assert json.loads(stack.variant_override({})) == {"services": {"web": {"environment": {}}}}


# --- gates ------------------------------------------------------------------------------------------

def test_ratios_of_the_results():
    found = results_fixture()["ratios"]
    assert found["ceiling_02_gunicorn_over_01_basic"] == pytest.approx(1000 / 600)
    assert found["read_02_gunicorn_over_01_basic"] == pytest.approx(700 / 400)
    assert found["redirect_over_ceiling_04_hardening"] == pytest.approx(1000 / 1300)
    assert found["cached_over_uncached_04_hardening"] == pytest.approx(1100 / 520), "median of 3 ratios"
    assert found["pg_transactions_per_1000_redirects_03_compose"] == pytest.approx(1000 / 600 * 1000)
    assert found["pg_transactions_04_hardening_over_03_compose"] == pytest.approx(
        (4 / 2000 * 1000) / (1000 / 600 * 1000))
    assert found["spread_over_hot_row_03_compose"] == pytest.approx(700 / 300)
    assert found["spread_over_hot_row_04_hardening"] == pytest.approx(600 / 320)
    assert found["web_peak_mib_04_hardening"] == pytest.approx(130.0 * 1.1)
    assert found["rebuild_ordered_over_naive_01_basic"] == pytest.approx(0.05)
    assert found["static_via_nginx_over_gunicorn_04_hardening"] == pytest.approx(6.0)


def test_every_gate_is_in_the_config_and_the_fixture_passes_them():
    thresholds = bench.load_config("quick")[1]
    for gate in ("min_redirect_over_ceiling_04_hardening", "min_cached_over_uncached_04_hardening",
                 "max_pg_transactions_04_hardening_over_03_compose", "min_ceiling_02_gunicorn_over_01_basic",
                 "min_read_02_gunicorn_over_01_basic", "max_web_peak_mib_04_hardening", "max_errors",
                 "control_pair", "min_redis_down_over_uncached_04_hardening"):
        assert gate in thresholds
    assert thresholds["control_pair"] == [0.9, 1.1]
    results = results_fixture()
    assert bench.check(results, thresholds) == []
    assert all(row["passed"] for row in results["gates"])


def test_a_failed_gate_names_the_figure_its_value_and_the_limit():
    results = results_fixture()
    results["stages"]["04-hardening"]["loads"]["redirect"]["rps"] = spread(500.0)
    results["stages"]["04-hardening"]["loads"]["write"]["errors"] = 3
    results["stages"]["04-hardening"]["pairs"]["slots"]["sync"]["runs"][1]["errors"] = 2
    del results["stages"]["01-basic"]["loads"]["read"]
    results["ratios"] = bench.ratios(results)
    failures = bench.check(results, bench.load_config("quick")[1])
    assert ("redirect_over_ceiling_04_hardening = 0.385, below the minimum 0.6 "
            "(gate min_redirect_over_ceiling_04_hardening)") in failures
    assert "04-hardening: 3 failed requests in the write load (8 connections)" in failures
    assert "04-hardening: 2 failed requests in pair run sync #2" in failures
    assert any(f.startswith("read_02_gunicorn_over_01_basic was not measured") for f in failures)
    assert len(failures) == 4


def test_the_web_memory_and_transaction_gates_bound_from_above():
    results = results_fixture()
    results["stages"]["04-hardening"]["loads"]["read"]["containers"]["web"]["peak_mib"] = spread(200.0)
    results["stages"]["04-hardening"]["loads"]["redirect"]["transactions"] = (
        figures.transactions_per_redirects(400, 2000))
    thresholds = bench.load_config("full")[1]
    gate = thresholds["max_web_peak_mib_04_hardening"]
    assert gate < 220
    failures = bench.check(results, thresholds)
    assert (f"web_peak_mib_04_hardening = 220, above the maximum {gate} "
            "(gate max_web_peak_mib_04_hardening)") in failures
    assert any(f.startswith("pg_transactions_04_hardening_over_03_compose = 0.12, above the maximum 0.01")
               for f in failures)


def test_the_control_pair_is_a_gate_too():
    results = results_fixture()
    results["stages"]["04-hardening"]["pairs"] = pairs_fixture(cached=(1000, 1300, 1250),
                                                                again=(1000, 1000, 1000))
    failures = bench.check(results, {"control_pair": [0.9, 1.1]})
    assert failures == ["control_pair_04_hardening = 1.25, outside 0.9-1.1 (gate control_pair): "
                        "the run is void"]


def test_sqlite_stages_write_with_the_connections_they_hold():
    config = bench.load_config("quick")[0]
    assert figures.connections_for("01-basic", "write", config) == config["write_connections"]["01-basic"]
    assert figures.connections_for("01-basic", "spread", config) < config["connections"]
    assert figures.connections_for("01-basic", "read", config) == config["connections"]
    assert figures.connections_for("03-compose", "write", config) == config["connections"]


# --- wrk: scripts, the 127.0.0.1 guard, the host's ports --------------------------------------------

def test_connections_closed_first_here_are_counted_in_time_wait():
    """The count the benchmark waits on: a connection this side closes first stays in TIME_WAIT."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        clients = [socket.create_connection(server.getsockname()) for _ in range(20)]
        accepted = [server.accept()[0] for _ in clients]
        for client in clients:
            client.close()  # the client closes first: its side waits in TIME_WAIT
        for connection in accepted:
            connection.recv(1)  # the FIN
            connection.close()
    assert wrk.time_wait_connections().count((ipaddress.ip_address("127.0.0.1"), port)) == 20
    assert 1000 < wrk.ephemeral_ports() <= 65536


def test_wrk_scripts_are_a_request_script_followed_by_the_reporter():
    reporter = (REPO_ROOT / "bench" / "report.lua").read_text()
    assert wrk.script_text(None) == reporter
    post = wrk.script_text("post")
    assert post.endswith(reporter)
    assert 'wrk.method = "POST"' in post
    assert '"Content-Type"' in post
    assert json.loads(re.search(r"wrk.body = '(.*)'", post)[1])["url"]
    spread_lua = wrk.script_text("spread")
    assert spread_lua.endswith(reporter)
    assert 'os.getenv("BENCH_CODES")' in spread_lua
    assert "request = function()" in spread_lua
    assert "done = function" in spread_lua


def test_the_spread_script_gets_its_codes_through_the_environment():
    assert wrk.codes_environment(["abc123", "XyZ9"]) == {"BENCH_CODES": "abc123,XyZ9"}
    for bad in ([], ["ok", "no,comma"], ["../x"]):
        with pytest.raises(WorkbookError):
            wrk.codes_environment(bad)


def test_load_and_requests_are_only_sent_to_127_0_0_1(monkeypatch):
    http.check_loopback("http://127.0.0.1:8080/healthz")
    for url in ("http://example.org/", "http://localhost:8080/", "https://127.0.0.1:8080/"):
        with pytest.raises(ValueError, match=r"only sends traffic to 127\.0\.0\.1"):
            http.check_loopback(url)
        with pytest.raises(ValueError, match=r"only sends traffic to 127\.0\.0\.1"):
            http.fetch(url)
    monkeypatch.setattr(wrk.shutil, "which", lambda name: "/usr/bin/wrk")
    with pytest.raises(ValueError, match=r"only sends traffic to 127\.0\.0\.1"):
        wrk.wrk("http://example.org/", 1, 1, 1)


def test_failed_requests_count_every_kind():
    counts = {"connect_errors": 1, "read_errors": 2, "write_errors": 3, "timeouts": 4, "status_errors": 5}
    assert wrk.failed_requests(counts) == 15


# --- cgroup files -------------------------------------------------------------------------------------

CPU_STAT_V1 = "nr_periods 120\nnr_throttled 30\nthrottled_time 1500000000\n"
CPU_STAT_V2 = ("usage_usec 5000000\nuser_usec 4000000\nsystem_usec 1000000\nnr_periods 200\n"
               "nr_throttled 50\nthrottled_usec 2500000\nnr_bursts 0\nburst_usec 0\n")


def test_cpu_stat_is_read_in_both_cgroup_versions():
    assert cgroup.parse_cpu_stat(CPU_STAT_V1, 1) == {"periods": 120, "throttled_periods": 30,
                                                      "throttled_s": 1.5}
    assert cgroup.parse_cpu_stat(CPU_STAT_V2, 2) == {"periods": 200, "throttled_periods": 50,
                                                      "throttled_s": 2.5}
    assert cgroup.parse_cpu_stat("", 2) == {"periods": 0, "throttled_periods": 0, "throttled_s": 0.0}
    delta = cgroup.throttling(cgroup.parse_cpu_stat(CPU_STAT_V1, 1),
                              {"periods": 220, "throttled_periods": 55, "throttled_s": 2.0})
    assert delta == {"periods": 100, "throttled_periods": 25, "throttled_s": 0.5, "throttled_share": 0.25}


def test_memory_files_are_read_as_bytes():
    assert cgroup.parse_bytes("167772160\n") == 160 * 2**20
    assert cgroup.parse_bytes("max\n") is None
    assert cgroup.parse_bytes("") is None


def test_a_containers_cgroup_is_found_on_the_host_in_both_versions(tmp_path):
    v1 = tmp_path / "v1"
    (v1 / "cpu" / "docker" / "abc").mkdir(parents=True)
    (v1 / "memory" / "docker" / "abc").mkdir(parents=True)
    (v1 / "cpu" / "docker" / "abc" / "cpu.stat").write_text(CPU_STAT_V1)
    peak = v1 / "memory" / "docker" / "abc" / "memory.max_usage_in_bytes"
    peak.write_text(str(300 * 2**20))
    group = cgroup.ContainerCgroup("web", "abc", cgroup_version=1, root=v1)
    assert group.cpu()["throttled_periods"] == 30
    assert group.peak_bytes() == 300 * 2**20
    assert group.reset_peak()
    assert peak.read_text() == "0", "v1: reset by writing 0"

    v2 = tmp_path / "v2"
    scope = v2 / "system.slice" / "docker-def.scope"
    scope.mkdir(parents=True)
    (v2 / "cgroup.controllers").write_text("cpu memory\n")
    (scope / "cpu.stat").write_text(CPU_STAT_V2)
    (scope / "memory.peak").write_text(str(100 * 2**20))
    assert cgroup.version(v2) == 2
    assert cgroup.version(v1) == 1
    group = cgroup.ContainerCgroup("web", "def", cgroup_version=2, root=v2)
    assert group.cpu()["throttled_s"] == 2.5
    assert group.peak_bytes() == 100 * 2**20


# --- the worker sweep (stage 04's default number of gunicorn workers) ----------------------------

@pytest.mark.parametrize(("formula", "cores", "count"), [
    ("1", 2, 1), (3, 2, 3), ("cores", 2, 2), ("2*cores+1", 2, 5), ("4 * cores + 1", 8, 33),
    ("2*cores-1", 1, 1)])
def test_worker_counts_are_numbers_or_formulas_of_the_cores(formula, cores, count):
    assert bench.worker_count(formula, cores) == count


@pytest.mark.parametrize("formula", ["cores/2", "__import__('os')", "cores-cores", "two"])
def test_worker_counts_refuse_anything_else(formula):
    with pytest.raises(WorkbookError):
        bench.worker_count(formula, 2)


def test_the_sweeps_cores_are_webs_cpu_limit_rounded_up():
    config = {"services": {"web": {"deploy": {"resources": {"limits": {"cpus": "1.5"}}}}}}
    assert workers.cpu_limit(config) == 1.5
    assert workers.limit_cores(1.5) == 2
    assert workers.limit_cores(1.0) == 1
    assert workers.cpu_limit({"services": {"web": {}}}) is None
    assert workers.limit_cores(None) >= 1


def test_the_sweep_measures_stage_04s_default_and_only_in_the_full_run():
    conf = (STAGE_04 / "gunicorn.conf.py").read_text().replace(" ", "")
    # 2*cores+1, with the cores counted by the conf file (a CPU count, maybe rounded up)
    default = re.escape(bench.GUNICORN_DEFAULT_WORKERS).replace("cores", r"[\w.]+\([^)]*\)*")
    assert re.search(r'os\.environ\.get\("GUNICORN_WORKERS"\)or' + default, conf), conf
    full, quick = bench.load_config("full")[0], bench.load_config("quick")[0]
    assert "workers" not in quick, "the quick run (test suite) must not run the sweep"
    assert full["workers_stage"] == STAGE_04.name
    for cores in (1, 2, 4, 8):
        counts = {bench.worker_count(formula, cores) for formula in full["workers"]}
        assert {1, bench.worker_count(bench.GUNICORN_DEFAULT_WORKERS, cores)} <= counts


def sweep_fixture() -> dict:
    def point(count, formulas, rps, web):
        return {"workers": count, "formulas": formulas, "rps": spread(rps), "p50_ms": spread(20.0),
                "p99_ms": spread(80.0), "errors": 0, "wrk_cpu_share": spread(0.3),
                "memory_mib": {"web": spread(web)}, "throttled_share": 0.1}

    return {"stage": "04-hardening", "date": "2026-01-02T03:04:05+00:00", "cores": 2,
            "cores_from": "web's CPU limit, rounded up",
            "web_limits": {"cpus": 1.5, "memory_mib": 512.0}, "default": "2*cores+1",
            "default_workers": 5, "seconds": 200.0,
            "config": {"repetitions": 3, "warmup_seconds": 2, "load_seconds": 10, "connections": 16,
                       "threads": 1},
            "points": [point(1, ["1"], 111.0, 70.0), point(2, ["cores"], 222.0, 90.0),
                       point(5, ["2*cores+1"], 333.0, 120.0), point(9, ["4*cores+1"], 321.0, 150.0)]}


def test_results_page_renders_the_worker_sweep(tmp_path):
    results = results_fixture()
    results["workers"] = sweep_fixture()
    page = docs_hooks.results_page(write(tmp_path, results))
    section = page.split("## gunicorn workers", 1)[1].split("\n## ", 1)[0]
    assert "`cores` is 2 (web's CPU limit, rounded up), and the stage's compose.yaml limits web to " \
           "1.5 CPU and 512 MiB" in section
    assert "| **5** (default) | `2*cores+1` | 333 (300 – 366) | 100% |" in section
    assert "| 1 | `1` | 111 (100 – 122) | 33% |" in section
    assert "| 9 | `4*cores+1` | 321 (289 – 353) | 96% |" in section
    assert '    x-axis ["1", "2", "5 (default)", "9"]' in section
    assert "    bar [111.0, 222.0, 333.0, 321.0]" in section, "requests/s chart"
    assert "    bar [70.0, 90.0, 120.0, 150.0]" in section, "memory chart"
    assert section.count("xychart-beta") == 2
    del results["workers"]
    assert "No worker sweep in these results yet" in docs_hooks.results_page(write(tmp_path, results))


def test_the_sweep_alone_is_merged_and_keeps_the_rest_of_the_results(tmp_path, monkeypatch):
    output = write(tmp_path, results_fixture())
    kept = json.loads(output.read_text())
    asked = {}

    def measure(config, progress):
        asked.update(config)
        return sweep_fixture()

    monkeypatch.setattr("workbook.bench.run.measure_workers", measure)
    bench.run_only("workers", "full", output, overrides={"load_seconds": 3})
    merged = json.loads(output.read_text())
    assert merged.pop("workers")["points"] == sweep_fixture()["points"]
    assert merged == kept
    assert asked["load_seconds"] == 3
    assert asked["workers"] == bench.load_config("full")[0]["workers"]
    with pytest.raises(WorkbookError, match="no worker sweep"):
        bench.run_only("workers", "quick", output)


def test_readme_reason_for_the_default_workers_holds_for_the_committed_sweep():
    """Stage 04's README explains the default 2 x cores + 1 by the sweep on the results page: the
    default comes close to the best throughput (at least 90 %) and above a single worker, and
    memory grows with each worker. The committed measurement must still say so."""
    readme = " ".join((STAGE_04 / "README.md").read_text().split())
    for claim in ('"gunicorn workers" section', "results page", "close to the best throughput",
                  "more than a single worker", "memory grows with each worker"):
        assert claim in readme
    results = json.loads(bench.RESULTS_FILE.read_text())
    if results.get("meta", {}).get("format") != bench.RESULTS_FORMAT:
        pytest.skip("bench/results.json predates the current benchmark (no meta.format "
                    f"{bench.RESULTS_FORMAT}): run `make bench` to measure the sweep again")
    assert "workers" in results, ("bench/results.json has no worker sweep, which stage 04's README "
                                  "refers to: run `.venv/bin/workbook bench --only workers` (or make bench)")
    sweep = results["workers"]
    points = {point["workers"]: point for point in sweep["points"]}
    default = bench.worker_count(bench.GUNICORN_DEFAULT_WORKERS, sweep["cores"])
    assert sweep["default_workers"] == default
    assert {1, default} <= points.keys(), "the default and a single worker were measured"
    assert points[default]["errors"] == 0, "the default serves every request"
    rps = {count: point["rps"]["median"] for count, point in points.items()}
    best = max(rps, key=rps.get)
    assert rps[default] >= 0.9 * rps[best], (
        f"{default} workers (the default) give {rps[default] / rps[best]:.0%} of the best, {best} workers")
    assert rps[default] > rps[1], "the default serves more than a single worker"
    memory = [points[count]["memory_mib"]["web"]["median"] for count in sorted(points)]
    assert memory == sorted(memory), "memory grows with each worker"
    assert memory[0] < memory[-1]


# --- the rolling update (stage 05) ---------------------------------------------------------------------

def test_the_rollout_runs_only_in_the_full_run_and_outlasts_nothing_it_measures():
    full, quick = bench.load_config("full")[0], bench.load_config("quick")[0]
    assert "rollout_stage" not in quick, "the quick run (test suite) must not deploy to Swarm"
    assert (REPO_ROOT / "stages" / full["rollout_stage"] / "pipeline.sh").is_file()


def test_swarm_timestamps_are_read_to_the_microsecond():
    started = bench._swarm_time("2026-11-25T11:49:53.407462432Z")
    completed = bench._swarm_time("2026-11-25T11:50:44.808180159Z")
    assert (completed - started).total_seconds() == pytest.approx(51.400718)


def rollout_fixture(errors=0) -> dict:
    return {"stage": "05-ci", "date": "2026-01-02T03:04:05+00:00", "replicas": 2, "seconds": 300.0,
            "config": {"connections": 16, "threads": 1, "rollout_load_seconds": 90, "rollout_repetitions": 1},
            "update_seconds": spread(41.5, [41.5]), "errors": errors,
            "rollouts": [{"release": "abc-r1", "update_seconds": 41.5, "requests": 9000, "errors": errors,
                          "rps": 100.0}]}


def test_results_page_renders_the_rollout_and_failed_rollout_requests_miss_the_gate(tmp_path):
    results = results_fixture() | {"rollout": rollout_fixture()}
    page = docs_hooks.results_page(write(tmp_path, results))
    section = page.split("## Rolling update", 1)[1].split("\n## ", 1)[0]
    assert "to 2 web replicas while wrk, with 16 connections for 90 s" in section
    assert "| `abc-r1` | 41.5 | 9000 | 100 | 0 |" in section
    alone = {"rollout": rollout_fixture()}
    assert not bench.check(alone, {"max_errors": 0}, only="rollout")
    missed = bench.check({"rollout": rollout_fixture(errors=3)}, {"max_errors": 0, "min_x": 1},
                         only="rollout")
    assert missed == ["05-ci: 3 failed requests while rolling out abc-r1"]


# --- one node against three (stage 05) -------------------------------------------------------------

def test_one_node_against_three_runs_only_in_the_full_run():
    full, quick = bench.load_config("full")[0], bench.load_config("quick")[0]
    assert "cluster_stage" not in quick, "the quick run (test suite) must not start a cluster"
    assert (REPO_ROOT / "stages" / full["cluster_stage"] / "cluster.sh").is_file()
    assert "cluster" in bench.SECTIONS


def cluster_fixture(crash_errors=0, rollout_errors=0) -> dict:
    def rollout(release, took, errors=0):
        return {"release": release, "update_seconds": took, "requests": 5000, "errors": errors}

    return {"stage": "05-ci", "date": "2026-01-02T03:04:05+00:00", "replicas": 3, "seconds": 900.0,
            "config": {"connections": 16, "threads": 1, "cluster_load_seconds": 75, "cluster_repetitions": 1},
            "rollout": {"one_node": spread(30.0, [30.0]), "three_nodes": spread(36.0, [36.0]),
                        "three_over_one": spread(1.2, [1.2]),
                        "runs": {"one": [rollout("a-r1", 30.0)],
                                 "three": [rollout("b-r1", 36.0, rollout_errors)]}},
            "node_lost": {"seen_down_seconds": spread(12.0, [12.0]),
                          "full_strength_seconds": spread(24.0, [24.0]),
                          "rejoin_seconds": spread(4.0, [4.0]), "errors": crash_errors,
                          "runs": [{"node": "node2", "seen_down_seconds": 12.0, "full_strength_seconds": 24.0,
                                    "rejoin_seconds": 4.0, "requests": 6000, "errors": crash_errors,
                                    "failures": {"timeouts": crash_errors} if crash_errors else {}}]}}


def test_one_node_against_three_is_a_table_in_pages_and_failed_rollouts_miss_the_gate(tmp_path):
    results_file = write(tmp_path, results_fixture() | {"cluster": cluster_fixture()})
    table = report.insert_figures("[[bench-cluster]]", results_file)
    assert ("| Rolling update of the release, Swarm's own time (s) | 30.0 (30.0 – 30.0) "
            "| 36.0 (36.0 – 36.0) |") in table
    assert "| Its time on three nodes over one, round by round | | 1.20 (1.20 – 1.20) |" in table
    assert "| A node crashed: failed requests | – | 0 of 6000 |" in table
    assert "## One node against three" in docs_hooks.results_page(results_file)
    # A crash is a fault: its failed requests are shown by kind, not gated; a rollout's are gated.
    crashed = write(tmp_path, results_fixture() | {"cluster": cluster_fixture(crash_errors=2)})
    assert "| A node crashed: failed requests | – | 2 of 6000 (timeouts 2) |" in \
        report.insert_figures("[[bench-cluster]]", crashed)
    assert not bench.check({"cluster": cluster_fixture(crash_errors=2)}, {"max_errors": 0}, only="cluster")
    missed = bench.check({"cluster": cluster_fixture(rollout_errors=3)}, {"max_errors": 0}, only="cluster")
    assert missed == ["05-ci: 3 failed requests while rolling out b-r1 on three node(s)"]
    assert "not measured yet" in report.insert_figures("[[bench-cluster]]", tmp_path / "missing.json")


# --- the results page -----------------------------------------------------------------------------------

def test_results_page_renders_every_section_of_the_current_format(tmp_path):
    page = docs_hooks.results_page(write(tmp_path, results_fixture()))
    assert page.startswith("# Benchmark results\n")
    gates = page.split("## Gates", 1)[1].split("\n## ", 1)[0]
    assert ("| `min_cached_over_uncached_04_hardening` | cached_over_uncached_04_hardening | 2.12 | 1.5 "
            "| pass |") in gates
    assert "| `max_errors` | failed requests, every load run | 0 | 0 | pass |" in gates
    assert "| `control_pair` | control_pair_04_hardening | 1.01 | 0.9-1.1 | pass |" in gates
    loads = page.split("## Requests per second, each load apart", 1)[1].split("\n## ", 1)[0]
    assert "| 01-basic | 600 (540 – 660) | 400 (360 – 440) | 150 (135 – 165) | 140 (126 – 154) | " \
           "160 (144 – 176) |" in loads
    assert ("| 04-hardening, visits counted synchronously | – | – | 320 (288 – 352) | – "
            "| 600 (540 – 660) |") in loads
    assert "| 01-basic | write | 4 |" in loads, "the connections of each load are shown"
    pairs_page = page.split("## 04-hardening: variants in pairs", 1)[1].split("\n## ", 1)[0]
    cache = pairs.PAIRS["cache"][2]
    assert f"| `cached_over_uncached` | {cache} | cached | uncached | 2.12 (2.00 – 2.19) |" in pairs_page
    assert "`control_pair`" in pairs_page
    assert "0.9–1.1" in pairs_page
    assert "| sync | " + pairs.VARIANTS["sync"].description + " | hit | database |" in pairs_page
    transactions = page.split("## PostgreSQL transactions per 1,000 redirects", 1)[1].split("\n## ", 1)[0]
    assert "| 03-compose | 600 | 1000 | 1666.7 |" in transactions
    assert "| 04-hardening | 2000 | 4 | 2.0 |" in transactions
    assert "`pg_transactions_04_hardening_over_03_compose` = 0.0012" in transactions
    resources = page.split("## The load generator and the containers", 1)[1].split("\n## ", 1)[0]
    assert "| 04-hardening | redirect | 25% | web: 0% | web: 130 |" in resources
    assert "Peak memory was reset before each run" in resources
    for heading in ("## Image size", "## Build time", "## Start-up", "## Ratios", "## gunicorn workers",
                    "## Rolling update"):
        assert heading in page


def test_results_page_notes_results_of_an_older_format_or_none(tmp_path):
    old = copy.deepcopy(results_fixture())
    del old["meta"]["format"]
    page = docs_hooks.results_page(write(tmp_path, old))
    assert "predate the current benchmark" in page
    assert "make bench" in page
    assert "## Gates" not in page
    assert "No measurements yet" in docs_hooks.results_page(tmp_path / "missing.json")
    assert docs_hooks.results_page is report.results_page


class FakeStack:
    """A stack 04 without Docker: web's environment decides the headers and counters it shows."""

    stage = "04-hardening"
    url = "http://127.0.0.1:8080"
    direct_url = "http://127.0.0.1:8000"

    def __init__(self):
        self.env, self.stopped, self.switches, self.counters = {}, (), [], {}

    def switch(self, env, stopped=()):
        if env == self.env and tuple(stopped) == self.stopped:
            return False
        self.env, self.stopped = dict(env), tuple(stopped)
        self.switches.append((dict(env), tuple(stopped)))
        return True

    def header_check(self, url):
        if "redis" in self.stopped:
            return {"X-Cache": "bypass", "X-Visits": "memory"}
        cache = "off" if self.env.get("CACHE_TTL_SECONDS") == "0" else "hit"
        visits = "database" if self.env.get("VISIT_COUNTING") == "sync" else "redis"
        return {"X-Cache": cache, "X-Visits": visits}

    def serve(self, requests):
        headers = self.header_check(self.url)
        samples = [f'visits_counted_total{{where="{headers["X-Visits"]}"}}']
        if headers["X-Cache"] in ("hit", "bypass"):
            samples.append(f'cache_lookups_total{{result="{headers["X-Cache"]}"}}')
        for sample in samples:
            self.counters[sample] = self.counters.get(sample, 0) + requests

    def metrics(self):
        return "\n".join(f"{sample} {value}" for sample, value in self.counters.items())


def test_pairs_switch_web_only_when_the_variant_changes_and_check_every_proof(monkeypatch):
    fake, urls = FakeStack(), []
    rps = {(): 1000.0, (("CACHE_TTL_SECONDS", "0"),): 400.0, (("VISIT_COUNTING", "sync"),): 300.0,
           "redis stopped": 360.0}

    def load_run(stack, url, config, connections):
        urls.append(url)
        fake.serve(2000)
        key = "redis stopped" if stack.stopped else tuple(sorted(stack.env.items()))
        value = rps[key] * (1.1 if url.startswith(fake.direct_url) else 1)
        return {"rps": value, "requests": 2000, "errors": 0, "containers": {}}

    monkeypatch.setattr(pairs, "load_run", load_run)
    monkeypatch.setattr(pairs, "wrk", lambda *args, **kwargs: {})
    config = {"pair_repetitions": 3, "warmup_seconds": 1, "load_seconds": 2, "connections": 8, "threads": 1}
    found = pairs.measure_pairs(fake, config, "abc", [0.9, 1.1], lambda stage, step: None)
    # 4 switches in the first repetition, 3 in the others (none between repetitions), and one
    # back to the stack as shipped at the end.
    assert len(fake.switches) == 11
    assert fake.switches[-1] == ({}, ())
    assert ({}, ("redis",)) in fake.switches, "Redis stopped for its variant"
    assert len(urls) == 18
    assert urls.count(fake.direct_url + "/abc") == 3
    assert found["pairs"]["cache"]["ratio"]["median"] == pytest.approx(2.5)
    assert found["pairs"]["visits"]["ratio"]["median"] == pytest.approx(1000 / 300)
    assert found["pairs"]["proxy"]["ratio"]["median"] == pytest.approx(1 / 1.1)
    assert found["pairs"]["control"]["ratio"]["median"] == pytest.approx(1.0)
    assert found["pairs"]["redis_down"]["ratio"]["median"] == pytest.approx(360 / 400)
    assert pairs.control_verdict(found["pairs"], found["control_bounds"]) is None

    def lying_load_run(stack, url, config, connections):  # Redis counts every visit, whatever web says
        stack.counters['visits_counted_total{where="redis"}'] = (
            stack.counters.get('visits_counted_total{where="redis"}', 0) + 2000)
        return {"rps": 1000.0, "requests": 2000, "errors": 0, "containers": {}}

    monkeypatch.setattr(pairs, "load_run", lying_load_run)
    with pytest.raises(WorkbookError, match="the redis_down variant") as error:
        pairs.measure_pairs(FakeStack(), config, "abc", [0.9, 1.1], lambda stage, step: None)
    assert 'cache_lookups_total{result="bypass"} grew by 0 over 2000 requests' in error.value.detail


def test_pages_cite_figures_by_name_from_the_results(tmp_path):
    results_file = tmp_path / "results.json"
    results_file.write_text(json.dumps(results_fixture()))
    page = ("gunicorn: [[bench:ceiling_02_gunicorn_over_01_basic]] the dev server; "
            "[[bench:web_peak_mib_04_hardening]].")
    assert report.insert_figures(page, results_file) == "gunicorn: 1.67× the dev server; 143 MiB."
    with pytest.raises(KeyError, match="no_such_figure"):
        report.insert_figures("[[bench:no_such_figure]]", results_file)
    old = results_fixture()
    old["meta"].pop("format")
    results_file.write_text(json.dumps(old))
    assert "not measured yet" in report.insert_figures(page, results_file)
    assert report.insert_figures("no mark", tmp_path / "missing.json") == "no mark"


# --- the fault matrix -------------------------------------------------------------------------------

def faults_fixture(lost_links=0, visits_lost=0) -> dict:
    def fault(name, failures, recovery, lost=0, bound=0):
        return {"fault": name, "what": faults.how(name, "Compose"), "recovery_s": recovery, "requests": 900,
                "failed": sum(failures.values()), "failures": failures, "redirects_served": 800,
                "links_created": 50, "lost_links": 0, "visits_served": 801,
                "visits_in_postgres": 801 - lost,
                "visits_lost": lost, "visits_bound": bound}

    found = {"worker_kill": fault("worker_kill", {}, 0.1),
             "postgres_restart": fault("postgres_restart", {"create: 503": 3}, 2.5),
             "redis_restart": fault("redis_restart", {}, 0.4, lost=visits_lost, bound=120)}
    found["postgres_restart"]["lost_links"] = lost_links
    return {"seconds": 60.0, "config": {"fault_calm_seconds": 2, "fault_max_seconds": 60},
            "stages": {"04-hardening": {"orchestrator": "Compose", "faults": found}}}


def test_the_fault_matrix_is_a_table_and_its_gates_name_what_was_lost(tmp_path):
    table = "\n".join(report.faults_table(faults_fixture(visits_lost=40)))
    row = "| `postgres_restart`: docker compose restart db | 900 | 3 | create: 503 ×3 | 2.5 | 0 | 0 (0) |"
    assert row in table
    assert "| `redis_restart`: docker compose restart redis (a cache without persistence: it comes back " \
        "empty) | 900 | 0 | – | 0.4 | 0 | 40 (120) |" in table
    # Each row says how the fault was done under its own orchestrator.
    assert faults.how("postgres_restart", "Swarm").startswith("docker service update --force of db")
    thresholds = {"max_fault_lost_links": 0, "fault_visits_within_bounds": True}
    assert bench.check({"stages": {}, "faults": faults_fixture(visits_lost=40)}, thresholds) == []
    missed = bench.check({"stages": {}, "faults": faults_fixture(lost_links=2, visits_lost=130)}, thresholds)
    assert missed == [
        "04-hardening postgres_restart: 2 links that got a 201 are not readable (gate max_fault_lost_links)",
        "04-hardening redis_restart: 130 visits lost, outside the README's bound 0-120 "
        "(gate fault_visits_within_bounds)"]
    only = bench.check({"faults": faults_fixture(lost_links=1)}, {"max_errors": 0, **thresholds},
                       only="faults")
    assert only == [
        "04-hardening postgres_restart: 1 links that got a 201 are not readable (gate max_fault_lost_links)"]
    # On a page: the marker line becomes the table.
    results_file = tmp_path / "results.json"
    results = results_fixture() | {"faults": faults_fixture()}
    results_file.write_text(json.dumps(results))
    page = report.insert_figures("Faults:\n\n[[bench-faults:04-hardening]]\n", results_file)
    assert "**04-hardening, under Compose**" in page
    assert "| `worker_kill`: kill -9 of one gunicorn worker (the master forks a new one) | 900 | 0 | – | " \
        "0.1 | 0 | 0 (0) |" in page


def test_traffic_only_goes_to_loopback():
    from workbook.bench.faults import Traffic

    with pytest.raises(ValueError, match="127.0.0.1"):
        Traffic("http://192.0.2.1:80", "abc")


def test_every_fault_of_the_config_is_known():
    from workbook.bench.faults import FAULTS

    for mode in ("quick", "full"):
        config = bench.load_config(mode)[0]
        assert set(config["faults"]) <= set(FAULTS)
        assert config["faults_stages"][0] == "04-hardening"
    assert bench.load_config("full")[0]["faults_stages"] == ["04-hardening", "05-ci"]
    assert set(bench.load_config("full")[0]["faults"]) == set(FAULTS), "the full run has every fault"


# --- pip's cache mount --------------------------------------------------------------------------

@pytest.mark.parametrize("stage", [s for s in stages.names() if s != "01-basic"])
def test_without_cache_mount_is_the_dockerfile_with_stage_01s_pip(stage):
    dockerfile = (REPO_ROOT / "stages" / stage / "Dockerfile").read_text()
    plain = buildcache.without_cache_mount(dockerfile)
    assert "--mount=type=cache" not in plain
    assert plain.count("pip install --no-cache-dir ") == dockerfile.count("pip install ") >= 1
    # Nothing else changes.
    assert plain.replace("pip install --no-cache-dir ", "pip install ") == \
        dockerfile.replace(buildcache.PIP_CACHE_MOUNT, "RUN ")


def test_stage_01_has_no_cache_mount_to_take_out():
    with pytest.raises(WorkbookError, match="no pip cache mount"):
        buildcache.without_cache_mount((REPO_ROOT / "stages" / "01-basic" / "Dockerfile").read_text())


PIP_STEP = """#8 [2/5] RUN apt-get update && apt-get install -y gcc
#8 2.1 Downloading the lists of packages
#9 [4/5] RUN --mount=type=cache,target=/root/.cache/pip     pip install -r requirements.txt
#9 0.9 Collecting flask==3.1.0 (from -r requirements.txt (line 1))
#9 0.9   {how} flask-3.1.0-py3-none-any.whl.metadata (2.7 kB)
#9 1.0   {how} flask-3.1.0-py3-none-any.whl (103 kB)
#9 1.1 Collecting gunicorn==23.0.0 (from -r requirements.txt (line 2))
#9 1.1   {how} gunicorn-23.0.0-py3-none-any.whl (85 kB)
#9 DONE 4.2s
"""


def test_pip_proof_counts_the_files_and_checks_the_side():
    cached = buildcache.pip_proof("mount", PIP_STEP.format(how="Using cached"))
    assert (cached["downloaded"], cached["from_cache"], cached["problems"]) == (0, 2, [])
    # Downloads with the mount are a finding (an index that forbids caching), not a wrong side.
    assert buildcache.pip_proof("mount", PIP_STEP.format(how="Downloading"))["problems"] == []
    plain = PIP_STEP.replace("--mount=type=cache,target=/root/.cache/pip     ", "")
    downloaded = buildcache.pip_proof("no_mount", plain.format(how="Downloading"))
    assert (downloaded["downloaded"], downloaded["from_cache"], downloaded["problems"]) == (2, 0, [])
    # A build that is not the side it claims is caught.
    assert buildcache.pip_proof("mount", plain.format(how="Downloading"))["problems"]
    assert buildcache.pip_proof("no_mount", PIP_STEP.format(how="Downloading"))["problems"]
    assert buildcache.pip_proof("no_mount", plain.format(how="Using cached"))["problems"]
    with pytest.raises(WorkbookError, match="no `RUN ... pip install` step"):
        buildcache.pip_proof("mount", "#1 [1/1] FROM python:3.13-slim\n#1 DONE 0.0s\n")


def buildcache_fixture(from_cache=15, caches_here=True) -> dict:
    def runs(side, seconds):
        downloaded = 15 if side == "no_mount" else 15 - from_cache
        got = from_cache if side == "mount" else 0
        return [{"seconds": seconds, "proof": {"downloaded": downloaded, "from_cache": got, "problems": []}}]

    return {"stage": "02-gunicorn", "date": "2026-01-02T03:04:05+00:00", "seconds": 300.0,
            "config": {"buildcache_repetitions": 1}, "pip_caches_here": caches_here,
            "figures": {kind: {"mount_s": spread(a, [a]), "no_mount_s": spread(b, [b]),
                               "mount_over_no_mount": spread(a / b, [a / b])}
                        for kind, a, b in (("dependency_change", 6.0, 12.0), ("cold", 50.0, 60.0))},
            "runs": {kind: {"mount": runs("mount", 6.0), "no_mount": runs("no_mount", 12.0)}
                     for kind in ("dependency_change", "cold")}}


def test_the_cache_mount_is_a_table_in_pages_and_says_when_pip_cached_nothing(tmp_path):
    results_file = write(tmp_path, results_fixture() | {"buildcache": buildcache_fixture()})
    table = report.insert_figures("[[bench-buildcache]]", results_file)
    assert ("| After a change of `requirements.txt` (the steps before it cached) | 6.0 (6.0 – 6.0) "
            "| 12.0 (12.0 – 12.0) | 0.50 (0.50 – 0.50) | 0 downloaded, 15 from its cache / "
            "15 downloaded, 0 from its cache |") in table
    assert "pip took nothing from its cache" not in table
    assert "## pip's cache mount" in docs_hooks.results_page(results_file)
    nothing = write(tmp_path, results_fixture() | {"buildcache": buildcache_fixture(0, caches_here=False)})
    assert "pip took nothing from its cache, mount or not" in \
        report.insert_figures("[[bench-buildcache]]", nothing)
    assert "not measured yet" in report.insert_figures("[[bench-buildcache]]", tmp_path / "missing.json")


def test_the_first_run_is_a_table_with_a_total(tmp_path):
    firstrun = {"date": "2026-01-02T03:04:05+00:00", "seconds": 400.0,
                "venv": {"seconds": 60.0, "bytes": 300e6},
                "first_start": {"stage": "05-ci", "seconds": 120.0, "added_bytes": 500e6,
                                "images": {"python:3.13-slim": 100e6, "postgres:17": 400e6}},
                "docs": {"seconds": 20.0, "bytes": 50e6}}
    results_file = write(tmp_path, results_fixture() | {"firstrun": firstrun})
    table = report.insert_figures("[[bench-firstrun]]", results_file)
    assert "| The workbook's virtual environment `.venv`, from the lock | 60 | 300.0 |" in table
    assert "(`python:3.13-slim`, `postgres:17`) | downloading them: your network | 500.0 |" in table
    assert "| **Together**, without the downloads | **200** | **1350.0** |" in table
    assert "not measured yet" in report.insert_figures("[[bench-firstrun]]", tmp_path / "missing.json")


def test_every_section_of_the_full_run_can_run_alone():
    from workbook import cli
    assert set(cli.BENCH_SECTIONS) == set(bench.SECTIONS)
    full = bench.load_config("full")[0]
    assert all(full.get(option) for option, _ in bench.SECTIONS.values())

"""The benchmark's quick run: every stage measured in one run, figures sane, ratios within the
thresholds of bench/config.toml, no failed request under load, nothing left running."""

import json
import subprocess
import sys
import time

import pytest

from workbook import REPO_ROOT, bench, stages
from workbook.docker import leftovers


def test_quick_benchmark_meets_its_thresholds(tmp_path):
    output = tmp_path / "quick.json"
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "workbook", "bench", "--quick", "--check",
                             "--output", str(output)], cwd=REPO_ROOT, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert elapsed < 120, f"the quick run took {elapsed:.0f} s"

    results = json.loads(output.read_text())
    assert sorted(results["stages"]) == stages.names()
    for stage, figures in results["stages"].items():
        assert figures["load"]["errors"] == 0, stage
        assert figures["load"]["rps"]["median"] > 0
        assert figures["load"]["p50_ms"]["median"] <= figures["load"]["p99_ms"]["median"]
        assert figures["image"]["floor_bytes"] < figures["image"]["size_bytes"]
        assert figures["startup"]["first_200_s"]["median"] > 0
        assert "web-1" in figures["load"]["memory_mib"]
    assert "rps_02_gunicorn_over_01_basic" in results["ratios"]
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


def test_thresholds_are_checked():
    results = {"ratios": {"rps_02_gunicorn_over_01_basic": 0.9, "rebuild_ordered_over_naive_x": 0.9},
               "stages": {"01-basic": {"load": {"errors": 2}}}}
    thresholds = {"min_rps_02_gunicorn_over_01_basic": 1.1, "max_rebuild_ordered_over_naive": 0.8,
                  "max_errors": 0}
    failures = bench.check(results, thresholds)
    assert len(failures) == 3

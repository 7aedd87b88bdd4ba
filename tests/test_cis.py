"""The CIS tables of the docs (workbook/cis.py): rendered from a stage's cis-docker-benchmark.toml
and the outcomes of its tests in a recorded run (bench/cis.json)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbook.cis import (
    CIS_FILE,
    RECORD_FILE,
    STAGES_DIR,
    cis_table,
    insert_cis_tables,
    junit_outcomes,
    load_checks,
    recorded_outcomes,
)

DATE = "2026-11-30T10:00:00+00:00"

SMALL = '''
[[check]]
id = "4.1"
title = "Ensure that a user for the container has been created"
test = "test_cis_4_1_a_user"

[[check]]
id = "4.5"
title = "Ensure Content trust for Docker is Enabled"
not_applicable = "No registry with Notary."

[[check]]
id = "4.4"
title = "Ensure images are scanned"
not_tested = "No scanner | offline."
note = "Rebuilt on every run."

[[check]]
id = "5.1"
title = "Ensure swarm mode is not Enabled, if not needed"
host = "A setting of the engine."
'''


@pytest.fixture
def stages(tmp_path) -> Path:
    (tmp_path / "99-demo").mkdir()
    (tmp_path / "99-demo" / CIS_FILE).write_text(SMALL)
    record = {"date": DATE, "engine": "26.1", "stages": {"99-demo": {
        "command": "pytest", "summary": "1 passed", "outcomes": {"test_cis_4_1_a_user": "passed"}}}}
    (tmp_path / "cis.json").write_text(json.dumps(record))
    return tmp_path


def test_a_table_row_per_check_says_what_stands_for_it(stages):
    table = cis_table(stages / "99-demo" / CIS_FILE, {"test_cis_4_1_a_user": "passed"}, DATE).splitlines()
    assert table[0] == ("**4 checks: 1 tested, 1 not applicable, 1 not tested, 1 host setting.** "
                        "Tests passed in the recorded run (2026-11-30): 1 of 1.")
    assert table[2].startswith("| Check | Recommendation")
    rows = table[4:]
    assert rows == [
        "| 4.1 | Ensure that a user for the container has been created | "
        "tested, passed: `test_cis_4_1_a_user` |",
        "| 4.5 | Ensure Content trust for Docker is Enabled | not applicable: No registry with Notary. |",
        "| 4.4 | Ensure images are scanned | not tested: No scanner \\| offline. Rebuilt on every run. |",
        "| 5.1 | Ensure swarm mode is not Enabled, if not needed | host setting: A setting of the engine. |",
    ]


def test_a_failed_test_shows_as_failed_and_a_test_without_an_outcome_fails_the_build(stages):
    path = stages / "99-demo" / CIS_FILE
    table = cis_table(path, {"test_cis_4_1_a_user": "failed"}, DATE)
    assert "passed in the recorded run (2026-11-30): 0 of 1." in table
    assert "| tested, failed: `test_cis_4_1_a_user` |" in table
    with pytest.raises(KeyError, match="test_cis_4_1_a_user"):
        cis_table(path, {"test_cis_other": "passed"}, DATE)


def test_the_marker_becomes_the_table_and_the_rest_of_the_page_stays(stages):
    page = "# Page\n\nBefore.\n\n[[cis:99-demo]]\n\nAfter `[[cis:99-demo]]` inline stays.\n"
    out = insert_cis_tables(page, stages, stages / "cis.json")
    assert out.startswith("# Page\n\nBefore.\n\n**4 checks:")
    assert out.endswith("\n\nAfter `[[cis:99-demo]]` inline stays.\n")
    assert out.count("| 4.1 |") == 1
    assert insert_cis_tables("no marker", stages, stages / "cis.json") == "no marker"


def test_a_stage_without_a_file_or_a_record_fails_the_build(stages):
    with pytest.raises(FileNotFoundError):
        insert_cis_tables("[[cis:00-nothing]]\n", stages, stages / "cis.json")
    with pytest.raises(FileNotFoundError, match="workbook cis"):
        insert_cis_tables("[[cis:99-demo]]\n", stages, stages / "none.json")


def test_outcomes_are_read_from_pytests_junit_report(tmp_path):
    """A real pytest run's report: one test per outcome, and a parametrized one with a failed case."""
    (tmp_path / "test_demo.py").write_text(
        "import pytest\n"
        "def test_cis_ok(): pass\n"
        "def test_cis_bad(): assert False\n"
        "@pytest.mark.skip(reason='no')\n"
        "def test_cis_skipped(): pass\n"
        "@pytest.mark.parametrize('n', [1, 2])\n"
        "def test_cis_param(n): assert n == 1\n"
        "@pytest.mark.parametrize('n', [1, 2])\n"
        "def test_cis_all_ok(n): pass\n")
    report = tmp_path / "junit.xml"
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                    "test_demo.py"], cwd=tmp_path, capture_output=True)
    assert junit_outcomes(report) == {"test_cis_ok": "passed", "test_cis_bad": "failed",
                                      "test_cis_skipped": "skipped", "test_cis_param": "failed",
                                      "test_cis_all_ok": "passed"}


@pytest.mark.parametrize("extra", ["", 'host = "also a host setting"\n'])
def test_a_check_needs_exactly_one_kind(tmp_path, extra):
    path = tmp_path / CIS_FILE
    second = 'test = "test_cis_4_1_x"\n' if extra else ""
    path.write_text(f'[[check]]\nid = "4.1"\ntitle = "T"\n{extra}{second}')
    with pytest.raises(ValueError, match="exactly one"):
        load_checks(path)


@pytest.mark.parametrize("path", sorted(STAGES_DIR.glob(f"*/{CIS_FILE}")), ids=lambda path: path.parent.name)
def test_the_committed_files_render_with_every_test_passed_in_the_record(path):
    outcomes, date = recorded_outcomes(path.parent.name)
    tested = [check["test"] for check in load_checks(path) if "test" in check]
    assert {test: outcomes.get(test) for test in tested} == {test: "passed" for test in tested}, RECORD_FILE
    table = cis_table(path, outcomes, date)
    ids = [check["id"] for check in load_checks(path)]
    assert len(ids) == 44
    assert all(f"| {check_id} |" in table for check_id in ids)
    assert insert_cis_tables(f"[[cis:{path.parent.name}]]\n") == table + "\n"


def test_both_hardened_stages_have_a_file():
    assert {path.parent.name for path in STAGES_DIR.glob(f"*/{CIS_FILE}")} >= {"04-hardening", "05-ci"}

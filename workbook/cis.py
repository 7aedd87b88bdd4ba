"""The CIS tables of the docs: `[[cis:STAGE]]` on a line of its own becomes the table of
stages/STAGE/cis-docker-benchmark.toml, every check of the CIS Docker Benchmark's sections 4 and 5
with the test that proves it, or why none does. The file is the one the stage's own
tests/test_hardening.py checks against its tests, so the page cannot list a test that is not there.

What a tested check shows is the outcome of its test in a recorded run (`workbook cis`,
run by `make record`, writes bench/cis.json): the stage's CIS tests against its real containers,
each test's outcome read from pytest's JUnit XML. A check whose test the record lacks fails the
docs build, so a renamed or new test cannot show an outcome nobody measured."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import tomllib
import xml.etree.ElementTree as ElementTree
from datetime import UTC, datetime
from pathlib import Path

from . import REPO_ROOT, STAGES_DIR
from .docker import engine_version
from .errors import WorkbookError
from .generated_zh import localize

RECORD_FILE = REPO_ROOT / "bench" / "cis.json"
CIS_FILE = "cis-docker-benchmark.toml"
CIS_TESTS = "tests/test_hardening.py"
CIS_MARK = re.compile(r"^\[\[cis:([\w.-]+)\]\]$", re.MULTILINE)
# What an entry may say about a check, and how the table says it.
KINDS = {"test": "tested", "not_applicable": "not applicable", "not_tested": "not tested",
         "host": "host setting"}


def load_checks(path: Path) -> list[dict]:
    """The checks of a CIS file, each with exactly one of KINDS (an error otherwise)."""
    checks = tomllib.loads(path.read_text())["check"]
    for check in checks:
        kinds = [kind for kind in KINDS if kind in check]
        if not check.get("id") or not check.get("title") or len(kinds) != 1:
            raise ValueError(f"{path}: check {check.get('id', '?')} needs an id, a title and exactly "
                             f"one of {', '.join(KINDS)} (has {', '.join(kinds) or 'none'})")
    return checks


def cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def junit_outcomes(report: Path) -> dict[str, str]:
    """Each test case of a JUnit XML report (pytest's --junitxml): passed, failed, error or skipped.
    A parametrized test counts as passed only when every one of its cases passed."""
    outcomes: dict[str, str] = {}
    for case in ElementTree.parse(report).getroot().iter("testcase"):
        name = case.get("name", "").split("[")[0]
        found = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}.get(
            found[0] if found else "", "passed")
        if outcomes.get(name, "passed") == "passed":
            outcomes[name] = outcome
    return outcomes


def record(stages_dir: Path = STAGES_DIR, output: Path = RECORD_FILE, progress=print) -> dict:
    """Run every CIS test of each stage that has a CIS file (`pytest tests/test_hardening.py -k
    test_cis_`, as a reader would, with this Python's pytest) and write their outcomes."""
    stages = {}
    for path in sorted(stages_dir.glob(f"*/{CIS_FILE}")):
        stage = path.parent
        progress(f"{stage.name}: pytest {CIS_TESTS} -k test_cis_")
        with tempfile.TemporaryDirectory(prefix="workbook-cis-") as tmp:
            report = Path(tmp) / "junit.xml"
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", CIS_TESTS,
                       "-k", "test_cis_", f"--junitxml={report}"]
            finished = subprocess.run(command, cwd=stage, capture_output=True, text=True)
            if not report.is_file():
                raise WorkbookError(f"{stage.name}: pytest wrote no report\n{finished.stdout[-3000:]}"
                                   f"{finished.stderr[-2000:]}")
            outcomes = junit_outcomes(report)
        summary = (finished.stdout.strip().splitlines() or ["(no output)"])[-1]
        progress(f"{stage.name}: {summary}")
        stages[stage.name] = {"command": " ".join(["pytest", *command[6:-1]]), "summary": summary,
                              "outcomes": outcomes}
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
              "engine": engine_version(),
              "stages": stages}
    output.write_text(json.dumps(result, indent=2) + "\n")
    return result


def recorded_outcomes(stage: str, record_file: Path = RECORD_FILE) -> tuple[dict[str, str], str]:
    """The recorded outcomes of a stage's CIS tests, and the run's date."""
    if not record_file.is_file():
        raise FileNotFoundError(f"no {record_file}: run `workbook cis` (part of make record)")
    recorded = json.loads(record_file.read_text())
    if stage not in recorded["stages"]:
        raise KeyError(f"{record_file} has no run of {stage}: run `workbook cis`")
    return recorded["stages"][stage]["outcomes"], recorded["date"]


def cis_table(path: Path, outcomes: dict[str, str], date: str) -> str:
    """A Markdown table of the checks in `path`, each tested one with its recorded outcome, and a
    line counting them by kind."""
    checks = load_checks(path)
    missing = [check["test"] for check in checks if "test" in check and check["test"] not in outcomes]
    if missing:
        raise KeyError(f"{path}: the recorded run has no outcome for {', '.join(missing)}: run "
                       "`workbook cis`")
    counts = {kind: sum(kind in check for check in checks) for kind in KINDS}
    summary = ", ".join(f"{counts[kind]} {label}" + ("s" if kind == "host" and counts[kind] > 1 else "")
                        for kind, label in KINDS.items() if counts[kind])
    passed = sum(outcomes[check["test"]] == "passed" for check in checks if "test" in check)
    lines = [f"**{len(checks)} checks: {summary}.** Tests passed in the recorded run ({date[:10]}): "
             f"{passed} of {counts['test']}.", "",
             "| Check | Recommendation (CIS Docker Benchmark v1.6.0) | Here |", "|---|---|---|"]
    for check in checks:
        kind = next(kind for kind in KINDS if kind in check)
        here = (f"tested, {outcomes[check[kind]]}: `{check[kind]}`" if kind == "test"
                else f"{KINDS[kind]}: {cell(check[kind])}")
        if check.get("note"):
            here += f" {cell(check['note'])}"
        lines.append(f"| {check['id']} | {cell(check['title'])} | {here} |")
    return "\n".join(lines)


def insert_cis_tables(markdown: str, stages_dir: Path = STAGES_DIR, record_file: Path = RECORD_FILE,
                      language: str = "en") -> str:
    """Each `[[cis:STAGE]]` line replaced by the table of that stage's CIS file; a stage without
    one is an error, so that a page never promises a table it cannot show. In `language` "zh"
    the table's frame is in Chinese (the recommendations keep the CIS benchmark's own titles)."""
    def table(match: re.Match) -> str:
        path = stages_dir / match[1] / CIS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"[[cis:{match[1]}]]: no {path}")
        return localize(cis_table(path, *recorded_outcomes(match[1], record_file)), language)

    return CIS_MARK.sub(table, markdown)

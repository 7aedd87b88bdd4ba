"""The CIS tables of the docs: `[[cis:STAGE]]` on a line of its own becomes the table of
stages/STAGE/cis-docker-benchmark.toml, every check of the CIS Docker Benchmark's sections 4 and 5
with the test that proves it, or why none does. The file is the one the stage's own
tests/test_hardening.py checks against its tests, so the page cannot list a test that is not there."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

STAGES_DIR = Path(__file__).resolve().parent.parent / "stages"
CIS_FILE = "cis-docker-benchmark.toml"
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


def cis_table(path: Path) -> str:
    """A Markdown table of the checks in `path`, with a line counting them by kind."""
    checks = load_checks(path)
    counts = {kind: sum(kind in check for check in checks) for kind in KINDS}
    summary = ", ".join(f"{counts[kind]} {label}" + ("s" if kind == "host" and counts[kind] > 1 else "")
                        for kind, label in KINDS.items() if counts[kind])
    lines = [f"**{len(checks)} checks: {summary}.**", "",
             "| Check | Recommendation (CIS Docker Benchmark v1.6.0) | Here |", "|---|---|---|"]
    for check in checks:
        kind = next(kind for kind in KINDS if kind in check)
        here = f"tested: `{check[kind]}`" if kind == "test" else f"{KINDS[kind]}: {cell(check[kind])}"
        if check.get("note"):
            here += f" {cell(check['note'])}"
        lines.append(f"| {check['id']} | {cell(check['title'])} | {here} |")
    return "\n".join(lines)


def insert_cis_tables(markdown: str, stages_dir: Path = STAGES_DIR) -> str:
    """Each `[[cis:STAGE]]` line replaced by the table of that stage's CIS file; a stage without
    one is an error, so that a page never promises a table it cannot show."""
    def table(match: re.Match) -> str:
        path = stages_dir / match[1] / CIS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"[[cis:{match[1]}]]: no {path}")
        return cis_table(path)

    return CIS_MARK.sub(table, markdown)

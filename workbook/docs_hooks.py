"""MkDocs hooks: pages generated from the repository at build time, never written by hand.

- changes/<a>-to-<b>.md: for each pair of consecutive stages, a unified diff per changed file.
- benchmarks/results.md: the tables and charts of bench/results.json, as `make bench` wrote it
  (and `workbook bench --only workers` merged its worker sweep into it), rendered by
  workbook/bench/report.py.
And in every page, `[[bench:NAME]]` becomes the figure NAME of bench/results.json.
"""

from __future__ import annotations

import difflib
import subprocess
from pathlib import Path

from mkdocs.structure.files import File, Files

from workbook.bench.report import insert_figures, results_page
from workbook.cis import insert_cis_tables
from workbook.glossary import with_glossary
from workbook.stages import all_stages, is_local

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
                 and not is_local(path.relative_to(stage))]
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


def on_files(files: Files, config) -> Files:
    ordered = all_stages()
    for old, new in zip(ordered, ordered[1:], strict=False):
        files.append(File.generated(config, f"changes/{old.name}-to-{new.name}.md",
                                    content=changes_page(old, new)))
    files.append(File.generated(config, "benchmarks/results.md", content=results_page()))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    return with_glossary(insert_cis_tables(insert_figures(markdown)))

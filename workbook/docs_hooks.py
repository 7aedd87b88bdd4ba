"""MkDocs hooks: pages generated from the repository at build time, never written by hand.

- changes/<a>-to-<b>.md: for each pair of consecutive stages, a unified diff per changed file.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from mkdocs.structure.files import File, Files

REPO_ROOT = Path(__file__).resolve().parent.parent
STAGES_DIR = REPO_ROOT / "stages"
# Local state that is not part of a stage (all of it ignored by git).
SKIP_PARTS = {"__pycache__", ".pytest_cache", ".venv", ".ruff_cache"}
SKIP_NAMES = {".env"}
# Files whose diff is shown open; the rest (prose, pins) start folded.
OPEN_SUFFIXES = {".py", ".sh", ".yaml", ".yml", ".html", ".js", ".css", ".conf", ".ini", ""}


def stages() -> list[Path]:
    return sorted(p for p in STAGES_DIR.iterdir() if p.is_dir() and (p / "Dockerfile").is_file())


def stage_files(stage: Path) -> dict[str, str]:
    files = {}
    for path in sorted(stage.rglob("*")):
        relative = path.relative_to(stage)
        if path.is_file() and not SKIP_PARTS & set(relative.parts) and path.name not in SKIP_NAMES:
            files[relative.as_posix()] = path.read_text()
    return files


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
    ordered = stages()
    for old, new in zip(ordered, ordered[1:], strict=False):
        files.append(File.generated(config, f"changes/{old.name}-to-{new.name}.md",
                                    content=changes_page(old, new)))
    return files

"""The Chinese edition kept in step with the English pages. Each docs/X.zh.md begins with front
matter that names the English page it translates and that page's SHA-256 as it was translated:

    ---
    translation_of: X.md
    source_sha256: 3f2a...
    ---

An English page changed since then makes its translation stale (tests/test_translations.py
fails). To bring it up to date: read `git diff <commit of the stamp> -- docs/X.md`, change
docs/X.zh.md to match, then `workbook translations --stamp docs/X.zh.md` records the English page
as it is now. `workbook translations` lists every page: current, stale or missing."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from . import REPO_ROOT

DOCS_DIR = REPO_ROOT / "docs"
LANGUAGE = "zh"
_FRONT_MATTER = re.compile(r"\A---\n(.*?)\n---\n", re.DOTALL)


def english_pages(docs: Path = DOCS_DIR) -> list[Path]:
    """Every hand-written English page (the generated pages are translated by their generator)."""
    return sorted(p for p in docs.rglob("*.md") if not re.search(r"\.[a-z]{2}\.md$", p.name))


def translation_path(english: Path) -> Path:
    return english.with_name(f"{english.stem}.{LANGUAGE}.md")


def source_hash(english: Path) -> str:
    return hashlib.sha256(english.read_bytes()).hexdigest()


def stamp_of(translation: Path) -> dict[str, str]:
    """The front matter of a translation, {} when it has none."""
    match = _FRONT_MATTER.match(translation.read_text())
    if not match:
        return {}
    return dict(line.split(": ", 1) for line in match[1].splitlines() if ": " in line)


def stamp(translation: Path) -> None:
    """Record in the translation's front matter the English page as it is now."""
    english = translation.with_name(translation.name.replace(f".{LANGUAGE}.md", ".md"))
    if not english.is_file():
        raise FileNotFoundError(f"{translation}: no English page {english.name} beside it")
    body = _FRONT_MATTER.sub("", translation.read_text(), count=1)
    header = f"---\ntranslation_of: {english.name}\nsource_sha256: {source_hash(english)}\n---\n"
    translation.write_text(header + body)


def state(english: Path) -> str:
    """'current', 'stale' (the English page changed since it was translated) or 'missing'."""
    translation = translation_path(english)
    if not translation.is_file():
        return "missing"
    recorded = stamp_of(translation)
    if recorded.get("translation_of") != english.name:
        return "stale"
    return "current" if recorded.get("source_sha256") == source_hash(english) else "stale"


# --- the notebooks ------------------------------------------------------------------------------
# The Chinese of a notebook's prose: notebooks/zh/<stage>.json pairs each markdown cell of
# notebooks/<stage>.ipynb (its English source) with its Chinese. The site's Chinese notebook,
# docs/notebooks/<stage>.zh.ipynb, is the recorded English run (docs/notebooks/<stage>.ipynb,
# outputs and all) with those cells in Chinese: made by `workbook translations --notebooks`, and
# by `make record` after each recording. A markdown cell without its Chinese fails the test.

NOTEBOOK_TRANSLATIONS = REPO_ROOT / "notebooks" / LANGUAGE
RECORDED_DIR = DOCS_DIR / "notebooks"
# The line workbook/notebooks.py's record() puts on top of a recorded notebook.
_RECORD_NOTE = re.compile(r"\*These outputs are from a run of `(?P<notebook>[^`]+)` on (?P<date>[\d-]+), "
                          r"with Docker Engine (?P<engine>[^*]+?)"
                          r"(?: and the offline stand-ins of (?P<standins>[^*]+?))?\. "
                          r"Run it yourself: `make notebooks`\.\*")


def notebook_cells(stage: str) -> dict[str, str]:
    """English markdown cell -> Chinese, from notebooks/zh/<stage>.json ({} when there is none)."""
    path = NOTEBOOK_TRANSLATIONS / f"{stage}.json"
    if not path.is_file():
        return {}
    return {cell["en"]: cell["zh"] for cell in json.loads(path.read_text())["cells"] if cell["zh"].strip()}


def markdown_cells(stage: str) -> list[str]:
    """The sources of the markdown cells of notebooks/<stage>.ipynb, in order (empty ones aside)."""
    notebook = json.loads((REPO_ROOT / "notebooks" / f"{stage}.ipynb").read_text())
    return [source for cell in notebook["cells"]
            if cell["cell_type"] == "markdown" and (source := "".join(cell["source"]))]


def untranslated_cells(stage: str) -> list[str]:
    """The markdown cells of notebooks/<stage>.ipynb that have no Chinese yet."""
    cells = notebook_cells(stage)
    return [source for source in markdown_cells(stage) if source not in cells]


def chinese_record_note(english: str) -> str:
    match = _RECORD_NOTE.fullmatch(english.strip())
    if not match:
        raise ValueError(f"not a recording note: {english[:80]}")
    standins = f"，使用了 {match['standins']} 的离线替身镜像" if match["standins"] else ""
    return (f"*以下输出来自 {match['date']} 在 Docker Engine {match['engine']} 上运行 "
            f"`{match['notebook']}` 的结果{standins}。自己运行：`make notebooks`。*")


def chinese_notebook(stage: str) -> dict:
    """The recorded English notebook with its prose in Chinese; KeyError for a cell not translated."""
    notebook = json.loads((RECORDED_DIR / f"{stage}.ipynb").read_text())
    cells = notebook_cells(stage)
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"])
        if _RECORD_NOTE.fullmatch(source.strip()):
            chinese = chinese_record_note(source)
        elif source in cells:
            chinese = cells[source]
        else:
            raise KeyError(f"notebooks/{LANGUAGE}/{stage}.json has no Chinese for the cell: {source[:80]!r}")
        cell["source"] = chinese.splitlines(keepends=True)
    notebook["metadata"].setdefault("workbook", {})["language"] = LANGUAGE
    return notebook


def write_chinese_notebooks(stages: list[str]) -> list[Path]:
    written = []
    for stage in stages:
        path = RECORDED_DIR / f"{stage}.{LANGUAGE}.ipynb"
        path.write_text(json.dumps(chinese_notebook(stage), indent=1, ensure_ascii=False) + "\n")
        written.append(path)
    return written


def notebook_template(stage: str) -> Path:
    """notebooks/zh/<stage>.json with every markdown cell of the notebook, the Chinese kept where
    there is one and empty where there is none yet: the file a translator fills in."""
    cells = notebook_cells(stage)
    entries = [{"en": source, "zh": cells.get(source, "")} for source in markdown_cells(stage)]
    NOTEBOOK_TRANSLATIONS.mkdir(exist_ok=True)
    path = NOTEBOOK_TRANSLATIONS / f"{stage}.json"
    path.write_text(json.dumps({"translation_of": f"notebooks/{stage}.ipynb", "cells": entries},
                               indent=1, ensure_ascii=False) + "\n")
    return path


# --- the README -----------------------------------------------------------------------------------
# README.zh-CN.md records the README it translates in an HTML comment (front matter would show on
# GitHub): <!-- translation_of: README.md source_sha256: ... -->.

README = REPO_ROOT / "README.md"
README_ZH = REPO_ROOT / "README.zh-CN.md"
_README_STAMP = re.compile(r"<!-- translation_of: README\.md source_sha256: (\w+) -->\n?")


def readme_state() -> str:
    if not README_ZH.is_file():
        return "missing"
    match = _README_STAMP.search(README_ZH.read_text())
    return "current" if match and match[1] == source_hash(README) else "stale"


def stamp_readme() -> None:
    text = _README_STAMP.sub("", README_ZH.read_text())
    README_ZH.write_text(f"<!-- translation_of: README.md source_sha256: {source_hash(README)} -->\n{text}")

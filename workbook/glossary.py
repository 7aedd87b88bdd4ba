"""The glossary of the docs (docs/glossary.toml): each term becomes a Markdown abbreviation on
every page, which the theme shows as a tooltip where the term appears, and `[[glossary]]` on a
line of its own becomes the table of all terms (the Glossary page)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from . import REPO_ROOT

GLOSSARY_FILE = REPO_ROOT / "docs" / "glossary.toml"
# The Chinese pages' glossary: the same terms with Chinese meanings, and the Chinese terms the
# pages use throughout with their English originals ([zh]).
GLOSSARY_FILES = {"en": GLOSSARY_FILE, "zh": REPO_ROOT / "docs" / "glossary.zh.toml"}
GLOSSARY_MARK = re.compile(r"^\[\[glossary\]\]$", re.MULTILINE)
TERMS_MARK = re.compile(r"^\[\[glossary-terms\]\]$", re.MULTILINE)
HEADERS = {"en": "| Term | Meaning |", "zh": "| 术语 | 含义 |"}


def terms(path: Path = GLOSSARY_FILE) -> dict[str, str]:
    found = tomllib.loads(path.read_text())["terms"]
    for term, meaning in found.items():
        if not term.strip() or "]" in term or not meaning.strip() or "\n" in meaning:
            raise ValueError(f"{path}: {term!r} needs a name without ']' and a one-line meaning")
    return found


def escape_cell(text: str) -> str:
    return text.replace("|", "\\|")


def chinese_terms(path: Path = GLOSSARY_FILES["zh"]) -> dict[str, str]:
    """The Chinese terms of the Chinese pages, each with its English original."""
    return tomllib.loads(path.read_text())["zh"]


def with_glossary(markdown: str, path: Path = GLOSSARY_FILE, language: str = "en") -> str:
    """The page with its `[[glossary]]` table (if it has the mark) and every term's abbreviation
    appended (Markdown's abbr extension turns each occurrence into a tooltip); a Chinese page
    also with its `[[glossary-terms]]` table of Chinese terms."""
    glossary = terms(path)
    if language == "zh":
        pairs = ["| 中文 | English |", "| --- | --- |"]
        pairs += [f"| {zh} | {escape_cell(en)} |" for zh, en in chinese_terms(path).items()]
        markdown = TERMS_MARK.sub(lambda _: "\n".join(pairs), markdown)
    table = [HEADERS[language], "| --- | --- |"]
    table += [f"| {term} | {escape_cell(meaning)} |"
              for term, meaning in sorted(glossary.items(), key=lambda item: item[0].lower())]
    markdown = GLOSSARY_MARK.sub(lambda _: "\n".join(table), markdown)
    abbreviations = [f"*[{term}]: {meaning}" for term, meaning in glossary.items()]
    return markdown.rstrip("\n") + "\n\n" + "\n".join(abbreviations) + "\n"

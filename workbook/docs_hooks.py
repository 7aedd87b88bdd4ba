"""MkDocs hooks: pages generated from the repository at build time, never written by hand.

- changes/<a>-to-<b>.md: for each pair of consecutive stages, a unified diff per changed file.
- benchmarks/results.md: the tables and charts of bench/results.json, as `make bench` wrote it
  (and `workbook bench --only workers` merged its worker sweep into it), rendered by
  workbook/bench/report.py.
And in every page, `[[bench:NAME]]` becomes the figure NAME of bench/results.json.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
from pathlib import Path

from mkdocs import plugins
from mkdocs.structure.files import File, Files
from mkdocs_jupyter.plugin import NotebookFile

from workbook.bench.report import insert_figures, results_page
from workbook.cis import insert_cis_tables
from workbook.glossary import GLOSSARY_FILES, with_glossary
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


# The changes pages' own words, per language (the diffs themselves are never translated).
CHANGES_WORDS = {
    "en": {"title": "What changed from {old} to {new}",
           "intro": "Generated at build time from `stages/{old}` and `stages/{new}`: one diff per changed "
                    "file. The stage's page explains why.",
           "counts": "**{changed} changed, {added} added, {removed} removed.**",
           "added": "added", "changed": "changed", "removed": "- `{name}` was removed."},
    "zh": {"title": "从 {old} 到 {new} 的变化",
           "intro": "构建时由 `stages/{old}` 和 `stages/{new}` 生成：每个有改动的文件一份 diff。"
                    "为什么这样改，见该阶段的页面。",
           "counts": "**改动 {changed} 个，新增 {added} 个，删除 {removed} 个。**",
           "added": "新增", "changed": "改动", "removed": "- `{name}` 已删除。"},
}


def changes_page(old: Path, new: Path, language: str = "en") -> str:
    words = CHANGES_WORDS[language]
    before, after = stage_files(old), stage_files(new)
    lines = ["# " + words["title"].format(old=old.name, new=new.name), "",
             words["intro"].format(old=old.name, new=new.name), ""]
    added = sorted(after.keys() - before.keys())
    removed = sorted(before.keys() - after.keys())
    changed = sorted(name for name in before.keys() & after.keys() if before[name] != after[name])
    lines.append(words["counts"].format(changed=len(changed), added=len(added), removed=len(removed)))
    lines.append("")
    for name in changed + added:
        diff = difflib.unified_diff(before.get(name, "").splitlines(), after[name].splitlines(),
                                    f"{old.name}/{name}", f"{new.name}/{name}", lineterm="", n=3)
        fold = "???+" if Path(name).suffix in OPEN_SUFFIXES else "???"
        status = words["added"] if name in added else words["changed"]
        lines += [f'{fold} note "`{name}` ({status})"', "", "    ```diff"]
        lines += [f"    {line}" for line in diff]
        lines += ["    ```", ""]
    for name in removed:
        lines += [words["removed"].format(name=name), ""]
    return "\n".join(lines)


def build_language(config) -> str:
    """The language being built: the i18n plugin builds English, then Chinese under zh/."""
    i18n = config.plugins.get("i18n")
    return "zh" if i18n is not None and i18n.current_language == "zh" else "en"


def notebook_page(file: File, config, language: str) -> File:
    """A notebook as mkdocs-jupyter renders it (the i18n plugin remakes every file after
    mkdocs-jupyter wrapped the notebooks, which would then be copied raw), in the Chinese build
    under zh/ as the other pages."""
    page = NotebookFile(file, **config)
    page.dest_path, page.url = file.dest_path, file.url
    if language != "en" and not page.dest_path.startswith(f"{language}/"):
        page.dest_path, page.url = f"{language}/{page.dest_path}", f"{language}/{page.url}"
    page.abs_dest_path = os.path.normpath(os.path.join(config.site_dir, page.dest_path))
    return page


def generated(config, src_uri: str, content: str, language: str) -> File:
    """A generated page; in the Chinese build under zh/, where the i18n plugin puts the others."""
    page = File.generated(config, src_uri, content=content)
    if language != "en":
        page.dest_uri = f"{language}/{page.dest_uri}"
    return page


# After the i18n plugin's on_files (priority -100), which only knows files of docs/: the generated
# pages are added to each language's build as that language's pages.
@plugins.event_priority(-200)
def on_files(files: Files, config) -> Files:
    language = build_language(config)
    jupyter = config.plugins.get("mkdocs-jupyter")
    if jupyter is not None:
        for file in list(files):
            if jupyter.should_include(file) and not isinstance(file, NotebookFile):
                files.remove(file)
                files.append(notebook_page(file, config, language))
    ordered = all_stages()
    for old, new in zip(ordered, ordered[1:], strict=False):
        files.append(generated(config, f"changes/{old.name}-to-{new.name}.md",
                               changes_page(old, new, language), language))
    files.append(generated(config, "benchmarks/results.md", results_page(language=language), language))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    language = build_language(config)
    markdown = insert_cis_tables(insert_figures(markdown, language=language), language=language)
    return with_glossary(markdown, GLOSSARY_FILES[language], language)


# Material's script fetches sitemap.xml beside each <link rel="alternate"> of the head, taking
# each for the root of a language's site; the i18n plugin's alternates are the same page in each
# language (so that the language selector keeps the page), and those fetches fail (404). The head
# links go; the language selector's own links stay and lead to the same page in the other language.
HEAD_ALTERNATE = re.compile(r'\s*<link rel="alternate" href="[^"]*" hreflang="[^"]*">')


def on_post_page(output: str, page, config) -> str:
    return HEAD_ALTERNATE.sub("", output)

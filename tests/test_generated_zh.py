"""The generated pages and tables in Chinese (workbook/generated_zh.py): from the committed
results and the stages as they are, the Chinese text has no English sentence left, outside code,
names and the CIS benchmark's own titles."""

import re

import pytest

from workbook import REPO_ROOT, STAGES_DIR, cis
from workbook.bench import report
from workbook.docs_hooks import CHANGES_WORDS, changes_page
from workbook.generated_zh import PHRASES, localize
from workbook.stages import all_stages

# Four English words in a row (two letters or more each, a space or one punctuation mark between):
# a sentence, or a heading, not yet in Chinese.
ENGLISH_RUN = re.compile(r"\b[A-Za-z]{2,}(?:[ ,;:/-]+[A-Za-z]{2,}){3,}\b")


def english_left(markdown: str) -> list[str]:
    """Lines with an English run outside inline code, link targets, mermaid's axis data and URLs."""
    left = []
    in_fence = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
            continue
        if in_fence and not re.search(r'title "|x-axis|y-axis', line):
            continue
        prose = re.sub(r"`[^`]*`", " ", line)
        prose = re.sub(r"\]\([^)]*\)", "]", prose)
        prose = re.sub(r"https?://\S+", " ", prose)
        if ENGLISH_RUN.search(prose):
            left.append(line.strip())
    return left


def test_the_results_page_is_in_chinese():
    assert english_left(report.results_page(language="zh")) == []


MARKERS = ["[[bench-faults:04-hardening]]", "[[bench-faults:05-ci]]", "[[bench-cluster]]",
           "[[bench-buildcache]]", "[[bench-firstrun]]"]


@pytest.mark.parametrize("marker", MARKERS)
def test_every_table_a_page_inserts_is_in_chinese(marker):
    english = report.insert_figures(marker)
    chinese = report.insert_figures(marker, language="zh")
    assert chinese != english
    assert english_left(chinese) == []


def test_figures_not_measured_say_so_in_chinese(tmp_path):
    missing = tmp_path / "none.json"
    text = report.insert_figures("[[bench:x]] [[bench-cluster]]", missing, language="zh")
    assert english_left(text) == []
    assert "make bench" in text


@pytest.mark.parametrize("stage", ["04-hardening", "05-ci"])
def test_the_cis_tables_frame_is_in_chinese(stage):
    table = cis.insert_cis_tables(f"[[cis:{stage}]]", language="zh")
    # What the stage's cis-docker-benchmark.toml says (titles, notes, reasons) is a stage file's
    # content, shown as it is.
    texts = {cis.cell(str(value)) for check in cis.load_checks(STAGES_DIR / stage / cis.CIS_FILE)
             for key, value in check.items() if key != "id"}
    for text in sorted(texts, key=len, reverse=True):
        table = table.replace(text, " ")
    # The recommendations keep the CIS benchmark's English titles: the second column.
    frame = [line for line in table.splitlines() if not line.startswith("| ")] + \
        [" | ".join(cell for i, cell in enumerate(line.split(" | ")) if i != 1)
         for line in table.splitlines() if line.startswith("| ")]
    assert english_left("\n".join(frame)) == []


def test_the_changes_pages_are_in_chinese_and_their_diffs_untouched():
    ordered = all_stages()
    old, new = ordered[-2], ordered[-1]
    english, chinese = changes_page(old, new), changes_page(old, new, "zh")
    assert chinese.splitlines()[0] == f"# 从 {old.name} 到 {new.name} 的变化"
    diff = [line for line in english.splitlines() if line.startswith("    ")]
    assert diff == [line for line in chinese.splitlines() if line.startswith("    ")]
    assert set(CHANGES_WORDS["zh"]) == set(CHANGES_WORDS["en"])


def test_english_stays_english_and_phrases_are_real_fragments():
    assert localize("Measured on", "en") == "Measured on"
    sources = "".join(path.read_text() for path in
                      [*(REPO_ROOT / "workbook" / "bench").glob("*.py"), REPO_ROOT / "workbook" / "cis.py",
                       *STAGES_DIR.glob("*/cis-docker-benchmark.toml")])
    # Each phrase is text a generator writes, not a guess (its first words are in the source).
    for english in PHRASES:
        assert english.strip("| ").split("{")[0][:8] in sources, english

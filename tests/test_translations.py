"""The Chinese edition in step with the English one: every English page has its Chinese page, and
each Chinese page records the English page it translates as it is now (workbook/translations.py).
The built pages themselves are checked in tests/test_docs.py."""

import json

import pytest

from workbook import stages, translations

PAGES = translations.english_pages()


def test_the_english_pages_are_found():
    names = {page.relative_to(translations.DOCS_DIR).as_posix() for page in PAGES}
    assert {"index.md", "start.md", "stages/01-basic.md", "stages/05-ci/index.md"} <= names
    assert not any(".zh." in name for name in names)


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(translations.DOCS_DIR).as_posix() for p in PAGES])
def test_every_page_has_a_current_chinese_translation(page):
    state = translations.state(page)
    assert state != "missing", f"{page.name} has no Chinese page {translations.translation_path(page).name}"
    assert state == "current", (
        f"{page.name} changed since {translations.translation_path(page).name} was translated: bring the "
        f"translation up to date, then `.venv/bin/workbook translations --stamp "
        f"{translations.translation_path(page).relative_to(translations.REPO_ROOT)}`")


def test_a_changed_english_page_makes_its_translation_stale(tmp_path):
    english, chinese = tmp_path / "page.md", tmp_path / "page.zh.md"
    english.write_text("# Title\n\nOne.\n")
    assert translations.state(english) == "missing"
    chinese.write_text("# 标题\n\n一。\n")
    assert translations.state(english) == "stale"  # no stamp yet
    translations.stamp(chinese)
    assert translations.state(english) == "current"
    assert chinese.read_text().endswith("# 标题\n\n一。\n")
    translations.stamp(chinese)  # stamping again replaces the front matter, keeps the text
    assert chinese.read_text().count("source_sha256:") == 1
    english.write_text("# Title\n\nOne, and two.\n")
    assert translations.state(english) == "stale"


@pytest.mark.parametrize("stage", stages.names())
def test_every_notebook_has_its_chinese_prose_and_the_site_shows_it_on_the_recorded_run(stage):
    assert translations.untranslated_cells(stage) == [], (
        f"notebooks/zh/{stage}.json lacks the Chinese of these cells (run `.venv/bin/workbook "
        "translations --notebooks`, fill them in, and run it again)")
    shown = translations.RECORDED_DIR / f"{stage}.zh.ipynb"
    assert shown.is_file()
    expected = translations.chinese_notebook(stage)
    assert json.loads(shown.read_text()) == expected, (
        f"docs/notebooks/{stage}.zh.ipynb is not the current recording with the current Chinese: "
        "run `.venv/bin/workbook translations --notebooks`")
    # The outputs are the recorded English run's, the prose is Chinese.
    english = json.loads((translations.RECORDED_DIR / f"{stage}.ipynb").read_text())
    assert [c.get("outputs") for c in expected["cells"]] == [c.get("outputs") for c in english["cells"]]
    assert "以下输出来自" in "".join(expected["cells"][1]["source"])


def test_the_chinese_readme_is_current_and_has_the_same_two_commands():
    assert translations.readme_state() == "current", (
        "README.md changed since README.zh-CN.md was translated: bring it up to date, then "
        "`.venv/bin/workbook translations --stamp README.zh-CN.md`")
    chinese = translations.README_ZH.read_text()
    assert "make start   #" in chinese
    assert "make test    #" in chinese
    assert "[English](README.md)" in chinese
    for stage in stages.names():
        assert f"[{stage}](stages/{stage}/)" in chinese

"""The glossary (workbook/glossary.py, docs/glossary.toml): its terms become tooltips on every page
and a table on the Glossary page. (The built site: test_docs.py.)"""

import re

import pytest

from workbook.glossary import GLOSSARY_FILE, GLOSSARY_FILES, chinese_terms, terms, with_glossary

SMALL = '''[terms]
"IPVS" = "IP Virtual Server | the kernel's load balancer."
"routing mesh" = "Swarm's way of publishing a port."
'''


def test_terms_become_abbreviations_and_the_mark_a_table(tmp_path):
    path = tmp_path / "glossary.toml"
    path.write_text(SMALL)
    page = with_glossary("# Page\n\nThe routing mesh needs IPVS.\n\n[[glossary]]\n\nAfter.\n", path)
    assert page.startswith("# Page\n\nThe routing mesh needs IPVS.\n\n| Term | Meaning |\n| --- | --- |\n"
                           "| IPVS | IP Virtual Server \\| the kernel's load balancer. |\n"
                           "| routing mesh | Swarm's way of publishing a port. |\n\nAfter.\n")
    assert page.endswith("\n*[IPVS]: IP Virtual Server | the kernel's load balancer.\n"
                         "*[routing mesh]: Swarm's way of publishing a port.\n")
    assert "| Term |" not in with_glossary("no mark here", path)


@pytest.mark.parametrize("entry", ['"bad]term" = "x"', '"term" = ""'])
def test_a_term_needs_a_name_and_a_meaning(tmp_path, entry):
    path = tmp_path / "glossary.toml"
    path.write_text(f"[terms]\n{entry}\n")
    with pytest.raises(ValueError, match="one-line meaning"):
        terms(path)


def test_the_committed_glossary_loads():
    assert len(terms(GLOSSARY_FILE)) >= 20


def test_the_chinese_glossary_explains_the_same_terms_in_chinese():
    english, chinese = terms(GLOSSARY_FILES["en"]), terms(GLOSSARY_FILES["zh"])
    assert set(chinese) == set(english), "docs/glossary.zh.toml and docs/glossary.toml name other terms"
    assert all(re.search(r"[\u4e00-\u9fff]", meaning) for meaning in chinese.values())
    pairs = chinese_terms()
    assert {"容器": "container", "镜像": "image", "健康检查": "health check"}.items() <= pairs.items()


def test_a_chinese_page_gets_chinese_tooltips_and_the_table_of_chinese_terms():
    page = with_glossary("# 术语\n\n路由网格（routing mesh）。\n\n[[glossary]]\n\n[[glossary-terms]]\n",
                         GLOSSARY_FILES["zh"], "zh")
    assert "| 术语 | 含义 |" in page
    assert "| 中文 | English |" in page
    assert "| 容器 | container |" in page
    assert f"*[routing mesh]: {terms(GLOSSARY_FILES['zh'])['routing mesh']}" in page

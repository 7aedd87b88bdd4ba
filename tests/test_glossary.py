"""The glossary (workbook/glossary.py, docs/glossary.toml): its terms become tooltips on every page
and a table on the Glossary page. (The built site: test_docs.py.)"""

import pytest

from workbook.glossary import GLOSSARY_FILE, terms, with_glossary

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

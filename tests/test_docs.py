"""The docs site: a strict build, then a real browser (the distribution's Chromium, driven by
Playwright) on every page: renders with no console error, no broken internal link, no request
leaves 127.0.0.1, search finds a stage. Screenshots go to test-artifacts/."""

import functools
import html
import http.server
import re
import secrets
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import pytest

from workbook import REPO_ROOT, STAGES_DIR, cli, stages, translations
from workbook.glossary import terms

ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# As root in a container-like machine, Chromium needs --no-sandbox; the rest keep it from
# reaching out to the network on its own.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


# A reader's local secrets, as the build may find them: a stage's .env and a file in its secrets/.
# Made for the build where there is none, and removed after it.
DECOY_SECRET = f"decoy-{secrets.token_hex(16)}"
DECOYS = {STAGES_DIR / "03-compose" / ".env": f"POSTGRES_PASSWORD={DECOY_SECRET}\n",
          STAGES_DIR / "05-ci" / "secrets" / "decoy.txt": DECOY_SECRET}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    made = []
    try:
        for path, text in DECOYS.items():
            if not path.exists():
                made += [path] + ([path.parent] if not path.parent.exists() else [])
                path.parent.mkdir(exist_ok=True)
                path.write_text(text)
        mkdocs = Path(sys.executable).parent / "mkdocs"
        result = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(target)],
                                cwd=REPO_ROOT, capture_output=True, text=True)
    finally:
        for path in made:
            path.unlink() if path.is_file() else path.rmdir()
    assert result.returncode == 0, result.stdout + result.stderr
    return target


def test_strict_build_succeeds(site):
    assert (site / "index.html").is_file()


def test_every_stage_has_a_page_and_a_changes_page(site):
    names = stages.names()
    for stage in names:
        assert (site / "stages" / stage / "index.html").is_file(), stage
    for old, new in zip(names, names[1:], strict=False):
        page = (site / "changes" / f"{old}-to-{new}" / "index.html").read_text()
        assert "language-diff" in page or "highlight" in page


def test_no_local_secret_reaches_the_site(site):
    """A reader's .env and secrets/ (ignored by git) never appear on a generated page."""
    values = [path.read_text().strip() for path in STAGES_DIR.glob("*/secrets/*")]
    values += [line.split("=", 1)[1].strip() for path in STAGES_DIR.glob("*/.env")
               for line in path.read_text().splitlines() if "=" in line and not line.startswith("#")]
    values = [value for value in values if len(value) >= 16] + [DECOY_SECRET]  # secrets, not "links"
    pages = "".join(page.read_text() for page in site.rglob("*.html"))
    assert not [value for value in values if value in pages]


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.log_message = lambda *args: None
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).exists(), "run 'make browser' to install the distribution's chromium"
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def pages_of(site: Path) -> list[str]:
    """Every page of the built site, as a path relative to its root ('' is the home page)."""
    pages = []
    for index in site.rglob("index.html"):
        relative = index.parent.relative_to(site).as_posix()
        if relative.split("/")[0] not in ("assets", "search"):
            pages.append("" if relative == "." else relative + "/")
    return sorted(pages)


def test_every_page_renders_without_console_errors_or_broken_links(site, server, browser):
    context = browser.new_context()
    outside, problems, checked = [], [], set()

    def guard(route):  # the site must not need anything but itself
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and problems.append(f"{page.url}: {m.text}"))
    page.on("pageerror", lambda e: problems.append(f"{page.url}: {e}"))
    links = set()
    paths = pages_of(site)
    assert len(paths) >= 8
    for path in paths:
        response = page.goto(server + path, wait_until="networkidle")
        assert response.status == 200, path
        assert page.locator("article h1").count() >= 1 or "notebooks" in path, f"{path} has no title"
        links |= set(page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"))
        checked.add(path)
    for link in sorted(links):
        url, _ = urldefrag(link)
        if url.startswith(server):
            target = site / url[len(server):]
            exists = (target / "index.html").is_file() if url.endswith("/") else target.exists()
            if not exists:
                problems.append(f"broken internal link: {url}")
    context.close()
    assert problems == []
    assert outside == [], "the site requested resources outside 127.0.0.1"


def test_search_finds_a_stage_and_screenshots(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server, wait_until="networkidle")
    page.screenshot(path=str(ARTIFACTS / "docs-home.png"), full_page=False)
    # At this width material shows the search field in the header itself.
    page.locator("input.md-search__input").click()
    # Typed key by key: material's search reacts to key events, not to a programmatic fill.
    page.locator("input.md-search__input").press_sequentially("gunicorn", delay=20)
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=15000)
    titles = " ".join(results.all_inner_texts())
    assert "02" in titles or "gunicorn" in titles.lower()
    page.goto(server + "stages/02-gunicorn/", wait_until="networkidle")
    page.screenshot(path=str(ARTIFACTS / "docs-stage-02.png"), full_page=False)
    page.close()
    assert (ARTIFACTS / "docs-home.png").stat().st_size > 10_000


def test_glossary_terms_are_tooltips_where_they_appear(site):
    """Every term of the glossary shows as a tooltip (an <abbr> with its meaning) on a page that
    uses it, and the Glossary page lists them all."""
    pages = {path: path.read_text() for path in site.rglob("*.html") if "glossary" not in path.parts}
    glossary_page = (site / "glossary" / "index.html").read_text()
    shown = {(html.unescape(term), html.unescape(title)) for page in pages.values()
             for title, term in re.findall(r'<abbr title="([^"]*)">([^<]*)</abbr>', page)}
    for term, meaning in terms().items():
        assert (term, meaning) in shown, f"no page shows {term!r} as a tooltip with its meaning"
        cell = rf"<td>(<abbr [^>]*>)?{re.escape(html.escape(term, quote=False))}(</abbr>)?</td>"
        assert re.search(cell, glossary_page), f"the Glossary page does not list {term!r}"


# --- what the tree decides, the text must say ---------------------------------------------------

def stages_in_table(markdown: str) -> list[str]:
    """The stages a Markdown table lists in its first column (a name, or a link named so)."""
    return re.findall(r"^\| \[?(\d\d-[a-z-]+)", markdown, re.MULTILINE)


def test_the_readme_and_the_home_page_list_every_stage():
    assert stages_in_table((REPO_ROOT / "README.md").read_text()) == stages.names()
    assert stages_in_table((REPO_ROOT / "docs" / "index.md").read_text()) == stages.names()


def test_the_home_page_names_the_stage_make_start_runs():
    """`make start` runs the last stage (workbook.stages.latest), and its secrets land there."""
    index = " ".join((REPO_ROOT / "docs" / "index.md").read_text().split())
    assert f"(`stages/{stages.latest().name}/secrets/`)" in index


def test_the_start_page_names_every_change_the_setup_scripts_make():
    """Every file scripts/ensure-docker.sh writes (named twice: the change and its undo) and every
    package the setup installs is on the start page; the stage and project of `make start` too."""
    start = " ".join((REPO_ROOT / "docs" / "start.md").read_text().split())
    ensure_docker = (REPO_ROOT / "scripts" / "ensure-docker.sh").read_text()
    written = re.findall(r"cat > (/\S+) <<", ensure_docker)
    assert written, "ensure-docker.sh writes files with `cat > PATH <<`"
    for path in written:
        assert start.count(path) >= 2, path
    installs = re.findall(r"install -y -qq (?:-t trixie )?([a-z0-9 .-]+?) >/dev/null", ensure_docker)
    makefile = (REPO_ROOT / "Makefile").read_text()
    test_tools = re.findall(r"ensure-packages\.sh ([a-z ]+)", makefile)[0]
    packages = {*" ".join(installs).split(), *test_tools.split()}
    assert {"docker.io", "docker-buildx", "chromium", "wrk"} <= packages
    for package in packages:
        assert f"`{package}`" in start, package
    assert "/var/log/dockerd.log" in ensure_docker
    assert "/var/log/dockerd.log" in start
    assert f"`stages/{stages.latest().name}/secrets/`" in start
    assert f"Compose project `{cli.START_PROJECT}`" in start


# --- the Chinese edition ---------------------------------------------------------------------------

def built_page(site: Path, english: Path, language: str = "en") -> Path:
    """The built HTML of an English page (docs/X.md), or of its translation."""
    relative = english.relative_to(translations.DOCS_DIR).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "index" else relative.parts
    return site.joinpath(*((language,) if language != "en" else ()), *parts, "index.html")


@pytest.mark.parametrize("english", translations.english_pages(),
                         ids=lambda p: p.relative_to(translations.DOCS_DIR).as_posix())
def test_every_page_is_built_in_chinese_and_the_switcher_joins_the_two(site, english):
    zh_html = built_page(site, english, "zh").read_text()
    en_html = built_page(site, english).read_text()
    assert '<html lang="zh"' in zh_html
    article = re.search(r"<article.*?</article>", zh_html, re.DOTALL)[0]
    assert len(re.findall(r"[\u4e00-\u9fff]", article)) >= 100, "the Chinese page is not in Chinese"
    assert '<html lang="en"' in en_html
    # The language switcher of each page leads to the same page in the other language.
    def target(page: Path, href: str) -> Path:  # a link from the page's folder, or from the site's root
        return (site / href.lstrip("/") if href.startswith("/") else page.parent / href).resolve()

    en_page, zh_page = built_page(site, english), built_page(site, english, "zh")
    to_zh = re.search(r'<a href="([^"]+)" hreflang="zh"', en_html)[1]
    assert target(en_page, to_zh) == zh_page.parent.resolve()
    to_en = re.search(r'<a href="([^"]+)" hreflang="en"', zh_html)[1]
    assert target(zh_page, to_en) == en_page.parent.resolve()


def test_chinese_search_finds_the_page_on_health_checks(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + "zh/", wait_until="networkidle")
    assert page.locator("input.md-search__input").get_attribute("placeholder") == "搜索"
    search = page.locator("input.md-search__input")
    search.click()
    # Typed as a reader would; characters off the keyboard arrive without key events, and
    # material searches on a key event: the End key gives it one.
    search.press_sequentially("健康检查", delay=50)
    search.press("End")
    results = page.locator(".md-search-result__item a")
    results.first.wait_for(timeout=15000)
    found = [url.replace(server, "/") for url in results.evaluate_all("els => els.map(e => e.href)")]
    page.close()
    # The section of that title, 健康检查与重启策略, is among the results, and they are Chinese pages.
    section = "/zh/stages/05-ci/swarm/", "#health-checks-and-restart-policies"
    assert any(url.startswith(section[0]) and url.endswith(section[1]) for url in found), found[:10]
    assert all(url.startswith("/zh/") for url in found), found

# The Flask Container Workbook. Two commands on a fresh machine:
#   make start   build and run the most advanced stage, serve the docs, print both URLs
#   make test    the whole suite
#   make check   lint and every test that needs no Docker engine (about a minute), while editing
# Both set up what they need first (venv, Docker Engine, base images) and are idempotent.

PYTHON ?= python3
# mkdocs-material prints a notice about MkDocs 2 on every build; it is not about this site.
export NO_MKDOCS_2_WARNING := 1
VENV   := .venv
BIN    := $(abspath $(VENV))/bin

MERMAID_VERSION := 11.17.2
MERMAID_JS := docs/assets/javascripts/mermaid.min.js

.PHONY: start stop test check setup venv engine images browser docs notebooks bench record doctor cleanup lock help

help:
	@sed -n 's/^#   //p' Makefile

start: setup
	@$(BIN)/workbook start

stop:
	@$(BIN)/workbook stop

test: setup browser
	@$(BIN)/pytest --durations=15

# The tests marked `docker` are left out, and the rest see no engine (DOCKER_HOST points nowhere):
# a test that needs one without its marker fails here.
check: venv $(MERMAID_JS)
	@DOCKER_HOST=unix:///nonexistent/docker.sock $(BIN)/pytest -m "not docker" -q

setup: venv engine images $(MERMAID_JS)

venv: $(VENV)/.installed

# Rebuilt only when the lock or the package metadata change, so a warm re-run costs nothing.
$(VENV)/.installed: requirements/workbook.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "make: Python 3.11 or newer is needed (set PYTHON=...)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/workbook.lock
	@$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@
	@echo "venv: $(VENV) ready"

engine:
	@./scripts/ensure-docker.sh

images: venv engine
	@$(BIN)/workbook images

browser:
	@./scripts/ensure-packages.sh chromium wrk

# Every stage measured side by side (about an hour); writes bench/results.json for the docs.
bench: setup browser
	@$(BIN)/workbook bench

# The other runs the docs show (a quarter of an hour): the hardened stages' CIS tests, their
# outcomes in bench/cis.json, and every notebook with its outputs in docs/notebooks/.
record: setup
	@$(BIN)/workbook cis
	@$(BIN)/workbook notebooks --record

# The docs site, built strictly into site/ (make start serves it live instead).
docs: venv $(MERMAID_JS)
	@$(BIN)/mkdocs build --strict

# Mermaid for the diagrams, served by the site itself: material would otherwise fetch it from a
# CDN, and the site makes no outside requests. Taken from the npm registry, pinned.
$(MERMAID_JS):
	@command -v npm >/dev/null 2>&1 || { echo "make: npm is needed once to fetch mermaid (apt-get install npm)"; exit 1; }
	@mkdir -p $(@D)
	@tmp=$$(mktemp -d) && (cd $$tmp && npm pack --silent mermaid@$(MERMAID_VERSION) >/dev/null \
	  && tar -xzf mermaid-$(MERMAID_VERSION).tgz package/dist/mermaid.min.js) \
	  && mv $$tmp/package/dist/mermaid.min.js $@; rm -rf $$tmp

# JupyterLab on 127.0.0.1 with the workbook's kernel (this venv's Python).
notebooks: setup
	@$(BIN)/workbook notebooks

doctor: venv
	@$(BIN)/workbook doctor

# Remove containers, networks and volumes that an interrupted test run left behind.
cleanup: venv
	@$(BIN)/workbook cleanup

# Re-pin the tooling: edit requirements/workbook.in (or a stage's requirements-dev.in), then run this.
lock: venv
	@$(BIN)/pip install --quiet --disable-pip-version-check uv
	@$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	  --custom-compile-command "make lock" requirements/workbook.in -o requirements/workbook.lock

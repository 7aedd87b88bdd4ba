# The Flask Container Workbook. Two commands on a fresh machine:
#   make start   build and run the most advanced stage, serve the docs, print both URLs
#   make test    the whole suite
# Both set up what they need first (venv, Docker Engine, base images) and are idempotent.

PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
DOCS_PORT ?= 8001

.PHONY: start stop test setup venv engine images doctor cleanup lock lint help

help:
	@sed -n 's/^#   //p' Makefile

start: setup
	@$(BIN)/workbook start

stop:
	@$(BIN)/workbook stop

test: setup
	@$(BIN)/pytest

setup: venv engine images

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

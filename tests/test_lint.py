"""Lint as tests: hadolint on every Dockerfile, shellcheck on every shell script, every compose
file through `docker compose config` and the compose-spec schema, ruff on all Python."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from workbook import REPO_ROOT

BIN = Path(sys.executable).parent


def tracked(*patterns: str) -> list[Path]:
    """Files of the repository (tracked or new, not ignored) matching git pathspecs."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", *patterns],
                         cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
    return sorted(REPO_ROOT / line for line in out.splitlines() if (REPO_ROOT / line).exists())


def ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO_ROOT)) for p in paths]


DOCKERFILES = tracked("*Dockerfile")
SHELL_SCRIPTS = tracked("*.sh")
# cluster.yaml: stage 05's three Swarm nodes, a compose project of their own.
COMPOSE_FILES = tracked("*compose*.yaml", "*compose*.yml", "*cluster.yaml")
# Swarm stack files (`docker stack deploy`), the files deployed on top of them
# (stack.cluster.yaml) and the compose files that join them (edge.yaml).
STACK_FILES = tracked("*stack.yaml")
STACK_OVERLAYS = tracked("*stack.*.yaml")
EDGE_FILES = tracked("*edge.yaml")


def run(*command, cwd=REPO_ROOT, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], cwd=cwd, capture_output=True, text=True,
                          env=env)


def required_variables(compose_file: Path) -> dict[str, str]:
    """Placeholder values for the ${NAME:?message} variables a reader sets in .env."""
    names = re.findall(r"\$\{(\w+):\?", compose_file.read_text())
    return {name: "lint-placeholder" for name in names}


def test_there_is_something_to_lint():
    assert DOCKERFILES
    assert SHELL_SCRIPTS
    assert COMPOSE_FILES
    assert STACK_FILES


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=ids(DOCKERFILES))
def test_hadolint(dockerfile):
    result = run(BIN / "hadolint", "--no-color", dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=ids(SHELL_SCRIPTS))
def test_shellcheck(script):
    result = run(BIN / "shellcheck", script)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("compose_file", COMPOSE_FILES + EDGE_FILES, ids=ids(COMPOSE_FILES + EDGE_FILES))
def test_compose_config_is_valid(compose_file):
    # An override (compose.dev.yaml) is only meaningful on top of its compose.yaml.
    base = compose_file.parent / "compose.yaml"
    is_override = compose_file != base and base.exists() and compose_file not in EDGE_FILES
    files = [base, compose_file] if is_override else [compose_file]
    env = os.environ | required_variables(base if is_override else compose_file)
    args = [arg for f in files for arg in ("-f", f)]
    result = run("docker", "compose", *args, "config", "--quiet", cwd=compose_file.parent, env=env)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=ids(STACK_FILES))
def test_stack_file_is_accepted_by_docker_stack(stack_file):
    # `docker stack config` applies Swarm's own loader: it rejects what `stack deploy` would.
    env = os.environ | required_variables(stack_file)
    result = run("docker", "stack", "config", "--compose-file", stack_file, cwd=stack_file.parent, env=env)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("overlay", STACK_OVERLAYS, ids=ids(STACK_OVERLAYS))
def test_stack_overlay_is_accepted_on_top_of_its_stack_file(overlay):
    base = overlay.parent / "stack.yaml"
    env = os.environ | required_variables(base)
    result = run("docker", "stack", "config", "--compose-file", base, "--compose-file", overlay,
                 cwd=overlay.parent, env=env)
    assert result.returncode == 0, result.stderr
    assert "node.labels.db == true" in result.stdout


ALL_COMPOSE = COMPOSE_FILES + STACK_FILES + STACK_OVERLAYS + EDGE_FILES


@pytest.mark.parametrize("compose_file", ALL_COMPOSE, ids=ids(ALL_COMPOSE))
def test_compose_file_matches_the_compose_spec(compose_file):
    result = run(BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", compose_file)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("compose_file", ALL_COMPOSE, ids=ids(ALL_COMPOSE))
def test_compose_file_has_no_obsolete_version_key(compose_file):
    assert not any(line.startswith("version:") for line in compose_file.read_text().splitlines())


def test_ruff():
    result = run(BIN / "ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr

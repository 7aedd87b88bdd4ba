"""Each stage's own suite, run exactly as a reader runs it: `cd stages/NN-name && pytest`."""

import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from workbook import REPO_ROOT, STAGES_DIR
from workbook.stages import all_stages

STAGES = all_stages()
LINEAGE_FILE = Path(__file__).parent / "stage_lineage.toml"
PYTEST = Path(sys.executable).parent / "pytest"
# "Its tests run in well under 3 minutes on 2 cores once the images exist"; stage 04 proves its
# resilience and bad input under load (about 3 minutes): "under five minutes"; stage 05 deploys to
# Swarm, rolls out two releases, takes its database away for 30 s, then does it all again on a
# three-node cluster and crashes a node: "under eleven minutes".
TIME_LIMIT_SECONDS = {"04-hardening": 300, "05-ci": 660}
DEFAULT_TIME_LIMIT_SECONDS = 180
# Stage 05 leaves stage 04's gunicorn, migration and resilience tests (test_gunicorn.py,
# test_compose.py, test_resilience.py) to stage 04: what they prove lives in these files, which
# stage 05 keeps byte for byte.
PROVEN_BY_STAGE_04 = ["entrypoint.sh", "gunicorn.conf.py", "migrations/env.py", "app/cli.py",
                      "app/models.py", "make-secrets.sh", "migrations/versions/0001_create_links.py",
                      # and what stage 04's test_resilience.py proves under load
                      "app/cache.py", "app/visits.py", "app/pool.py", "app/metrics.py",
                      "migrations/versions/0002_visit_mover.py"]


@pytest.mark.parametrize("stage", STAGES, ids=[s.name for s in STAGES])
def test_stage_has_what_a_copied_out_project_needs(stage):
    for name in ("Dockerfile", ".dockerignore", "compose.yaml", "README.md", "requirements.txt",
                 "requirements-dev.txt", "pytest.ini", "tests/conftest.py"):
        assert (stage / name).is_file(), f"{stage.name} lacks {name}"
    # A stage's tests use public packages only, never the workbook's own tooling.
    for test_file in (stage / "tests").glob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+workbook\b", test_file.read_text(), re.MULTILINE), \
            test_file


@pytest.mark.docker
@pytest.mark.parametrize("stage", STAGES, ids=[s.name for s in STAGES])
def test_stage_suite_passes_on_its_own(stage):
    started = time.monotonic()
    result = subprocess.run([str(PYTEST), "-q", "-p", "no:cacheprovider"], cwd=stage,
                            capture_output=True, text=True)
    elapsed = time.monotonic() - started
    summary = result.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"{stage.name}: {summary[0]} ({elapsed:.0f} s)")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    limit = TIME_LIMIT_SECONDS.get(stage.name, DEFAULT_TIME_LIMIT_SECONDS)
    assert elapsed < limit, f"{stage.name}'s suite took {elapsed:.0f} s (limit {limit} s)"


@pytest.mark.parametrize("name", PROVEN_BY_STAGE_04)
def test_stage_05_keeps_what_stage_04_tests_for_it(name):
    assert (STAGES_DIR / "05-ci" / name).read_bytes() == (STAGES_DIR / "04-hardening" / name).read_bytes()


def tracked_files(stage: Path) -> set[str]:
    """The stage's files under version control, relative to the stage (what a clone holds)."""
    listing = subprocess.run(["git", "ls-files", "-z", "--", stage.name], cwd=STAGES_DIR,
                             capture_output=True, text=True, check=True).stdout
    return {name.removeprefix(f"{stage.name}/") for name in listing.split("\0") if name}


NEIGHBOURS = list(zip(STAGES, STAGES[1:], strict=False))


@pytest.mark.parametrize(("previous", "stage"), NEIGHBOURS, ids=[s.name for _, s in NEIGHBOURS])
def test_a_stage_changes_only_the_shared_files_its_lesson_lists(previous, stage):
    """A fix in one stage's copy of a file cannot silently miss the next stages."""
    changed_by_lesson = tomllib.loads(LINEAGE_FILE.read_text()).get(stage.name, {})
    shared = tracked_files(previous) & tracked_files(stage)
    differing = {name for name in shared
                 if (previous / name).read_bytes() != (stage / name).read_bytes()}
    assert sorted(differing - set(changed_by_lesson)) == [], \
        f"differ from {previous.name} but {LINEAGE_FILE.name} does not list them for {stage.name}"
    assert sorted(set(changed_by_lesson) - differing) == [], \
        f"listed as changed in {LINEAGE_FILE.name} but identical to {previous.name} (or not in both)"
    assert all(reason.strip() for reason in changed_by_lesson.values())


def test_each_stage_suite_is_also_found_from_the_repository_root():
    """`pytest stages/NN-name` from the root uses the stage's own pytest.ini and conftest (the
    five collections run side by side: each is seconds of imports)."""
    collections = {stage.name: subprocess.Popen(
        [str(PYTEST), "--collect-only", "-q", "-p", "no:cacheprovider", str(stage.relative_to(REPO_ROOT))],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for stage in STAGES}
    for name, process in collections.items():
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, f"{name}: {stdout[-3000:]}{stderr[-2000:]}"
        node_ids = [line for line in stdout.splitlines() if "::" in line]
        # Node ids relative to the stage (rootdir = the stage, from its pytest.ini), not to the root.
        assert node_ids, name
        assert all(node.startswith("tests/") for node in node_ids), (name, node_ids[:3])


def pins(path) -> dict[str, str]:
    """name -> version of every `name==version` line of a requirements or lock file."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\[\]-]+)==([^\s;\\]+)", line)
        if match:
            found[re.sub(r"\[.*\]", "", match.group(1)).lower()] = match.group(2)
    return found


@pytest.mark.parametrize("stage", STAGES, ids=[s.name for s in STAGES])
def test_the_workbook_lock_installs_the_stage_pins(stage):
    """`make test` runs each stage's suite in the workbook's venv: its pins must be the stage's."""
    lock = pins(REPO_ROOT / "requirements" / "workbook.lock")
    for name, version in pins(stage / "requirements-dev.txt").items():
        assert lock.get(name) == version, f"{stage.name}: {name}=={version}, lock has {lock.get(name)}"

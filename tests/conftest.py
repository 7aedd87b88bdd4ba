"""Root test configuration: report which official images are offline stand-ins, and check at the
end of the session that the suite left nothing behind: no container, network or volume of its
own, and the stage directories as the reader had them (no .env or secrets/ appeared)."""

import os
import subprocess
from pathlib import Path

import pytest

from workbook import LABEL, STAGES_DIR, images
from workbook.docker import docker, engine_answers, leftovers

# The label value of what the package's own tests create (test_docker.py, test_images.py).
OWNER = "workbook-selftest"

# Caches that Python, pytest and Hypothesis write as a matter of course; anything else new in a
# stage directory (an .env, a secrets/ directory, a .pipeline/) was left behind by the suite.
CACHES = {"__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache"}
AT_START: dict[str, set[str]] = {}


def untracked_in_stages() -> set[str]:
    """Untracked and ignored paths under stages/ (caches aside), as git lists them."""
    listing = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all",
                              "-z", "--", "."], cwd=STAGES_DIR, capture_output=True, text=True).stdout
    paths = {entry[3:] for entry in listing.split("\0") if entry[:2] in ("??", "!!")}
    return {path for path in paths if not CACHES & set(path.split("/"))}


def volumes() -> set[str]:
    return set(docker("volume", "ls", "--quiet").stdout.split()) if engine_answers() else set()


def pytest_sessionstart(session):
    AT_START["volumes"] = volumes()
    AT_START["ours"] = leftovers() if engine_answers() else {}
    AT_START["stages"] = untracked_in_stages()


def left_behind() -> list[str]:
    found = []
    if engine_answers():
        # Only what the suite made: a stack the reader (or a benchmark) runs meanwhile is not ours.
        before = AT_START["ours"]
        new = {kind: [name for name in names if name not in before.get(kind, [])]
               for kind, names in leftovers().items()}
        if ours := {kind: names for kind, names in new.items() if names}:
            found.append(f"containers, networks or volumes of the suite: {ours} (make cleanup)")
        # Anonymous volumes (from an image's VOLUME) carry no label: compare with the start.
        if new := volumes() - AT_START["volumes"]:
            found.append(f"volumes that appeared during the suite: {sorted(new)}")
    if new := untracked_in_stages() - AT_START["stages"]:
        found.append(f"files in the stage directories: {sorted(new)}")
    return found


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    """Runs after the last test, whichever it is: what the suite left behind fails the run."""
    if not AT_START:
        return
    problems = left_behind()
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for problem in problems:
            reporter.write_line(f"LEFT BEHIND: {problem}", red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_report_header(config):
    if not engine_answers():
        return ["docker: no engine answers (run 'make engine')"]
    states = {image.ref: images.status(image) for image in images.OFFICIAL_IMAGES}
    standins = [ref for ref, state in states.items() if "stand-in" in state]
    real = [ref for ref, state in states.items() if state == "official"]
    lines = []
    if standins:
        lines.append("offline stand-ins (built from Debian packages): " + ", ".join(standins))
    if real:
        lines.append("official images: " + ", ".join(real))
    return lines


# --- fixtures shared by the package's tests -----------------------------------------------------

@pytest.fixture
def cleanup():
    """Remove this test's labelled objects afterwards, also when the test fails."""
    yield
    for kind, listing in (("container", ["ps", "--all"]), ("network", ["network", "ls"]),
                          ("volume", ["volume", "ls"])):
        ids = docker(*listing, "--quiet", "--filter", f"label={LABEL}={OWNER}").stdout.split()
        if ids:
            docker(*(["rm", "--force", "--volumes"] if kind == "container" else [kind, "rm"]), *ids,
                   check=False)


RUNC_ERROR = ("Error response from daemon: failed to create task for container: failed to create "
              "shim task: OCI runtime create failed: runc create failed: runc run failed: unable to "
              "start container process: waiting for init preliminary setup: read init-p: connection "
              "reset by peer: unknown")
# The same failure on an exec, where the command never started.
RUNC_EXEC_ERROR = ("OCI runtime exec failed: exec failed: unable to start container process: waiting "
                   "for init preliminary setup: read init-p: connection reset by peer: unknown")


@pytest.fixture
def docker_failing_once(tmp_path, monkeypatch):
    """A `docker` stand-in first on PATH: it fails `times` times (once unless told) with
    `stderr`, as runc did on a first `make start`, then succeeds; it records every call."""
    calls = tmp_path / "calls"

    def install(stderr: str, times: int = 1) -> Path:
        (tmp_path / "stderr").write_text(stderr)
        stand_in = tmp_path / "docker"
        stand_in.write_text(f"""#!/bin/sh
echo "$*" >> {calls}
if [ "$(wc -l < {calls})" -le {times} ]; then
    cat {tmp_path}/stderr >&2
    exit 1
fi
echo ok
""")
        stand_in.chmod(0o755)
        monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
        return calls

    return install

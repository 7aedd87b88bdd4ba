"""Every stage has a notebook; each runs top to bottom against real Docker and is committed with
its outputs stripped (so diffs show code and prose only; outputs are made by running it). The
site shows a recorded run of each (docs/notebooks/), of the current cells."""

import json
import socket
import subprocess
import sys

import nbformat
import pytest

from workbook import stages
from workbook.docker import wait_http
from workbook.notebooks import NOTEBOOKS_DIR, RECORDED_DIR, cells_digest, execute, recorded_digest

STAGES = stages.names()


def test_every_stage_has_a_notebook():
    assert sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb")) == STAGES


@pytest.mark.parametrize("stage", STAGES)
def test_notebook_is_committed_without_outputs(stage):
    notebook = nbformat.read(NOTEBOOKS_DIR / f"{stage}.ipynb", as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], cell.source[:60]
            assert cell.execution_count is None, cell.source[:60]


def outputs_of(notebook) -> str:
    return "".join(str(output) for cell in notebook.cells for output in cell.get("outputs", []))


@pytest.mark.docker
@pytest.mark.parametrize("stage", STAGES)
def test_notebook_runs_top_to_bottom_and_shows_the_commands_it_runs(stage):
    outputs = outputs_of(execute(stage))
    assert f"{stage} is up at http://127.0.0.1:" in outputs
    assert f"wbtest-nb-{stage} removed" in outputs
    started_by = ("$ ./pipeline.sh all" if stage == "05-ci" else
                  f"$ docker compose --project-name wbtest-nb-{stage} -f compose.yaml up --build")
    assert started_by in outputs
    assert "$ curl --silent --include" in outputs


@pytest.mark.parametrize("stage", STAGES)
def test_the_site_shows_a_recorded_run_of_the_current_cells(stage):
    current = cells_digest(nbformat.read(NOTEBOOKS_DIR / f"{stage}.ipynb", as_version=4))
    assert recorded_digest(stage) == current, (
        f"docs/notebooks/{stage}.ipynb shows the outputs of other cells than notebooks/{stage}.ipynb "
        "has now: run `make record` (or `workbook notebooks --record`)")
    recorded = nbformat.read(RECORDED_DIR / f"{stage}.ipynb", as_version=4)
    assert f"wbtest-nb-{stage} removed" in outputs_of(recorded)
    assert "These outputs are from a run of" in recorded.cells[1].source


@pytest.mark.docker
def test_make_notebooks_serves_jupyterlab_on_loopback_with_a_python_kernel():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "workbook", "notebooks", "--port", str(port),
                               "--token", "workbook-test"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        specs = json.loads(wait_http(f"http://127.0.0.1:{port}/api/kernelspecs?token=workbook-test",
                                     timeout=90))
        assert "python3" in specs["kernelspecs"]
        contents = json.loads(wait_http(f"http://127.0.0.1:{port}/api/contents?token=workbook-test"))
        assert {item["name"] for item in contents["content"]} >= {f"{s}.ipynb" for s in STAGES}
    finally:
        server.terminate()
        server.wait(timeout=30)

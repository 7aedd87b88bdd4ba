"""Every stage has a notebook; each runs top to bottom against real Docker and is committed with
its outputs stripped (so diffs show code and prose only; outputs are made by running it)."""

import json
import socket
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from workbook import REPO_ROOT, stages
from workbook.docker import wait_http

pytestmark = pytest.mark.docker  # every test here runs containers

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
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


@pytest.mark.parametrize("stage", STAGES)
def test_notebook_runs_top_to_bottom(stage):
    notebook = nbformat.read(NOTEBOOKS_DIR / f"{stage}.ipynb", as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})
    client.execute()  # raises CellExecutionError, with the failing cell, on any error
    outputs = "".join(str(output) for cell in notebook.cells for output in cell.get("outputs", []))
    assert f"{stage} is up at http://127.0.0.1:" in outputs
    assert f"wbtest-nb-{stage} removed" in outputs


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

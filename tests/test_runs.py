"""workbook/runs.py and workbook/stages.py: the drivers of a running stage work in copies that leave
the checkout alone, prepare a stage as its README asks, find its entry point, and send steady load
to 127.0.0.1 only."""

import json

import pytest
from conftest import RUNC_ERROR

from workbook import REPO_ROOT, STAGES_DIR, stages
from workbook.runs import PipelineRun, SteadyLoad


def test_a_stage_run_retries_it_too(docker_failing_once):
    calls = docker_failing_once(RUNC_ERROR)
    from workbook.runs import StageRun

    run = StageRun("01-basic", project="wbtest-standin")
    run.compose("up", "--build", "--detach")
    assert len(calls.read_text().splitlines()) == 2
    run.down()


@pytest.mark.docker
def test_a_stage_run_works_in_a_prepared_copy_and_removes_it():
    """The checkout is never touched: the stage's secrets are made in the copy, and `down` removes
    the copy (safe with nothing started, and twice)."""
    from workbook.runs import StageRun

    run = StageRun("04-hardening", project="wbtest-selftest-copy")
    try:
        assert not run.directory.is_relative_to(REPO_ROOT)
        shipped = STAGES_DIR / "04-hardening" / "compose.yaml"
        assert (run.directory / "compose.yaml").read_bytes() == shipped.read_bytes()
        assert len((run.directory / "secrets" / "db_password.txt").read_text()) == 64
        assert not {".venv", ".hypothesis", "__pycache__"} & {path.name for path in run.directory.iterdir()}
    finally:
        assert run.down() == "wbtest-selftest-copy removed"
    assert not run.directory.parent.exists()
    assert run.down() == "wbtest-selftest-copy removed"


@pytest.mark.docker
def test_pipeline_run_works_in_a_copy_with_fresh_secrets_and_removes_it():
    """The notebook's PipelineRun never touches the checkout: a temporary copy without local
    state, its own secrets, free ports; `down` (safe with nothing deployed, and twice) removes it."""
    run = PipelineRun("05-ci", stack="wbtest-selftest-pipeline")
    try:
        assert (run.directory / "pipeline.sh").is_file()
        assert not run.directory.is_relative_to(REPO_ROOT)
        assert not {".pipeline", ".venv", ".env"} & {path.name for path in run.directory.iterdir()}
        for name in ("db_password", "secret_key"):
            value = (run.directory / "secrets" / f"{name}.txt").read_text()
            checkout = STAGES_DIR / "05-ci" / "secrets" / f"{name}.txt"
            assert len(value) == 64
            assert not checkout.exists() or checkout.read_text() != value
        assert run.tag.startswith("nb-")
        assert {key: run.env[key] for key in ("STACK", "TAG", "REGISTRY_PORT", "HTTP_PORT")} == {
            "STACK": "wbtest-selftest-pipeline", "TAG": run.tag, "REGISTRY_PORT": "", "HTTP_PORT": ""}
    finally:
        assert run.down() == "wbtest-selftest-pipeline removed"
    assert not run.directory.parent.exists()
    assert run.down() == "wbtest-selftest-pipeline removed"


def test_prepare_makes_env_from_the_example_with_random_secrets(tmp_path):
    (tmp_path / ".env.example").write_text(
        "# comment\nPOSTGRES_USER=links\nPOSTGRES_PASSWORD=\nSECRET_KEY=\n")
    stages.prepare(tmp_path)
    values = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines()
                  if "=" in line and not line.startswith("#"))
    assert values["POSTGRES_USER"] == "links"
    assert len(values["POSTGRES_PASSWORD"]) == 32
    assert values["SECRET_KEY"] != values["POSTGRES_PASSWORD"]
    before = (tmp_path / ".env").read_text()
    stages.prepare(tmp_path)  # an existing .env is never touched
    assert (tmp_path / ".env").read_text() == before


def test_entry_url_prefers_nginx_then_web():
    rows = [{"Service": "db", "Publishers": [{"PublishedPort": 0, "TargetPort": 5432}]},
            {"Service": "web", "Publishers": [{"PublishedPort": 32001, "TargetPort": 8000}]},
            {"Service": "nginx", "Publishers": [{"PublishedPort": 32002, "TargetPort": 8080}]}]
    as_json = "\n".join(json.dumps(row) for row in rows)
    assert stages.entry_url(as_json) == "http://127.0.0.1:32002"
    assert stages.entry_url("\n".join(json.dumps(row) for row in rows[:2])) == "http://127.0.0.1:32001"


def test_steady_load_stays_on_loopback_and_tells_the_phases_of_a_rollout():
    with pytest.raises(ValueError, match="only sends traffic to 127.0.0.1"):
        SteadyLoad("http://192.0.2.1:8080/")
    load = SteadyLoad("http://127.0.0.1:1/")
    load.results = [("v1", 302)] * 3 + [("v2", 302), ("v1", 302)] + [("v2", 302)] * 4
    assert load.timeline() == "v1 ×3 → mixed (v2 ×1, v1 ×1) → v2 ×4"
    assert load.counts() == {("v1", 302): 4, ("v2", 302): 5}

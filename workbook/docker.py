"""Small helpers around the docker CLI: build, run, wait, inspect, clean up.

The CLI (not the SDK) is used on purpose: every call here is a command a reader could type, and
its errors are the ones a reader would see, translated by errors.explain into one clear line.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import LABEL
from .errors import WorkbookError, explain, tail
from .http import NO_ANSWER, check_loopback, fetch

# Compose projects started by the tests are named with this prefix (the stages' conftests use it
# too), so that clean-up and the leftover check find them and nothing else.
TEST_PROJECT_PREFIX = "wbtest-"


def docker(*args: str, check: bool = True, timeout: float | None = None, input: str | None = None,
           cwd: Path | str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `docker ARGS`, capturing output; raise a WorkbookError that names the cause on failure."""
    if shutil.which("docker") is None:
        raise WorkbookError("the docker command is not installed: run 'make engine' "
                            "or install Docker (https://docs.docker.com/engine/install/)")
    for attempt in (1, 2, 3):
        try:
            result = subprocess.run(["docker", *args], capture_output=True, text=True,
                                    timeout=timeout, input=input, cwd=cwd, env=env)
        except subprocess.TimeoutExpired as exc:
            raise WorkbookError(f"docker {' '.join(args[:2])} did not finish within {timeout} s") from exc
        if attempt < 3 and result.returncode != 0 and is_transient_engine_error(args, result.stderr):
            command = " ".join([args[0], *[word for word in ("up", "build") if word in args[1:]][:1]])
            print(f"docker {command}: the engine failed to start a container "
                  "(a known transient runc error), trying again", file=sys.stderr, flush=True)
            # Twice in a row was seen on a busy machine (a clean-clone make test): give it a moment.
            time.sleep(attempt)
            continue
        break
    if check and result.returncode != 0:
        raise explain(list(args), result.stderr, result.stdout)
    return result


# runc failing to start a container's process, right after the engine was installed or when
# containers start in parallel ("read init-p: connection reset by peer"): not the user's command
# failing. Seen on a first `make start`, and on a `docker compose exec` of a loaded machine; the
# same command passed on the next try.
TRANSIENT_ENGINE_ERROR = re.compile(
    r"(runc run failed|exec failed): unable to start container process: .*"
    r"(read init-p: connection reset by peer|waiting for init preliminary setup)")


def is_transient_engine_error(args: tuple[str, ...] | list[str], stderr: str) -> bool:
    """A failure in the container runtime, not in the user's command, of a command that is safe
    to run twice: a build, `compose up`, or an exec whose process never started (so nothing ran)."""
    first = args[0] if args else ""
    repeatable = (first in ("build", "buildx", "exec")
                  or (first == "compose" and any(step in args for step in ("up", "build", "exec"))))
    return repeatable and TRANSIENT_ENGINE_ERROR.search(stderr) is not None


def engine_version() -> str:
    """The Docker Engine's version, as the results and recordings note it."""
    return docker("version", "--format", "{{.Server.Version}}").stdout.strip()


def engine_answers() -> bool:
    return shutil.which("docker") is not None and docker("info", check=False, timeout=20).returncode == 0


def wait_until(condition: Callable[[], object], *, timeout: float, what: str,
               interval: float = 0.2, on_timeout: Callable[[], str] | None = None):
    """Poll `condition` until it returns something truthy; return that. Never a fixed sleep:
    the wait ends as soon as the condition holds, and fails clearly after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = on_timeout() if on_timeout else ""
            raise WorkbookError(f"timed out after {timeout:g} s waiting for {what}", detail)
        time.sleep(interval)


# --- build -----------------------------------------------------------------------------------

@dataclass
class BuildResult:
    tag: str
    seconds: float
    output: str

    @property
    def cached_steps(self) -> list[str]:
        """The build steps BuildKit took from its cache ('#N CACHED')."""
        return _steps_marked(self.output, "CACHED")

    @property
    def executed_steps(self) -> list[str]:
        """The build steps that ran ('#N DONE' for a RUN/COPY that was not cached)."""
        cached = set(self.cached_steps)
        return [s for s in _steps_marked(self.output, "DONE") if s not in cached]


def _steps_marked(output: str, mark: str) -> list[str]:
    headers = dict(re.findall(r"^#(\d+) (\[.*)$", output, re.MULTILINE))
    numbers = re.findall(rf"^#(\d+) {mark}\b", output, re.MULTILINE)
    return [headers[n] for n in numbers if n in headers]


def build(context: Path | str, tag: str, *, dockerfile: Path | str | None = None,
          build_args: dict[str, str] | None = None, build_contexts: dict[str, Path | str] | None = None,
          labels: dict[str, str] | None = None, no_cache: bool = False,
          timeout: float = 900) -> BuildResult:
    """Build an image with BuildKit and plain progress, so that the output shows each step and
    whether it came from the cache. A failing build raises with the failing step and its output."""
    args = ["buildx", "build", "--progress=plain", "--load", "--tag", tag]
    if dockerfile:
        args += ["--file", str(dockerfile)]
    for key, value in (build_args or {}).items():
        args += ["--build-arg", f"{key}={value}"]
    for name, path in (build_contexts or {}).items():
        args += ["--build-context", f"{name}={path}"]
    for key, value in (labels or {}).items():
        args += ["--label", f"{key}={value}"]
    if no_cache:
        args.append("--no-cache")
    started = time.monotonic()
    result = docker(*args, str(context), timeout=timeout)
    return BuildResult(tag=tag, seconds=time.monotonic() - started, output=result.stderr)


# --- images ----------------------------------------------------------------------------------

def image_exists(ref: str) -> bool:
    return docker("image", "inspect", ref, check=False).returncode == 0


def image_labels(ref: str) -> dict[str, str]:
    out = docker("image", "inspect", "--format", "{{json .Config.Labels}}", ref).stdout
    return json.loads(out) or {}


def image_size(ref: str) -> int:
    """The image's size in bytes, as `docker image ls` reports it."""
    return int(docker("image", "inspect", "--format", "{{.Size}}", ref).stdout)


@dataclass
class Layer:
    created_by: str
    size: int


def image_layers(ref: str) -> list[Layer]:
    """The image's history, oldest first: each instruction with the bytes it added."""
    out = docker("history", "--no-trunc", "--human=false", "--format", "{{json .}}", ref).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [Layer(created_by=row["CreatedBy"], size=int(row["Size"])) for row in reversed(rows)]


# --- containers ------------------------------------------------------------------------------

@dataclass
class Container:
    """A running container that this process started; removed with its anonymous volumes on exit."""
    id: str
    name: str
    _removed: bool = field(default=False, repr=False)

    def inspect(self) -> dict:
        return json.loads(docker("inspect", self.id).stdout)[0]

    def state(self) -> dict:
        return self.inspect()["State"]

    def host_port(self, container_port: int | str) -> int:
        """The 127.0.0.1 port that Docker published for `container_port`."""
        out = docker("port", self.id, str(container_port)).stdout
        return int(out.splitlines()[0].rsplit(":", 1)[1])

    def logs(self) -> str:
        result = docker("logs", self.id, check=False)
        return result.stdout + result.stderr

    def exec(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        return docker("exec", self.id, *command, check=check)

    def wait_healthy(self, timeout: float = 60) -> None:
        """Wait until Docker reports the container healthy; fail at once if it exits."""
        def healthy():
            state = self.state()
            if not state["Running"]:
                raise WorkbookError(f"container {self.name} exited with status {state['ExitCode']} "
                                    "before it was healthy; its last log lines:", tail(self.logs(), 20))
            return state.get("Health", {}).get("Status") == "healthy"
        wait_until(healthy, timeout=timeout, what=f"{self.name} to be healthy",
                   on_timeout=lambda: tail(self.logs(), 20))

    def wait_http(self, path: str = "/", port: int | str = 8000, timeout: float = 60,
                  status: int = 200) -> str:
        url = f"http://127.0.0.1:{self.host_port(port)}{path}"
        return wait_http(url, timeout=timeout, status=status, container=self)

    def stop(self, timeout: int = 10) -> None:
        docker("stop", "--time", str(timeout), self.id, timeout=timeout + 30)

    def remove(self) -> None:
        if not self._removed:
            docker("rm", "--force", "--volumes", self.id, check=False)
            self._removed = True

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()


def run(image: str, *, owner: str, name: str | None = None, ports: Iterable[int | str] = (),
        env: dict[str, str] | None = None, volumes: dict[str, str] | None = None,
        command: Iterable[str] = (), extra: Iterable[str] = ()) -> Container:
    """`docker run --detach` with the workbook label; each port is published on 127.0.0.1 at a free
    host port (read it back with Container.host_port). Use as a context manager for clean-up."""
    # Always named, so that a container Docker created but could not start is still removed.
    name = name or f"{owner}-{uuid.uuid4().hex[:8]}"
    args = ["run", "--detach", "--label", f"{LABEL}={owner}", "--name", name]
    for port in ports:
        args += ["--publish", f"127.0.0.1::{port}"]
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    for source, target in (volumes or {}).items():
        args += ["--volume", f"{source}:{target}"]
    args += [*extra, image, *command]
    try:
        container_id = docker(*args).stdout.strip()
    except WorkbookError:
        docker("rm", "--force", "--volumes", name, check=False)
        raise
    return Container(id=container_id, name=name)


def wait_http(url: str, *, timeout: float = 60, status: int = 200,
              container: Container | None = None) -> str:
    """Wait until `url` answers with `status`; return the body. Only for URLs on 127.0.0.1."""
    check_loopback(url)

    def answered():
        if container is not None and not container.state()["Running"]:
            raise WorkbookError(f"container {container.name} exited before {url} answered; "
                                "its last log lines:", tail(container.logs(), 20))
        try:
            answered_status, _, body = fetch(url, timeout=2)
        except NO_ANSWER:
            return None
        return body if answered_status == status else None

    return wait_until(answered, timeout=timeout, what=f"{url} to answer {status}",
                      on_timeout=lambda: tail(container.logs(), 20) if container else "")


# --- clean-up --------------------------------------------------------------------------------

def _listing(kind: str) -> list[str]:
    return ["container", "ls", "--all"] if kind == "container" else [kind, "ls"]


def leftovers() -> dict[str, list[str]]:
    """Containers, networks and volumes of the workbook or its tests that still exist: those
    labelled by the workbook, and those of compose projects named with the test prefix."""
    found: dict[str, list[str]] = {}
    for kind in ("container", "network", "volume"):
        name = "{{.Names}}" if kind == "container" else "{{.Name}}"
        row = name + '\t{{.Label "com.docker.compose.project"}}\t{{.Label "' + LABEL + '"}}'
        names = set()
        for line in docker(*_listing(kind), "--format", row).stdout.splitlines():
            object_name, project, owner = (line.split("\t") + ["", ""])[:3]
            if owner or project.startswith(TEST_PROJECT_PREFIX):
                names.add(object_name)
        if names:
            found[kind] = sorted(names)
    return found


def remove_leftovers() -> dict[str, list[str]]:
    """Remove everything `leftovers` finds: containers first, then networks and volumes."""
    found = leftovers()
    if found.get("container"):
        docker("rm", "--force", "--volumes", *found["container"], check=False)
    for kind in ("network", "volume"):
        if found.get(kind):
            docker(kind, "rm", *found[kind], check=False)
    return found

"""Drivers of a running stage: build and start it, call the app, inspect image, processes and
logs, put steady load on it, and clean up (also when a notebook's kernel exits after a failed
cell). The notebooks, the benchmark and the root tests drive stages through these.

StageRun starts a stage's compose stack; PipelineRun runs stage 05's pipeline.sh (registry, build,
test, push, deploy to a one-node Swarm); both work in a temporary copy of the stage. SteadyLoad
sends bounded, steady traffic to 127.0.0.1."""

from __future__ import annotations

import atexit
import http.client
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from . import stages
from .docker import TRANSIENT_ENGINE_ERROR, docker, image_layers, image_size, wait_until
from .errors import WorkbookError, tail
from .http import NO_ANSWER, fetch


class _Run:
    """What every notebook run shares: requests to its entry point (`url`), the image report, and
    a clean-up (`down`) that also runs when the kernel exits.

    The kernel's shutdown gives it a few seconds before SIGTERM and SIGKILL reach its whole process
    group, too few for a clean-up; so at exit, the clean-up command runs in a session of its own.

    Each call that does something prints the command it runs (`$ docker compose ... up`, `$ curl
    ...`), as a reader would type it: the notebooks teach Docker, not these helpers."""

    directory: Path
    env: dict[str, str]
    image: str

    def __init__(self, show_commands: bool):  # called last by subclasses: directory and env are set
        self.show_commands = show_commands
        self.removed = False
        atexit.register(self._down_at_exit)

    def show(self, *command: str) -> None:
        if self.show_commands:
            print("$", shlex.join(command), flush=True)

    @property
    def url(self) -> str:
        raise NotImplementedError

    def cleanup_command(self) -> list[str]:
        raise NotImplementedError

    def _down_at_exit(self) -> None:
        if not self.removed and self.directory.exists():
            subprocess.Popen(self.cleanup_command(), cwd=self.directory, env=self.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)

    def request(self, path: str, payload: dict | None = None) -> tuple[int, dict, str]:
        """(status, headers, body) of a GET, or of a JSON POST when `payload` is given."""
        url = self.url + path
        data = () if payload is None else ("-H", "Content-Type: application/json", "-d", json.dumps(payload))
        self.show("curl", "--silent", "--include", *data, url)
        return fetch(url, payload)

    def status(self, path: str) -> int | None:
        """The status of a GET (None: no answer), not shown: waits poll it."""
        try:
            return fetch(self.url + path)[0]
        except NO_ANSWER:
            return None

    def get_json(self, path: str):
        return json.loads(self.request(path)[2])

    def post_json(self, path: str, payload: dict):
        status, _, body = self.request(path, payload)
        return status, json.loads(body)

    def image_report(self) -> str:
        """The image's size and its layers, largest first."""
        self.show("docker", "image", "inspect", "--format", "{{.Size}}", self.image)
        self.show("docker", "history", self.image)
        layers = sorted(image_layers(self.image), key=lambda layer: -layer.size)
        lines = [f"{self.image}: {image_size(self.image) / 1e6:.1f} MB in {len(layers)} history entries"]
        for layer in layers:
            if layer.size:
                lines.append(f"{layer.size / 1e6:9.1f} MB  {_short(layer.created_by)}")
        return "\n".join(lines)


class StageRun(_Run):
    """One stage under its own compose project (`wbtest-nb-<stage>` unless named), on a free
    127.0.0.1 port, run from a temporary copy of the stage (the checkout is never touched)."""

    def __init__(self, stage: str, project: str | None = None, extra_files: tuple[Path, ...] = (),
                 http_port: str = "", show_commands: bool = True):
        self.stage = stage
        # Compose files layered on the stage's own compose.yaml (the benchmark's overrides).
        self.files = [arg for path in ("compose.yaml", *extra_files) for arg in ("-f", str(path))]
        self.project = project or f"wbtest-nb-{stage}"
        self.directory = self._copy()
        # Empty WEB_PORT/HTTP_PORT let Docker choose free ports; a stage that needs a password in
        # its environment gets a fresh one there. `http_port` fixes the entry point's port instead
        # (it then survives a restart of nginx).
        self.env = os.environ | {"WEB_PORT": "", "HTTP_PORT": http_port,
                                 "POSTGRES_PASSWORD": secrets.token_hex(16)}
        super().__init__(show_commands)

    def _copy(self) -> Path:
        return stages.working_copy(self.stage, Path(tempfile.mkdtemp(prefix=f"{self.project}-")))

    def compose(self, *args: str, timeout: float = 600, show: bool = False) -> str:
        """`docker compose` in the stage's copy; `show` prints the command first."""
        command = ["docker", "compose", "--project-name", self.project, *self.files, *args]
        if show:
            self.show(*command)
        return docker(*command[1:2], "--ansi", "never", *command[2:], cwd=self.directory, env=self.env,
                      timeout=timeout).stdout

    def up(self) -> str:
        """Build and start the stage; wait until it is up (healthy where it has a health check)."""
        if not self.directory.exists():  # taken down before: a fresh copy
            self.directory = self._copy()
        self.compose("down", "--volumes", "--remove-orphans")
        self.removed = False
        started = time.monotonic()
        self.compose("up", "--build", "--detach", "--wait", show=True)
        wait_until(lambda: self.status("/healthz") == 200, timeout=60, what=f"{self.stage} to answer")
        return f"{self.stage} is up at {self.url} after {time.monotonic() - started:.1f} s"

    @property
    def url(self) -> str:
        """Where the stack answers: nginx where the stage has it, else web."""
        return stages.entry_url(self.compose("ps", "--format", "json"))

    @property
    def image(self) -> str:
        return f"{self.project}-web"

    def ps(self) -> list[dict]:
        return [json.loads(line) for line in self.compose("ps", "--all", "--format", "json").splitlines()]

    def health(self) -> dict[str, str]:
        return {row["Service"]: row["Health"] or row["State"] for row in self.ps()}

    def exec(self, service: str, *command: str) -> str:
        return self.compose("exec", "-T", service, *command, show=True)

    def processes(self, service: str = "web") -> str:
        """PID, parent and command line of each process, read from /proc (slim images have no ps)."""
        script = ("for d in /proc/[0-9]*; do printf '%6s %6s  %s\\n' \"${d#/proc/}\" "
                  "\"$(cut -d' ' -f4 $d/stat)\" \"$(tr '\\0' ' ' < $d/cmdline)\"; done 2>/dev/null")
        rows = [line for line in self.exec(service, "sh", "-c", script).splitlines() if line.strip()[-1:]]
        return "   PID   PPID  COMMAND\n" + "\n".join(sorted(rows, key=lambda r: int(r.split()[0])))

    def logs(self, service: str = "web", tail: int = 15) -> str:
        return self.compose("logs", "--no-log-prefix", "--tail", str(tail), service, show=True)

    def cleanup_command(self) -> list[str]:
        # A short stop timeout: this is clean-up, not a test of graceful shutdown (stage 01's `sh`
        # as PID 1 would otherwise hold every teardown for Docker's full 10 s).
        return ["docker", "compose", "--project-name", self.project, "down", "--volumes",
                "--remove-orphans", "--timeout", "3"]

    def down(self) -> str:
        """Remove the stage's containers, network and volumes, and the copy (safe to call twice)."""
        if self.directory.exists():
            self.show(*self.cleanup_command())
            docker(*self.cleanup_command()[1:], cwd=self.directory, env=self.env, check=False)
            shutil.rmtree(self.directory.parent, ignore_errors=True)
        self.removed = True
        return f"{self.project} removed"


class PipelineRun(_Run):
    """Stage 05's pipeline.sh in a temporary copy of the stage (the checkout is never touched):
    Swarm stack `wbtest-nb-<stage>` unless named, a registry and an entry point on free 127.0.0.1
    ports, images tagged `nb-<random>` (the copy is no git checkout, and a tag of its own keeps
    other runs' images apart)."""

    TEARDOWN = "./pipeline.sh down"

    def __init__(self, stage: str = "05-ci", stack: str | None = None, workers: int = 2,
                 http_port: str = "", show_commands: bool = True):
        self.stage = stage
        self.stack = stack or f"wbtest-nb-{stage}"
        self.tag = f"nb-{secrets.token_hex(4)}"
        self.tags = {self.tag}
        # make-secrets.sh has made fresh secrets in the copy.
        self.directory = stages.working_copy(stage, Path(tempfile.mkdtemp(prefix=f"{self.stack}-")))
        # Empty ports: Docker chooses free ones (`http_port` fixes the entry point's instead). Two
        # gunicorn workers per replica: the same behaviour, less start-up time on a small machine.
        self.env = os.environ | {"STACK": self.stack, "TAG": self.tag, "REGISTRY_PORT": "",
                                 "HTTP_PORT": http_port, "GUNICORN_WORKERS": str(workers)}
        self.output = ""
        super().__init__(show_commands)

    def pipeline(self, *steps: str, timeout: float = 900, **settings: str) -> str:
        """Run `./pipeline.sh STEPS` with `settings` added to its environment; return its step
        log (the `==>` lines). The whole output stays in `self.output`. Every step of the
        pipeline can run again, so a runc start failure (not the pipeline's) is retried once."""
        return self._script("pipeline.sh", steps, timeout, settings, retry_transient=True)

    def _script(self, script: str, steps: tuple[str, ...], timeout: float, settings: dict[str, str],
                retry_transient: bool = False) -> str:
        """`./SCRIPT STEPS` in the copy, shown first; its step log, or a WorkbookError."""
        env = self.env | settings
        self.show(*(f"{name}={value}" for name, value in settings.items()), f"./{script}", *steps)
        self.tags.add(env["TAG"])
        self.removed = False
        for attempt in (1, 2):
            try:
                result = subprocess.run([f"./{script}", *steps], cwd=self.directory, env=env,
                                        capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired as exc:
                raise WorkbookError(f"{script} {' '.join(steps)} did not finish within {timeout} s") \
                    from exc
            self.output = result.stdout + result.stderr
            if retry_transient and attempt == 1 and result.returncode != 0 \
                    and TRANSIENT_ENGINE_ERROR.search(self.output):
                print(f"{script} {' '.join(steps)}: the engine failed to start a container "
                      "(a known transient runc error), retrying once", file=sys.stderr, flush=True)
                continue
            break
        if result.returncode != 0:
            raise WorkbookError(f"{script} {' '.join(steps)} failed", tail(self.output, 40))
        return "\n".join(line for line in result.stderr.splitlines() if line.startswith("==> "))

    def up(self) -> str:
        """`./pipeline.sh all`: registry, build, test, push, deploy; wait until the entry point
        answers. Returns the step log and where the stack answers."""
        started = time.monotonic()
        log = self.pipeline("all")
        wait_until(lambda: self.status("/healthz") == 200, timeout=60, what=f"{self.stage} to answer")
        return f"{log}\n{self.stage} is up at {self.url} after {time.monotonic() - started:.1f} s"

    def _port(self, container: str, port: str) -> str:
        """host:port where `container` publishes `port` (on 127.0.0.1)."""
        return docker("port", container, port).stdout.splitlines()[0]

    def _edge(self) -> str:
        """The entry point's container: edge.yaml's nginx, compose project `<stack>-edge`."""
        edge = docker("ps", "--quiet", "--filter",
                      f"label=com.docker.compose.project={self.stack}-edge").stdout.split()
        if not edge:
            raise WorkbookError(f"the entry point of {self.stack} is not running")
        return edge[0]

    @property
    def url(self) -> str:
        return f"http://{self._port(self._edge(), '8080/tcp')}"

    def addresses(self, name: str = "web") -> list[str]:
        """What Docker's DNS answers for `name` inside the entry point's container: with
        `endpoint_mode: dnsrr`, one address per running replica, and no virtual IP."""
        answer = docker("exec", self._edge(), "getent", "ahostsv4", name).stdout
        return sorted({line.split()[0] for line in answer.splitlines() if line.strip()})

    @property
    def registry(self) -> str:
        return self._port(f"{self.stack}-registry", "5000/tcp")

    def catalog(self) -> dict[str, list[str]]:
        """Every repository in the local registry, with its tags (the registry's HTTP API)."""
        base = f"http://{self.registry}/v2"
        names = json.loads(fetch(f"{base}/_catalog")[2])["repositories"]
        return {name: json.loads(fetch(f"{base}/{name}/tags/list")[2])["tags"] for name in names}

    @property
    def image(self) -> str:
        return f"links-web:{self.tag}"

    def services(self) -> str:
        """`docker service ls` for the stack: mode, replicas, and the image (pinned by digest)."""
        return docker("service", "ls", "--filter", f"label=com.docker.stack.namespace={self.stack}",
                      "--format", "table {{.Name}}\t{{.Mode}}\t{{.Replicas}}\t{{.Image}}").stdout

    def tasks(self, service: str = "web") -> str:
        """`docker service ps` of one service: each replica (task), where it is, and its state."""
        return docker("service", "ps", f"{self.stack}_{service}",
                      "--format", "table {{.Name}}\t{{.Image}}\t{{.DesiredState}}\t{{.CurrentState}}"
                      ).stdout

    def service(self, service: str = "web") -> dict:
        """`docker service inspect` of one service."""
        return json.loads(docker("service", "inspect", f"{self.stack}_{service}").stdout)[0]

    def load(self, path: str = "/healthz", **bounds) -> SteadyLoad:
        """A SteadyLoad on the entry point (use it in a `with` block)."""
        return SteadyLoad(self.url + path, **bounds)

    def _images(self) -> list[str]:
        """Every image the pipeline tagged in this run, the registry's tags included."""
        ours = {f"{name}:{tag}" for name in ("links-web", "links-nginx", "links-test") for tag in self.tags}
        listed = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.split()
        return sorted(ours | {ref for ref in listed if ref.split("/")[-1] in ours})

    def cleanup_command(self) -> list[str]:
        # pipeline.sh down (the stack, its data, the entry point, the registry, and the Swarm if
        # the pipeline created it and no other stack uses it), then the copy and the run's images.
        script = (f'copy=$1; shift; {self.TEARDOWN}; cd / && rm -rf "$copy"; '
                  'docker image rm --force "$@" >/dev/null 2>&1; true')
        return ["sh", "-c", script, "cleanup", str(self.directory.parent), *self._images()]

    def down(self) -> str:
        """Remove everything the pipeline created, its images and the copy (safe to call twice).
        pipeline.sh says when it keeps a Swarm other stacks use: that line is passed on."""
        kept = []
        if self.directory.exists():
            self.show("./pipeline.sh", "down")
            result = subprocess.run(self.cleanup_command(), cwd=self.directory, env=self.env,
                                    capture_output=True, text=True, timeout=300)
            kept = [line.removeprefix("==> down: ") for line in result.stderr.splitlines()
                    if "keeping the Swarm" in line]
        self.removed = True
        return "; ".join([f"{self.stack} removed", *kept])


class ClusterRun(PipelineRun):
    """Stage 05 on its three-node Swarm (cluster.yaml, cluster.sh) in a temporary copy of the
    stage: the pipeline builds and pushes, `./cluster.sh up deploy` starts three nodes and deploys
    from node1, whose entry point is published on a free 127.0.0.1 port."""

    ENTRY_NODE = "node1"
    # The nodes go first, then what the pipeline made on this machine.
    TEARDOWN = "./cluster.sh down; ./pipeline.sh down"

    def cluster(self, *steps: str, timeout: float = 600, **settings: str) -> str:
        """Run `./cluster.sh STEPS` with `settings` added to its environment; its step log. Not
        retried: `up` stopped half-way (a node not joined) would not be finished by a second run."""
        return self._script("cluster.sh", steps, timeout, settings)

    def up(self) -> str:
        """Build and push the release, start the three nodes and deploy it; wait until it answers."""
        started = time.monotonic()
        log = self.pipeline("registry", "build", "push") + "\n" + self.cluster("up", "deploy")
        wait_until(lambda: self.status("/healthz") == 200, timeout=60, what=f"{self.stage} to answer")
        return f"{log}\n{self.stage} is up at {self.url} after {time.monotonic() - started:.1f} s"

    def node(self, name: str) -> str:
        """The container that is node `name` (running or not)."""
        return docker("ps", "--all", "--quiet",
                      "--filter", f"label=com.docker.compose.project={self.stack}-cluster",
                      "--filter", f"label=com.docker.compose.service={name}").stdout.strip()

    def on(self, node: str, *args: str) -> str:
        """A docker command on a node, as if logged in to that machine."""
        self.show("docker", "exec", node, "docker", *args)
        return docker("exec", self.node(node), "docker", *args).stdout

    @property
    def url(self) -> str:
        return f"http://{self._port(self.node(self.ENTRY_NODE), '8080/tcp')}"

    def nodes(self) -> dict[str, tuple[str, str]]:
        """hostname -> (status, manager status), as node1's manager sees them."""
        rows = docker("exec", self.node(self.ENTRY_NODE), "docker", "node", "ls",
                      "--format", "{{.Hostname}} {{.Status}} {{.ManagerStatus}}").stdout
        return {name: (status, manager)
                for name, status, manager in (row.split() for row in rows.splitlines())}

    def running(self, service: str = "web") -> list[str]:
        """The node of each task of a service that runs now."""
        rows = docker("exec", self.node(self.ENTRY_NODE), "docker", "service", "ps",
                      "--filter", "desired-state=running", "--format", "{{.Node}} {{.CurrentState}}",
                      f"{self.stack}_{service}").stdout
        return [node for node, state, *_ in (row.split() for row in rows.splitlines()) if state == "Running"]

    def service(self, service: str = "web") -> dict:
        return json.loads(docker("exec", self.node(self.ENTRY_NODE), "docker", "service", "inspect",
                                 f"{self.stack}_{service}").stdout)[0]

    def crash(self, node: str) -> None:
        """The machine loses power: its engine and every container on it die at once."""
        self.show("docker", "kill", node)
        docker("kill", self.node(node))

    def power_on(self, node: str) -> None:
        self.show("docker", "start", node)
        docker("start", self.node(node))


class SteadyLoad:
    """GET requests to one URL on 127.0.0.1 at a steady pace, in a thread, bounded in time and
    count. Records the `X-App-Version` and the status (or the error) of every answer."""

    def __init__(self, url: str, per_second: float = 20, max_seconds: float = 120,
                 max_requests: int = 3000):
        if not url.startswith("http://127.0.0.1:"):
            raise ValueError("the workbook only sends traffic to 127.0.0.1")
        self.url, self.pause = url, 1 / per_second
        self.max_seconds, self.max_requests = max_seconds, max_requests
        self.results: list[tuple[str, int | str]] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        while not self.stopped.is_set() and time.monotonic() < deadline \
                and len(self.results) < self.max_requests:
            try:
                status, headers, _ = fetch(self.url, timeout=5)
                self.results.append((headers.get("X-App-Version", ""), status))
            except (OSError, http.client.HTTPException) as error:  # refused, reset, timed out
                self.results.append(("", type(error).__name__))
            self.stopped.wait(self.pause)

    def __enter__(self) -> SteadyLoad:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        self.thread.join()

    def wait_for(self, version: str, last: int = 20, timeout: float = 60) -> None:
        """Until the last `last` answers all came from `version`."""
        wait_until(lambda: [v for v, _ in self.results[-last:]] == [version] * last, timeout=timeout,
                   what=f"the last {last} answers to come from {version}")

    def counts(self) -> Counter:
        """How many answers each (version, status) got; an error counts as ('', its name)."""
        return Counter(self.results)

    def timeline(self) -> str:
        """The answering versions in three phases: the first alone, a mix (a rolling update: old and
        new replicas answer side by side), the last alone: 'a ×120 → mixed (b ×14, a ×9) → b ×80'."""
        versions = [version or "error" for version, _ in self.results]
        if len(set(versions)) < 2:
            return f"{versions[0]} ×{len(versions)}" if versions else "no answers"
        first, last = versions[0], versions[-1]
        start = next(i for i, version in enumerate(versions) if version != first)
        end = max(i for i, version in enumerate(versions) if version != last) + 1
        phases = [f"{first} ×{start}"]
        if start < end:
            both = Counter(versions[start:end])
            phases.append("mixed (" + ", ".join(f"{v} ×{n}" for v, n in both.items()) + ")")
        return " → ".join([*phases, f"{last} ×{len(versions) - end}"])


def _short(created_by: str, width: int = 90) -> str:
    text = " ".join(created_by.replace("/bin/sh -c #(nop) ", "").split())
    return text if len(text) <= width else text[: width - 1] + "…"

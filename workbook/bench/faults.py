"""The fault matrix: stage 04's stack (Compose) under steady traffic, one fault at a time, and for
each what it cost: failed requests, the time until everything answers again, and whether anything
acknowledged was lost (every link that got a 201 readable afterwards; visit counts within the
bounds the stage's README states).

The traffic is Python threads, not wrk: it is steady rather than maximal, and every answer is
recorded (its time, what was asked, its status), so that what failed and when is known exactly.
It goes only to the stack's entry point on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from .. import STAGES_DIR
from ..docker import docker, wait_until
from ..errors import WorkbookError
from ..http import NO_ANSWER, fetch
from ..runs import PipelineRun
from .stack import Stack

# What each fault does, and the most visits it may lose (the README's bounds): none, except where
# Redis itself restarts, which loses what it held (the visits since the mover's last batch).
FAULTS = {
    "worker_kill": "kill -9 of one gunicorn worker (the master forks a new one)",
    "web_kill": "kill -9 of web's main process, a crash (Docker's restart policy starts it again)",
    "postgres_restart": "docker compose restart db",
    "redis_restart": "docker compose restart redis (a cache without persistence: it comes back empty)",
    "nginx_restart": "docker compose restart nginx",
    "mover_kill": "kill -9 of the visit mover in the middle of a batch (PostgreSQL paused so that it "
                  "holds one), then PostgreSQL resumed",
}
LOSES_VISITS = {"redis_restart"}
TRAFFIC_THREADS = 4
# How each fault is done under Swarm, where it differs from FAULTS (which says how under Compose).
SWARM_HOW = {
    "web_kill": "kill -9 of one web task's main process, a crash (Swarm starts a new task)",
    "postgres_restart": "docker service update --force of db (Swarm replaces its task)",
    "redis_restart": "docker service update --force of redis (it comes back empty)",
    "nginx_restart": "docker restart of the entry point's container",
}


def how(fault: str, orchestrator: str) -> str:
    return SWARM_HOW.get(fault, FAULTS[fault]) if orchestrator == "Swarm" else FAULTS[fault]


class Traffic:
    """Redirects of one cached link from `threads` threads, and a link created every
    1/`creates_per_second` s, until stopped; every answer kept as (time, kind, status or error)."""

    def __init__(self, base_url: str, code: str, threads: int = TRAFFIC_THREADS,
                 creates_per_second: float = 5,
                 max_seconds: float = 180):
        if not base_url.startswith("http://127.0.0.1:"):
            raise ValueError("the workbook only sends traffic to 127.0.0.1")
        self.base_url, self.code = base_url, code
        self.answers: list[tuple[float, str, int | str]] = []
        self.created: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._deadline = time.monotonic() + max_seconds
        self._threads = [threading.Thread(target=self._redirects, daemon=True) for _ in range(threads)]
        self._threads.append(threading.Thread(target=self._creates, args=(1 / creates_per_second,),
                                              daemon=True))

    def _record(self, kind: str, outcome: int | str) -> None:
        with self._lock:
            self.answers.append((time.monotonic(), kind, outcome))

    def _ask(self, path: str, payload: dict | None = None) -> tuple[int | str, str]:
        try:
            status, _, body = fetch(self.base_url + path, payload, timeout=5)
            return status, body
        except NO_ANSWER as error:
            return type(error).__name__, ""

    def _redirects(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            self._record("redirect", self._ask(f"/{self.code}")[0])
            self._stop.wait(0.01)

    def _creates(self, pause: float) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            status, body = self._ask("/api/links", {"url": "https://example.org/fault"})
            self._record("create", status)
            if status == 201:
                with self._lock:
                    self.created.append(json.loads(body)["code"])
            self._stop.wait(pause)

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)

    def count(self) -> int:
        with self._lock:
            return len(self.answers)

    def seconds(self) -> float:
        with self._lock:
            return self.answers[-1][0] - self.answers[0][0] if len(self.answers) > 1 else 0.0

    def summary(self) -> dict:
        with self._lock:
            answers = list(self.answers)
        expected = {"redirect": 302, "create": 201}
        failed = Counter(f"{kind}: {outcome}" for _, kind, outcome in answers if outcome != expected[kind])
        return {"requests": len(answers), "failed": sum(failed.values()), "failures": dict(failed),
                "redirects_served": sum(1 for _, kind, outcome in answers
                                        if kind == "redirect" and outcome == 302),
                "links_created": len(self.created)}


def _all_answer(base_url: str, code: str, redirects: list[int]) -> bool:
    """Everything answers: a redirect, a read and a write through the entry point. Each redirect
    answered is appended to `redirects`: it counted a visit too."""
    try:
        if fetch(f"{base_url}/{code}", timeout=2)[0] != 302:
            return False
        redirects.append(1)
        return (fetch(f"{base_url}/api/links/{code}", timeout=2)[0] == 200
                and fetch(f"{base_url}/api/links", {"url": "https://example.org/probe"}, timeout=2)[0] == 201)
    except NO_ANSWER:
        return False


def _kill_main_process(container: str) -> None:
    """SIGKILL to the container's PID 1 from the host: a crash, as Docker sees it (a `docker kill`
    would be a deliberate stop, which no restart policy undoes)."""
    pid = int(docker("inspect", "--format", "{{.State.Pid}}", container).stdout)
    if pid <= 0:
        raise WorkbookError(f"container {container} is not running")
    os.kill(pid, signal.SIGKILL)


class ComposeTarget:
    """Stage 04's stack under Compose, as the faults see it."""

    orchestrator = "Compose"

    def __init__(self, stack: Stack):
        self.stack, self.stage, self.run = stack, stack.stage, stack.run

    @property
    def url(self) -> str:
        return self.stack.url

    def container(self, service: str) -> str:
        return self.stack.containers()[service]

    def exec(self, service: str, *command: str) -> str:
        return self.run.exec(service, *command)

    def restart(self, service: str) -> None:
        self.run.compose("restart", service)

    def pause(self, service: str) -> None:
        self.run.compose("pause", service)

    def unpause(self, service: str) -> None:
        self.run.compose("unpause", service)

    def create_link(self) -> str:
        return self.stack.create_links(1, "https://example.org/fault-target")[0]

    def healthy_again(self) -> None:
        """Every service running and healthy, as before the fault (whatever the fault left)."""
        self.run.compose("up", "--detach", "--wait")
        self.stack.forget_urls()


class SwarmTarget:
    """Stage 05's stack under Swarm (its pipeline's deployment), as the faults see it: a
    "restart" of a service is Swarm's own (`docker service update --force`), of the entry point
    a `docker restart` of its container."""

    orchestrator = "Swarm"

    def __init__(self, run):
        self.run, self.stage = run, run.stage

    @property
    def url(self) -> str:
        return self.run.url

    def container(self, service: str) -> str:
        if service == "nginx":
            return self.run._edge()
        found = docker("ps", "--quiet", "--filter",
                       f"label=com.docker.swarm.service.name={self.run.stack}_{service}").stdout.split()
        if not found:
            raise WorkbookError(f"no running task of {self.run.stack}_{service}")
        return found[0]

    def exec(self, service: str, *command: str) -> str:
        return docker("exec", self.container(service), *command).stdout

    def restart(self, service: str) -> None:
        if service == "nginx":
            docker("restart", self.container("nginx"))
        else:
            docker("service", "update", "--force", "--detach=false", "--quiet",
                   f"{self.run.stack}_{service}", timeout=300)

    def pause(self, service: str) -> None:
        docker("pause", self.container(service))

    def unpause(self, service: str) -> None:
        docker("unpause", self.container(service))

    def create_link(self) -> str:
        status, body = self.run.post_json("/api/links", {"url": "https://example.org/fault-target"})
        if status != 201:
            raise WorkbookError(f"{self.stage}: creating a link answered {status}", str(body))
        return body["code"]

    def healthy_again(self) -> None:
        """Every service at its replicas, each running task healthy where it has a check."""
        def converged() -> bool:
            namespace = f"label=com.docker.stack.namespace={self.run.stack}"
            listing = docker("service", "ls", "--filter", namespace,
                             "--format", "{{.Replicas}}").stdout.split()
            return bool(listing) and all(a == b for a, b in (r.split("/")[:2] for r in listing))

        wait_until(converged, timeout=180, interval=1, what=f"{self.run.stack}'s services to converge")
        wait_until(lambda: self.run.status("/healthz") == 200, timeout=60, what="the entry point")


def _a_worker(target) -> str:
    """The PID of one gunicorn worker in web (a child of PID 1, the master)."""
    listing = target.exec("web", "sh", "-c", "grep -l '^PPid:	1$' /proc/[0-9]*/status")
    pids = sorted(int(path.split("/")[2]) for path in listing.split())
    if not pids:
        raise WorkbookError("no gunicorn worker found in web")
    return str(pids[0])


def inject(target, fault: str) -> None:
    if fault == "worker_kill":
        # `kill` is the shell's builtin: the slim image has no kill binary.
        target.exec("web", "sh", "-c", f"kill -9 {_a_worker(target)}")
    elif fault == "web_kill":
        _kill_main_process(target.container("web"))
    elif fault in ("postgres_restart", "redis_restart", "nginx_restart"):
        target.restart({"postgres_restart": "db", "redis_restart": "redis", "nginx_restart": "nginx"}[fault])
    elif fault == "mover_kill":
        target.pause("db")
        try:
            wait_until(lambda: target.exec("redis", "redis-cli", "EXISTS", "visits:moving").strip() == "1",
                       timeout=15, interval=0.1, what="the mover to take a batch")
            _kill_main_process(target.container("visits"))
        finally:
            target.unpause("db")
    else:
        raise WorkbookError(f"unknown fault {fault!r}: one of {', '.join(FAULTS)}")


def visits_in_postgres(target, code: str) -> int:
    out = target.exec("db", "psql", "-U", "links", "-d", "links", "-Atc",
                      f"SELECT visits FROM links WHERE code = '{code}'")
    return int(out.strip() or -1)


def measure_fault(target, fault: str, config: dict, progress) -> dict:
    """One fault under traffic: `fault_calm_seconds` before and after it, the recovery between."""
    base_url, calm = target.url, config["fault_calm_seconds"]
    code = target.create_link()
    fetch(f"{base_url}/{code}")  # now cached
    what = how(fault, target.orchestrator)
    progress(target.stage, f"fault {fault}: {what}")
    with Traffic(base_url, code, max_seconds=config["fault_max_seconds"]) as traffic:
        wait_until(lambda: traffic.count() >= 20, timeout=30, what="the traffic to start")
        time.sleep(calm)  # the calm before: the figure is what the fault adds to it
        injected = time.monotonic()
        inject(target, fault)
        probed: list[int] = []
        wait_until(lambda: _all_answer(base_url, code, probed), timeout=config["fault_max_seconds"],
                   interval=0.1, what=f"{target.stage} to answer everything again after {fault}")
        recovered = time.monotonic() - injected
        time.sleep(calm)  # the calm after, under the same traffic
    figures = traffic.summary()
    # Acknowledged is kept: every link that got a 201 is readable.
    lost_links = [created for created in traffic.created
                  if fetch(f"{base_url}/api/links/{created}")[0] != 200]
    # Visits: once the mover has moved everything, compare with the redirects served.
    # The redirects of the traffic, of the probes, and the one that cached the link.
    served = figures["redirects_served"] + len(probed) + 1
    settled = settled_visits(target, code)
    # The README's bound where Redis restarts: the visits since the mover's last batch, about one
    # 1 s interval of them; twice that, for the mover's own timing, as the stage's test allows.
    per_second = figures["redirects_served"] / max(traffic.seconds(), 1e-9)
    bound = round(2 * per_second) if fault in LOSES_VISITS else 0
    # A redirect in flight when its answer is lost (web killed) was counted but never served: at
    # most one per traffic thread may be counted more than served.
    return {"fault": fault, "what": what, "recovery_s": recovered, **figures,
            "lost_links": len(lost_links), "visits_served": served, "visits_in_postgres": settled,
            "visits_lost": served - settled, "visits_bound": bound, "in_flight": TRAFFIC_THREADS}


def settled_visits(target, code: str) -> int:
    """PostgreSQL's count of `code` once nothing of it is pending in Redis (the mover, restarted
    after some faults, has moved everything)."""
    def nothing_pending() -> bool:
        pending = [target.exec("redis", "redis-cli", "HGET", key, code).strip()
                   for key in ("visits:pending", "visits:moving")]
        return all(value in ("", "0") for value in pending)

    wait_until(nothing_pending, timeout=120, interval=1, what="the mover to move every pending visit")
    return visits_in_postgres(target, code)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _measure_all(target, config: dict, progress) -> dict:
    results = {}
    for fault in config["faults"]:
        results[fault] = measure_fault(target, fault, config, progress)
        target.healthy_again()  # the next fault starts from a healthy stack
    return results


def measure_compose(stage: str, config: dict, progress) -> dict:
    with tempfile.TemporaryDirectory(prefix="workbook-bench-faults-") as tmp:
        # A fixed port: a restarted container would get a new one if Docker chose it.
        stack = Stack(stage, f"wbtest-bench-faults-{stage}", Path(tmp), http_port=str(free_port()))
        try:
            progress(stage, "faults: building and starting (Compose)")
            stack.run.compose("up", "--build", "--detach", "--wait")
            return _measure_all(ComposeTarget(stack), config, progress)
        finally:
            stack.run.down()


def measure_swarm(stage: str, config: dict, progress) -> dict:
    run = PipelineRun(stage, stack=f"wbtest-bench-faults-{stage}", http_port=str(free_port()),
                      show_commands=False)
    try:
        progress(stage, "faults: the pipeline's deployment (Swarm)")
        run.up()
        return _measure_all(SwarmTarget(run), config, progress)
    finally:
        run.down()


def measure_faults(config: dict, progress) -> dict:
    """Every fault of `config["faults"]` in turn, on each stage of `config["faults_stages"]`:
    stage 04 under Compose, a stage with a pipeline (05) as its Swarm deployment."""
    started = time.monotonic()
    stages = {}
    for stage in config["faults_stages"]:
        swarm = (STAGES_DIR / stage / "stack.yaml").is_file()
        measure = measure_swarm if swarm else measure_compose
        stages[stage] = {"orchestrator": "Swarm" if swarm else "Compose",
                         "faults": measure(stage, config, progress)}
    keys = ("fault_calm_seconds", "fault_max_seconds")
    return {"config": {key: config[key] for key in keys}, "seconds": time.monotonic() - started,
            "stages": stages}

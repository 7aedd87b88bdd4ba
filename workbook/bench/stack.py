"""A stage's Compose stack as the benchmark drives it: started once, then `web` recreated with
another environment for each variant (cache off, visits counted synchronously, a worker count).

The variant's environment goes into a Compose override file of the benchmark's own (in a
temporary directory), layered on the stage's compose.yaml: the StageRun itself is never changed
from outside. A stage with nginx also gets web's port published (bench/overrides/publish-web.yaml),
for the load sent to gunicorn directly and for web's /metrics."""

from __future__ import annotations

import json
from pathlib import Path

from ..docker import wait_until
from ..errors import WorkbookError
from ..http import fetch
from ..runs import StageRun
from .config import OVERRIDES, has_proxy

# PostgreSQL's transactions in the app's database (committed and rolled back), all backends.
TRANSACTIONS_QUERY = ("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                      "WHERE datname = 'links'")


def variant_override(env: dict[str, str]) -> str:
    """The Compose override that sets web's environment for a variant (JSON is YAML)."""
    return json.dumps({"services": {"web": {"environment": dict(sorted(env.items()))}}}, indent=2) + "\n"


class Stack:
    """One stage under the compose project `project`; `directory` holds the variant file."""

    def __init__(self, stage: str, project: str, directory: Path, env: dict[str, str] | None = None,
                 http_port: str = ""):
        self.stage = stage
        self.env = dict(env or {})
        self.stopped: set[str] = set()
        self.variant_file = directory / "variant.yaml"
        self.variant_file.write_text(variant_override(self.env))
        published = (OVERRIDES / "publish-web.yaml",) if has_proxy(stage) else ()
        self.run = StageRun(stage, project=project, extra_files=(*published, self.variant_file),
                            http_port=http_port, show_commands=False)
        self._urls: dict[str, str] = {}

    @property
    def proxied(self) -> bool:
        return has_proxy(self.stage)

    def switch(self, env: dict[str, str], stopped: tuple[str, ...] = ()) -> bool:
        """Recreate web with `env` (nothing else is recreated) and stop the services of `stopped`
        (starting those stopped before); False when it already runs so. nginx resolves `web`
        once, when it starts: restarted, it finds the new container."""
        env, stopped = dict(env), set(stopped)
        if env == self.env and stopped == self.stopped:
            return False
        if stopped != self.stopped:
            if self.stopped - stopped:
                self.run.compose("up", "--detach", "--wait", "--no-deps", *sorted(self.stopped - stopped))
            if stopped - self.stopped:
                self.run.compose("stop", *sorted(stopped - self.stopped))
            self.stopped = stopped
        if env == self.env:
            return True
        self.variant_file.write_text(variant_override(env))
        self.env = env
        self._urls.clear()
        self.run.compose("up", "--detach", "--wait", "--no-deps", "web")
        if self.proxied:
            self.run.compose("restart", "nginx")
        wait_until(lambda: self.run.status("/healthz") == 200, timeout=60, interval=0.1,
                   what=f"{self.stage} ({self.describe()}) to answer")
        return True

    def describe(self) -> str:
        return ", ".join(f"{name}={value}" for name, value in sorted(self.env.items())) or "as shipped"

    def forget_urls(self) -> None:
        """After the stack was started or recreated: its published ports may have changed."""
        self._urls.clear()

    @property
    def url(self) -> str:
        """The entry point (nginx where the stage has it, else web)."""
        if "entry" not in self._urls:
            self._urls["entry"] = self.run.url
        return self._urls["entry"]

    @property
    def direct_url(self) -> str:
        """gunicorn's own port (published for the benchmark on a stage with nginx)."""
        if not self.proxied:
            return self.url
        if "direct" not in self._urls:
            port = self.run.compose("port", "web", "8000").strip().rsplit(":", 1)[1]
            self._urls["direct"] = f"http://127.0.0.1:{port}"
        return self._urls["direct"]

    def containers(self) -> dict[str, str]:
        """Each running service's full container id (the cgroup's name on the host)."""
        out = self.run.compose("ps", "--no-trunc", "--format", "{{.Service}} {{.ID}}")
        return dict(line.split() for line in out.splitlines() if line.strip())

    def metrics(self) -> str:
        """web's /metrics (Prometheus text), from gunicorn directly."""
        status, _, body = fetch(self.direct_url + "/metrics")
        if status != 200:
            raise WorkbookError(f"{self.stage}: /metrics answered {status}")
        return body

    def has_database_service(self) -> bool:
        return "db" in self.containers()

    def transactions(self) -> int:
        """PostgreSQL's transaction count in the links database (pg_stat_database)."""
        out = self.run.exec("db", "psql", "-U", "links", "-d", "links", "-Atc", TRANSACTIONS_QUERY)
        return int(out.strip())

    def create_links(self, count: int, url: str | None = None) -> list[str]:
        """`count` new short links, made through the entry point; their codes."""
        codes, entry = [], self.url
        for i in range(count):
            status, _, body = fetch(entry + "/api/links", {"url": url or f"https://example.org/bench/{i}"})
            if status != 201:
                raise WorkbookError(f"{self.stage}: creating a benchmark link answered {status}", body[:500])
            codes.append(json.loads(body)["code"])
        return codes

    def header_check(self, url: str) -> dict[str, str]:
        """The X-Cache and X-Visits headers of one GET of `url` (absent: empty)."""
        _, headers, _ = fetch(url)
        lower = {name.lower(): value for name, value in headers.items()}
        return {name: lower.get(name.lower(), "") for name in ("X-Cache", "X-Visits")}

"""A stage driven from a notebook: build and start it, call the app, inspect image, processes
and logs, and clean up — in the last cell, and also when the kernel exits after a failed cell."""

from __future__ import annotations

import atexit
import json
import os
import secrets
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import STAGES_DIR, stages
from .docker import docker, image_layers, image_size, wait_until


# Traffic to 127.0.0.1 never goes through a proxy, and redirects are shown, not followed.
class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


class StageRun:
    """One stage under its own compose project (`wbtest-nb-<stage>` unless named), on a free
    127.0.0.1 port."""

    def __init__(self, stage: str, project: str | None = None, extra_files: tuple[Path, ...] = ()):
        self.stage = stage
        # Compose files layered on the stage's own compose.yaml (the benchmark's overrides).
        self.files = [arg for path in ("compose.yaml", *extra_files) for arg in ("-f", str(path))]
        self.directory = STAGES_DIR / stage
        self.project = project or f"wbtest-nb-{stage}"
        # Empty WEB_PORT/HTTP_PORT let Docker choose free ports; a stage that needs a password in
        # its environment gets a fresh one there (no .env file is written into the stage).
        self.env = os.environ | {"WEB_PORT": "", "HTTP_PORT": "",
                                 "POSTGRES_PASSWORD": secrets.token_hex(16)}
        atexit.register(self.down)

    def compose(self, *args: str, timeout: float = 600) -> str:
        return docker("compose", "--ansi", "never", "--project-name", self.project, *self.files, *args,
                      cwd=self.directory, env=self.env, timeout=timeout).stdout

    def up(self) -> str:
        """Build and start the stage; wait until it is up (healthy where it has a health check)."""
        self.compose("down", "--volumes", "--remove-orphans")
        if (self.directory / "make-secrets.sh").exists():
            stages.prepare(self.directory)  # secrets/ is ignored by git; an existing one is kept
        started = time.monotonic()
        self.compose("up", "--build", "--detach", "--wait")
        wait_until(lambda: self.status("/healthz") == 200, timeout=60, what=f"{self.stage} to answer")
        return f"{self.stage} is up at {self.url} after {time.monotonic() - started:.1f} s"

    @property
    def url(self) -> str:
        """Where the stack answers: nginx where the stage has it, else web."""
        return stages.entry_url(self.compose("ps", "--format", "json"))

    def request(self, path: str, payload: dict | None = None) -> tuple[int, dict, str]:
        """(status, headers, body) of a GET, or of a JSON POST when `payload` is given."""
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.url + path, data=data,
                                         headers={"Content-Type": "application/json"} if data else {})
        try:
            with _OPENER.open(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()

    def status(self, path: str) -> int | None:
        try:
            return self.request(path)[0]
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None

    def get_json(self, path: str):
        return json.loads(self.request(path)[2])

    def post_json(self, path: str, payload: dict):
        status, _, body = self.request(path, payload)
        return status, json.loads(body)

    @property
    def image(self) -> str:
        return f"{self.project}-web"

    def image_report(self) -> str:
        """The image's size and its layers, largest first."""
        layers = sorted(image_layers(self.image), key=lambda layer: -layer.size)
        lines = [f"{self.image}: {image_size(self.image) / 1e6:.1f} MB in {len(layers)} history entries"]
        for layer in layers:
            if layer.size:
                lines.append(f"{layer.size / 1e6:9.1f} MB  {_short(layer.created_by)}")
        return "\n".join(lines)

    def ps(self) -> list[dict]:
        return [json.loads(line) for line in self.compose("ps", "--all", "--format", "json").splitlines()]

    def health(self) -> dict[str, str]:
        return {row["Service"]: row["Health"] or row["State"] for row in self.ps()}

    def exec(self, service: str, *command: str) -> str:
        return self.compose("exec", "-T", service, *command)

    def processes(self, service: str = "web") -> str:
        """PID, parent and command line of each process, read from /proc (slim images have no ps)."""
        script = ("for d in /proc/[0-9]*; do printf '%6s %6s  %s\\n' \"${d#/proc/}\" "
                  "\"$(cut -d' ' -f4 $d/stat)\" \"$(tr '\\0' ' ' < $d/cmdline)\"; done 2>/dev/null")
        rows = [line for line in self.exec(service, "sh", "-c", script).splitlines() if line.strip()[-1:]]
        return "   PID   PPID  COMMAND\n" + "\n".join(sorted(rows, key=lambda r: int(r.split()[0])))

    def logs(self, service: str = "web", tail: int = 15) -> str:
        return self.compose("logs", "--no-log-prefix", "--tail", str(tail), service)

    def down(self) -> str:
        """Remove the stage's containers, network and volumes (safe to call twice)."""
        # A short stop timeout: this is clean-up, not a test of graceful shutdown (stage 01's `sh`
        # as PID 1 would otherwise hold every teardown for Docker's full 10 s).
        docker("compose", "--project-name", self.project, "down", "--volumes", "--remove-orphans",
               "--timeout", "3", cwd=self.directory, env=self.env, check=False)
        return f"{self.project} removed"


def _short(created_by: str, width: int = 90) -> str:
    text = " ".join(created_by.replace("/bin/sh -c #(nop) ", "").split())
    return text if len(text) <= width else text[: width - 1] + "…"

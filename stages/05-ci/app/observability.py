"""One JSON object per line on stdout for every request (with the request id nginx passes on),
and the request metrics."""

import json
import logging
import sys
import time
import uuid

from flask import Flask, g, request

from .metrics import LATENCY, REQUESTS

access_log = logging.getLogger("app.access")


class JsonFormatter(logging.Formatter):
    FIELDS = ("request_id", "method", "path", "status", "duration_ms")

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        entry |= {name: getattr(record, name) for name in self.FIELDS if hasattr(record, name)}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


def register_request_hooks(app: Flask) -> None:
    @app.before_request
    def start_timer():
        g.started = time.perf_counter()
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex

    @app.after_request
    def record(response):
        duration = time.perf_counter() - g.get("started", time.perf_counter())
        # The route's pattern, not the path: one series per endpoint, not one per short code.
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(request.method, endpoint, response.status_code).inc()
        LATENCY.labels(endpoint).observe(duration)
        access_log.info("request", extra={
            "request_id": g.get("request_id"), "method": request.method, "path": request.path,
            "status": response.status_code, "duration_ms": round(duration * 1000, 2)})
        response.headers["X-Request-ID"] = g.get("request_id", "")
        return response

"""Prometheus metrics that stay correct with several gunicorn workers: in multiprocess mode
(PROMETHEUS_MULTIPROC_DIR set) every worker writes its figures to that directory, and /metrics
adds them up over all workers."""

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["method", "endpoint", "status"])
LATENCY = Histogram("http_request_duration_seconds", "Time to answer a request", ["endpoint"])
CACHE_LOOKUPS = Counter("cache_lookups_total", "Redirect lookups in the cache", ["result"])
VISITS_COUNTED = Counter("visits_counted_total", "Redirects counted, by where the count went first",
                         ["where"])
DATABASE_ERRORS = Counter("database_errors_total", "Requests that failed on the database")


def exposition() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST

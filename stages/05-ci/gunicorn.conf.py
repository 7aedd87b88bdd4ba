"""gunicorn settings, each overridable from the environment so one image fits every host.
Docs: https://docs.gunicorn.org/en/stable/settings.html"""

import math
import os
from pathlib import Path

# Listen on all interfaces inside the container; compose publishes the port on 127.0.0.1 only.
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"


def cpu_limit() -> float:
    """The CPUs this container may use: its cgroup's CPU quota (compose's `cpus:`, Kubernetes'
    limits.cpu), else the CPUs the process may run on. Not os.cpu_count(): that counts every core
    of the host, however little of it the container may use."""
    try:  # cgroup v2: "max 100000", or "<quota> <period>" in microseconds
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            return int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1: a quota of -1 means no limit
        quota = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        if quota > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return len(os.sched_getaffinity(0))


# The classic starting point, (2 x CPUs) + 1 worker processes, counted from the container's CPU
# limit rounded up (1.0 CPU: 3 workers); each worker has a few threads for requests that wait on
# PostgreSQL or Redis. GUNICORN_WORKERS overrides it.
workers = int(os.environ.get("GUNICORN_WORKERS") or 2 * math.ceil(cpu_limit()) + 1)
threads = int(os.environ.get("GUNICORN_THREADS", "2"))

# Load the app once in the master, then fork the workers: they share its memory pages (imports,
# compiled code) instead of each loading its own copy. The app drops any connection it inherits
# at the fork (app/__init__.py), so no two workers ever share one.
preload_app = True


def when_ready(server):
    """Just before the workers are forked: move every object loaded so far out of the garbage
    collector's sight, so that its passes in the workers do not write to (and so copy) the pages
    they share with the master."""
    import gc

    gc.freeze()

# A worker silent for this long is killed and replaced.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On SIGTERM, in-flight requests get this long to finish. It stays below `docker stop`'s default
# 10 s, so gunicorn exits by itself before Docker resorts to SIGKILL.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "8"))
# Keep idle client connections (a proxy's, later) open briefly for reuse.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))

# Workers heartbeat through a temporary file: on /dev/shm (memory), not the container's
# overlay filesystem, where a slow disk can make healthy workers look dead.
worker_tmp_dir = "/dev/shm"

# gunicorn's control socket (for `gunicornc`) defaults to the home directory; the app user has
# none and the filesystem is read-only, so it goes to the /tmp tmpfs.
control_socket = "/tmp/gunicorn.ctl"

# Access and error logs to stdout/stderr: Docker collects them (`docker logs`).
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")


def child_exit(server, worker):
    """Metrics in multiprocess mode: a dead worker's live gauges must not count any more."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)

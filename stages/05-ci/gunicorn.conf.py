"""gunicorn settings, each overridable from the environment so one image fits every host.
Docs: https://docs.gunicorn.org/en/stable/settings.html"""

import multiprocessing
import os

# Listen on all interfaces inside the container; compose publishes the port on 127.0.0.1 only.
bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"

# The classic starting point: (2 x cores) + 1 worker processes, each with a few threads.
workers = int(os.environ.get("GUNICORN_WORKERS") or 2 * multiprocessing.cpu_count() + 1)
threads = int(os.environ.get("GUNICORN_THREADS", "2"))

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

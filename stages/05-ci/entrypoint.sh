#!/bin/sh
# Prepare the container, then hand over to the server.
set -eu

# Metrics of an earlier run must not be added to this one's (multiprocess mode keeps files).
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
    rm -rf "$PROMETHEUS_MULTIPROC_DIR"
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
fi

# An app with Flask-Migrate's migrations/ (this one; another app may have none):
if [ -d migrations ]; then
    # Wait (bounded) until the database answers. A database that is restarting, or refuses us
    # (a wrong password), is reported in one log line per attempt instead of a crash loop.
    flask wait-for-db --timeout "${DB_WAIT_SECONDS:-60}"

    # Bring the schema up to date. Safe with several replicas starting at once: migrations take
    # a PostgreSQL advisory lock (migrations/env.py), so one replica migrates and the others wait.
    flask db upgrade
fi

# `exec` replaces this shell with the command (gunicorn by default), so that gunicorn runs as
# PID 1 and receives `docker stop`'s SIGTERM itself, and shuts down gracefully.
exec "$@"

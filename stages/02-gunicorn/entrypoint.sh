#!/bin/sh
# Prepare the container, then hand over to the server.
set -eu

# Bring the database schema up to date before serving any request.
flask db upgrade

# `exec` replaces this shell with the command (gunicorn by default), so that gunicorn runs as
# PID 1 and receives `docker stop`'s SIGTERM itself, and shuts down gracefully.
exec "$@"

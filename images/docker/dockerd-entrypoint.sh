#!/bin/sh
# As the official image's entrypoint: no arguments, or only flags, start dockerd with them.
set -eu
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- dockerd --host=unix:///var/run/docker.sock "$@"
fi
if [ "$1" = dockerd ]; then
    # A pid file left by a container that was stopped hard would stop dockerd from starting.
    find /run /var/run -iname 'docker*.pid' -delete 2>/dev/null || :
fi
exec "$@"

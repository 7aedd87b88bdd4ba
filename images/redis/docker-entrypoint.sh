#!/bin/sh
# Entry point of the redis stand-in, after the official one: options first, drop root, and
# protected mode off by default (the official image patches that default into its build).
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ]; then
	shift
	set -- redis-server --protected-mode no "$@"
	if [ "$(id -u)" = '0' ]; then
		find . \! -user redis -exec chown redis '{}' +
		exec setpriv --reuid=redis --regid=redis --init-groups "$@"
	fi
fi

exec "$@"

#!/bin/sh
# Entry point of the redis stand-in, after the official one: options first, drop root.
# The official build compiles protected mode off by default; Debian's redis-server has it on, so
# the stand-in passes `--protected-mode no` instead. Redis wants a config file as its first argument
# and answers --version/--help only there, so the option goes after the config file and is left
# out for those calls, and a config file that sets protected-mode itself keeps its setting.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ]; then
	if [ "$(id -u)" = '0' ]; then
		find . \! -user redis -exec chown redis '{}' +
		exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
	fi
	shift
	config=
	case "${1:-}" in
		-v | --version | -h | --help | --test-memory | --check-system)
			exec redis-server "$@" ;;
		- | [!-]*)
			config="$1"
			shift
			if [ -f "$config" ] && grep -Eq '^[[:space:]]*protected-mode[[:space:]]' "$config"; then
				exec redis-server "$config" "$@"
			fi ;;
	esac
	set -- redis-server ${config:+"$config"} --protected-mode no "$@"
fi

exec "$@"

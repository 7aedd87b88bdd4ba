#!/bin/sh
# Make sure the distribution's packages that the tests need are installed: each argument is
# both a command and the Debian package that provides it (chromium for the browser test, since
# Playwright cannot download its own browser here; wrk for the benchmark). Idempotent.
set -eu
missing=""
for command in "$@"; do
    command -v "$command" >/dev/null 2>&1 || missing="$missing $command"
done
[ -n "$missing" ] || exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-packages: installing$missing from the distribution's packages" >&2
    apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "ensure-packages: the tests need$missing: install the distribution's package(s) (as root: apt-get install$missing)" >&2
    exit 1
fi

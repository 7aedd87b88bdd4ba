#!/bin/sh
# Make sure a Chromium for the browser test exists: the distribution's package, since Playwright
# cannot download its own browser here. Idempotent.
set -eu
command -v chromium >/dev/null 2>&1 && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: installing the distribution's chromium package" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
else
    echo "ensure-chromium: the browser test needs Chromium: install your distribution's 'chromium' package (as root: apt-get install chromium)" >&2
    exit 1
fi

#!/bin/sh
# Make sure a Docker Engine with Buildx and the Compose v2 plugin answers.
#
# - An engine that already answers (Docker Desktop, a distribution's service) is used as it is.
# - An installed but stopped engine is started (in the background when no service manager runs).
# - As root on Debian or Ubuntu a missing engine is installed from the distribution's packages;
#   on Debian 12 from Debian 13 ("trixie"), whose Engine 26 is the first with a usable BuildKit path.
# - Anywhere else: one line that says what is missing and how to get it, and exit 1.
# Idempotent: a second run on a working machine only runs the three checks.
set -eu

log() { printf 'ensure-docker: %s\n' "$*" >&2; }
die() { printf 'ensure-docker: %s\n' "$*" >&2; exit 1; }

engine_answers() { docker info >/dev/null 2>&1; }
plugins_present() { docker buildx version >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; }

is_root() { [ "$(id -u)" -eq 0 ]; }
os_field() { sed -n "s/^$1=//p" /etc/os-release 2>/dev/null | tr -d '"'; }

start_daemon() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        systemctl start docker
    else
        # No service manager: run dockerd detached, logging where a user can find it.
        log "starting dockerd in the background (log: /var/log/dockerd.log)"
        setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
    fi
    # Wait on the condition, bounded: the daemon answers or we give up with its log.
    i=0
    until engine_answers; do
        i=$((i + 1))
        [ "$i" -le 60 ] || die "dockerd did not answer within 30 s; see /var/log/dockerd.log"
        sleep 0.5
    done
}

install_debian_12() {
    # Add trixie beside bookworm with the same mirror URIs as the machine's own source,
    # pinned low so that nothing but what we ask for comes from it.
    uris=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
    [ -n "$uris" ] || uris=$(sed -n 's/^deb \([^ ]*\) bookworm .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
    [ -n "$uris" ] || die "cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources; install docker.io, docker-buildx and docker-compose from Debian 13 by hand"
    cat > /etc/apt/sources.list.d/workbook-trixie.sources <<SRC
Types: deb
URIs: $uris
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    cat > /etc/apt/preferences.d/workbook-trixie <<PIN
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t trixie docker.io docker-buildx docker-compose >/dev/null
}

install_from_distribution() {
    id=$(os_field ID)
    version=$(os_field VERSION_ID)
    case "$id:$version" in
        debian:12) install_debian_12 ;;
        debian:*) apt-get update -qq
                  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-buildx docker-compose >/dev/null ;;
        ubuntu:*) apt-get update -qq
                  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-buildx docker-compose-v2 >/dev/null ;;
        *) die "no Docker Engine answers and this is not Debian or Ubuntu ($id $version): install Docker Engine with Buildx and Compose v2 (https://docs.docker.com/engine/install/) and start it" ;;
    esac
}

if ! engine_answers; then
    if docker info 2>&1 | grep -q "permission denied"; then
        die "a Docker daemon runs but this user may not use it: add the user to the 'docker' group (then log in again) or run as root"
    fi
    if command -v dockerd >/dev/null 2>&1; then
        is_root || die "the Docker daemon is installed but not running, and starting it needs root: run 'sudo dockerd &' or start the docker service"
        start_daemon
    else
        is_root || die "no Docker Engine answers and installing one needs root: install Docker Engine with Buildx and Compose v2 (https://docs.docker.com/engine/install/), or rerun as root"
        log "no Docker Engine found: installing it from the distribution's packages"
        install_from_distribution
        start_daemon
    fi
fi

if ! plugins_present; then
    if is_root && command -v apt-get >/dev/null 2>&1 && [ "$(os_field ID)" = debian ] && [ "$(os_field VERSION_ID)" = 12 ]; then
        install_debian_12
    fi
    plugins_present || die "the engine answers but 'docker buildx' or 'docker compose' is missing: install the Buildx and Compose v2 plugins (packages docker-buildx and docker-compose, or Docker Desktop)"
fi
log "engine $(docker version --format '{{.Server.Version}}'), $(docker buildx version | cut -d' ' -f1-2), compose $(docker compose version --short)"

#!/bin/sh
# The CI/CD pipeline of .github/workflows/ci.yml, run on this machine: build the images once,
# run the unit tests inside the image, push to a registry, deploy to Docker Swarm.
#
#   ./pipeline.sh all       registry, build, test, sbom, push, deploy (what `make pipeline` runs)
#   ./pipeline.sh STEP...   any of: registry build test sbom push deploy down
#
# Settings (environment):
#   TAG          image tag; default: the current commit (short SHA), or "dev" outside git
#   APP_VERSION  the release the app reports; default: TAG
#   REGISTRY     where to push, host[:port]; default: a registry:2 container on 127.0.0.1
#   REGISTRY_PORT  that local registry's port (default 5000; empty: any free port)
#   STACK        the Swarm stack name (default links); HTTP_PORT the entry port (default 8080)
#   REPLICAS     web replicas (default 2)
#   STACK_FILES  the stack's compose files (default stack.yaml; cluster.sh adds stack.cluster.yaml)
#   HTTP_HOST    the address the entry point listens on (default 127.0.0.1)
#   WEB_IMAGE, NGINX_IMAGE  deploy exactly these (e.g. name@sha256:...) instead of REGISTRY/TAG
#
# `down` removes everything the pipeline created: the stack and its data, the entry point, the
# local registry, and the Swarm itself, but only if `deploy` was the one that created it.
set -eu
cd "$(dirname "$0")"

STACK=${STACK:-links}
TAG=${TAG:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev)}
APP_VERSION=${APP_VERSION:-$TAG}
REPLICAS=${REPLICAS:-2}
STACK_FILES=${STACK_FILES:-stack.yaml}
REGISTRY_CONTAINER=$STACK-registry
# What this pipeline created on the machine, so that `down` undoes exactly that (gitignored).
STATE=.pipeline/$STACK
mkdir -p "$STATE"

log() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'pipeline: %s\n' "$*" >&2; exit 1; }

registry() {
    if [ -n "${REGISTRY:-}" ]; then
        echo "$REGISTRY"
    else
        docker port "$REGISTRY_CONTAINER" 5000/tcp 2>/dev/null | head -n 1 | grep . \
            || fail "no local registry: run './pipeline.sh registry' first, or set REGISTRY"
    fi
}
web_image() { echo "${WEB_IMAGE:-$(registry)/links-web:$TAG}"; }
nginx_image() { echo "${NGINX_IMAGE:-$(registry)/links-nginx:$TAG}"; }

step_registry() {
    [ -z "${REGISTRY:-}" ] || return 0
    if [ -z "$(docker ps -q --filter "name=^$REGISTRY_CONTAINER\$")" ]; then
        log "registry: registry:2 on 127.0.0.1"
        docker run --detach --name "$REGISTRY_CONTAINER" \
            --publish "127.0.0.1:${REGISTRY_PORT-5000}:5000" \
            --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges:true \
            registry:2 >/dev/null
    fi
    log "registry: $(registry)"
}

# --8<-- [start:build]
step_build() {
    # Built once; every later step uses these very images.
    log "build: links-web:$TAG and links-nginx:$TAG (release $APP_VERSION)"
    docker build --build-arg APP_VERSION="$APP_VERSION" --tag "links-web:$TAG" .
    docker build --file nginx/Dockerfile --tag "links-nginx:$TAG" .
}

step_test() {
    log "test: the unit tests inside the image"
    docker build --target test --build-context tests=./tests \
        --build-arg APP_VERSION="$APP_VERSION" --tag "links-test:$TAG" .
    docker run --rm "links-test:$TAG"
}

# --8<-- [start:sbom]
step_sbom() {
    # What the release ships, as a CycloneDX SBOM: every Python package of the image's
    # environment at its exact version. The tool (pinned with hashes in sbom-requirements.txt)
    # runs in a throwaway container of the release image, outside the image's environment: the
    # image itself is not changed. The file goes next to the release's other state.
    sbom=.pipeline/sbom/links-web-$TAG.cdx.json
    log "sbom: $sbom"
    mkdir -p .pipeline/sbom
    docker run --rm --interactive --entrypoint sh "links-web:$TAG" -c '
        cat > /tmp/sbom-requirements.txt
        python -m venv /tmp/sbom
        /tmp/sbom/bin/pip install --quiet --no-cache-dir --disable-pip-version-check \
            --require-hashes -r /tmp/sbom-requirements.txt >&2
        /tmp/sbom/bin/cyclonedx-py environment --output-format JSON /opt/venv/bin/python
    ' < sbom-requirements.txt > "$sbom.tmp"
    mv "$sbom.tmp" "$sbom"
}
# --8<-- [end:build]

step_push() {
    for name in links-web links-nginx; do
        target=$(registry)/$name:$TAG
        log "push: $target"
        docker tag "$name:$TAG" "$target"
        docker push --quiet "$target" >/dev/null
    done
}

# --8<-- [start:deploy]
ensure_swarm() {
    state=$(docker info --format '{{.Swarm.LocalNodeState}}')
    case $state in
        active) return 0 ;;
        inactive)
            # Only a local engine gets a Swarm made for it; a remote one must be set up on purpose.
            case ${DOCKER_HOST:-unix://} in
                unix://*) ;;
                *) fail "the engine at $DOCKER_HOST is not a Swarm manager" ;;
            esac ;;
        *) fail "this engine's Swarm is '$state'; deploy needs an active manager or no Swarm" ;;
    esac
    log "deploy: a one-node Swarm, listening on 127.0.0.1 only"
    docker network inspect docker_gwbridge >/dev/null 2>&1 || touch "$STATE/created-gwbridge"
    docker swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377 \
        --data-path-addr 127.0.0.1 >/dev/null
    touch "$STATE/created-swarm"
}

step_deploy() {
    ensure_swarm
    [ -f secrets/db_password.txt ] && [ -f secrets/secret_key.txt ] || ./make-secrets.sh
    WEB_IMAGE=$(web_image) NGINX_IMAGE=$(nginx_image)
    export WEB_IMAGE NGINX_IMAGE STACK REPLICAS
    log "deploy: stack $STACK, $REPLICAS x $WEB_IMAGE"
    # --detach=false: wait until every service has converged. --with-registry-auth: the nodes
    # pull with this client's registry login (a private registry). An update that fails its health
    # checks is rolled back by Swarm, and this command then fails: the pipeline goes red.
    set --
    for file in $STACK_FILES; do set -- "$@" --compose-file "$file"; done
    docker stack deploy --detach=false --quiet --with-registry-auth "$@" "$STACK"
    update=$(docker service inspect --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}: {{.UpdateStatus.Message}}{{end}}' "${STACK}_web")
    case $update in
        rollback*|paused*) fail "the update of ${STACK}_web failed and Swarm rolled it back ($update)" ;;
    esac
    deploy_edge
}
# --8<-- [end:deploy]

# --8<-- [start:edge]
edge() { docker compose --project-name "$STACK-edge" --file edge.yaml "$@"; }

deploy_edge() {
    # The entry point is one container: replacing it interrupts traffic. So keep it when the new
    # tag is the same image (nginx and the static files unchanged, the usual case for a release).
    running=$(docker inspect --format '{{.Image}}' "$(edge ps --quiet nginx)" 2>/dev/null || true)
    docker image inspect "$NGINX_IMAGE" >/dev/null 2>&1 || docker pull --quiet "$NGINX_IMAGE" >/dev/null
    wanted=$(docker image inspect --format '{{.Id}}' "$NGINX_IMAGE")
    if [ "$running" = "$wanted" ]; then
        log "deploy: entry point unchanged"
    else
        log "deploy: entry point $NGINX_IMAGE"
        edge up --detach --wait --quiet-pull
    fi
    log "deploy: http://$(edge port nginx 8080)"
}
# --8<-- [end:edge]

wait_until_gone() {  # wait_until_gone WHAT COMMAND...: until COMMAND prints nothing (60 s at most)
    what=$1; shift
    i=0
    while [ -n "$("$@")" ]; do
        i=$((i + 1))
        [ "$i" -le 120 ] || fail "timed out waiting for $what to go"
        sleep 0.5
    done
}

# --8<-- [start:down]
step_down() {
    log "down: stack $STACK"
    # (edge.yaml insists on an image name; `down` needs none.)
    NGINX_IMAGE=${NGINX_IMAGE:-unused} edge down --volumes --remove-orphans >/dev/null 2>&1 || true
    if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" = active ]; then
        docker stack rm "$STACK" >/dev/null 2>&1 || true
        # Swarm removes tasks in the background; the volume is free once its containers are gone.
        wait_until_gone "the stack's containers" \
            docker ps --all --quiet --filter "label=com.docker.stack.namespace=$STACK"
        wait_until_gone "the stack's networks" \
            docker network ls --quiet --filter "label=com.docker.stack.namespace=$STACK"
    fi
    docker volume rm "${STACK}_pgdata" >/dev/null 2>&1 || true
    docker rm --force --volumes "$REGISTRY_CONTAINER" >/dev/null 2>&1 || true
    others=$(docker stack ls --format '{{.Name}}' 2>/dev/null | grep -vx "$STACK" || true)
    if [ -f "$STATE/created-swarm" ] && [ -n "$others" ]; then
        log "down: keeping the Swarm this pipeline created: other stacks run on it ($others)"
    elif [ -f "$STATE/created-swarm" ]; then
        log "down: leaving the Swarm this pipeline created"
        docker swarm leave --force >/dev/null
        rm -f "$STATE/created-swarm"
        if [ -f "$STATE/created-gwbridge" ]; then
            docker network rm docker_gwbridge >/dev/null 2>&1 || true
            rm -f "$STATE/created-gwbridge"
        fi
    fi
    rmdir "$STATE" .pipeline 2>/dev/null || true
}
# --8<-- [end:down]

[ $# -gt 0 ] || set -- all
for step in "$@"; do
    case $step in
        all) step_registry; step_build; step_test; step_sbom; step_push; step_deploy ;;
        registry|build|test|sbom|push|deploy|down) "step_$step" ;;
        *) fail "unknown step '$step' (steps: all registry build test sbom push deploy down)" ;;
    esac
done

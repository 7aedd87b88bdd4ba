#!/bin/sh
# Stage 05 on a three-node Swarm on this machine: the same stack, what a cluster adds.
#
#   ./cluster.sh up       three nodes (cluster.yaml), all managers, joined into one Swarm
#   ./cluster.sh deploy   the pipeline's pushed release, deployed from node1 by digest
#   ./cluster.sh down     remove the nodes with everything on them, and their network
#
# deploy takes the images `./pipeline.sh registry build push` made (same TAG). On real machines
# there is no cluster.yaml: `docker swarm init` on one, `docker swarm join` on the others, and
# the deploy below, run on a manager. Settings as pipeline.sh (STACK, TAG, APP_VERSION,
# HTTP_PORT, REPLICAS: default 3 here, GUNICORN_WORKERS), and CLUSTER_PREFIX (cluster.yaml).
set -eu
cd "$(dirname "$0")"

STACK=${STACK:-links}
TAG=${TAG:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev)}
PREFIX=${CLUSTER_PREFIX:-10.213.0}

log() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'cluster: %s\n' "$*" >&2; exit 1; }

nodes() { docker compose --project-name "$STACK-cluster" --file cluster.yaml "$@"; }
# Run a docker command on a node, as if logged in to that machine.
on() { node=$1; shift; docker exec --interactive "$(nodes ps --quiet "$node")" "$@"; }
address() { echo "$PREFIX.1${1#node}"; }

# --8<-- [start:up]
step_up() {
    # The registry the nodes pull from: the pipeline's, joined to the nodes' network as `registry`.
    ./pipeline.sh registry
    log "up: three Docker engines"
    nodes up --detach --wait --quiet-pull
    network="$STACK-cluster_nodes"
    docker network connect --alias registry "$network" "$STACK-registry" 2>/dev/null || true
    if [ "$(on node1 docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
        log "up: swarm init on node1, join node2 and node3 as managers"
        on node1 docker swarm init --advertise-addr "$(address node1)" >/dev/null
        token=$(on node1 docker swarm join-token --quiet manager)
        for node in node2 node3; do
            on "$node" docker swarm join --token "$token" "$(address node1):2377" >/dev/null
        done
        # PostgreSQL's volume lives on node1 (stack.cluster.yaml pins it there).
        on node1 docker node update --label-add db=true node1 >/dev/null
    fi
    on node1 docker node ls >&2
}
# --8<-- [end:up]

# The pipeline's registry as this machine reaches it (127.0.0.1:PORT).
registry() {
    docker port "$STACK-registry" 5000/tcp 2>/dev/null | head -n 1 | grep . \
        || fail "no registry: run './pipeline.sh registry build push' first"
}

# What the pipeline pushed, by digest, as the nodes name the registry.
digest_ref() {
    local_ref=$(registry)/$1:$TAG
    digest=$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$local_ref" \
        | sed -n 's/.*@//p' | head -n 1)
    [ -n "$digest" ] || fail "$local_ref was not pushed: run './pipeline.sh registry build push' first"
    echo "registry:5000/$1@$digest"
}

# --8<-- [start:mirror]
mirror_official_images() {
    # The nodes cannot reach Docker Hub here; their mirror (the local registry) serves the
    # official images the stack names (postgres:17, redis:8) from this machine's copies.
    registry=$(registry)
    for image in postgres:17 redis:8; do
        docker tag "$image" "$registry/library/$image"
        docker push --quiet "$registry/library/$image" >/dev/null
        docker image rm "$registry/library/$image" >/dev/null
    done
}
# --8<-- [end:mirror]

# --8<-- [start:deploy]
step_deploy() {
    web=$(digest_ref links-web) nginx=$(digest_ref links-nginx)
    mirror_official_images
    [ -f secrets/db_password.txt ] && [ -f secrets/secret_key.txt ] || ./make-secrets.sh
    log "deploy: the stack files to node1, deployed from there"
    on node1 mkdir -p /srv/links
    tar -c pipeline.sh make-secrets.sh stack.yaml stack.cluster.yaml edge.yaml secrets \
        | on node1 tar -x -C /srv/links
    # pipeline.sh's own deploy step, run on a manager: the stack with the cluster's placement,
    # and the entry point listening on node1's interface (node1 publishes it on 127.0.0.1).
    docker exec --workdir /srv/links \
        --env STACK="$STACK" --env TAG="$TAG" --env REPLICAS="${REPLICAS:-3}" \
        --env GUNICORN_WORKERS="${GUNICORN_WORKERS:-}" \
        --env WEB_IMAGE="$web" --env NGINX_IMAGE="$nginx" \
        --env STACK_FILES="stack.yaml stack.cluster.yaml" --env HTTP_HOST=0.0.0.0 --env HTTP_PORT=8080 \
        "$(nodes ps --quiet node1)" ./pipeline.sh deploy
    log "deploy: http://$(nodes port node1 8080)"
}
# --8<-- [end:deploy]

step_down() {
    log "down: the nodes, their volumes and network"
    docker network disconnect --force "$STACK-cluster_nodes" "$STACK-registry" >/dev/null 2>&1 || true
    nodes down --volumes --remove-orphans --timeout 20 >/dev/null 2>&1
}

[ $# -gt 0 ] || fail "usage: ./cluster.sh up | deploy | down"
for step in "$@"; do
    case $step in
        up|deploy|down) "step_$step" ;;
        *) fail "unknown step '$step' (steps: up deploy down)" ;;
    esac
done

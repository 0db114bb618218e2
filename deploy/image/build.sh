#!/usr/bin/env bash
# Build the hookstream image with buildah: no Docker engine, no container runtime, no registry,
# and no network inside the build.
#
#   deploy/image/build.sh                                   # -> localhost/hookstream:<version>
#   IMAGE=registry.example.com/hookstream:0.1.0 deploy/image/build.sh
#   BASE_IMAGE=docker.io/library/python:3.11-slim deploy/image/build.sh   # where a registry is reachable
#
# 1. The base. BASE_IMAGE if set (any image with python3 >= 3.11 and its venv module).
#    Otherwise Debian bookworm with python3, made with debootstrap from a Debian mirror and
#    imported into buildah's storage as localhost/hookstream-base:<suite>-<recipe hash>. The root
#    filesystem stays under CACHE_DIR and the image in buildah's storage, so only the first run
#    pays for debootstrap (about a minute); changing PACKAGES below makes a new base.
# 2. The wheels of hookstream's dependencies, into deploy/image/wheels: downloaded by the base's
#    own pip (so markers, Python ABI and glibc are the image's), in a chroot on the host's
#    network with the host's CA bundle; skipped while the base and pyproject.toml are unchanged.
# 3. `buildah bud --isolation chroot --layers` of deploy/Dockerfile, PIP_NO_INDEX=1: the build
#    installs from the wheels only and never reaches the network. --force-rm: a failed step
#    leaves no working container behind.
#
# Needs buildah, plus debootstrap and root for the Debian base; deploy/install-tools.sh installs
# both under CI. buildah's RUN sets resource limits, which a sandbox without CAP_SYS_RESOURCE
# refuses: unless CONTAINERS_CONF names a file already, it points at one with
# `default_ulimits = []`.
#
# Settings (environment): IMAGE, BASE_IMAGE, CACHE_DIR (default ~/.cache/hookstream-image),
# DEBIAN_MIRROR (default http://deb.debian.org/debian). The last line of output is the image.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
WHEELS=$REPO/deploy/image/wheels
CACHE_DIR=${CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hookstream-image}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
# python3-venv: the build stage makes a virtualenv; ca-certificates: deliveries to https URLs.
PACKAGES=python3,python3-venv,ca-certificates
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/pyproject.toml" | head -n 1)
IMAGE=${IMAGE:-localhost/hookstream:$VERSION}

say() { printf 'image: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
elapsed() { echo "$((SECONDS - $1)) s"; }

# Working containers and temporary directories, removed on exit, failures included.
containers=() temporaries=()
cleanup() {
    local item
    for item in "${containers[@]}"; do buildah rm "$item" >/dev/null 2>&1 || true; done
    for item in "${temporaries[@]}"; do rm -rf "$item"; done
}
trap cleanup EXIT

command -v buildah >/dev/null \
    || die "buildah is not installed (apt-get install buildah, or deploy/install-tools.sh)"
mkdir -p "$CACHE_DIR"
if [[ -z ${CONTAINERS_CONF:-} ]]; then
    export CONTAINERS_CONF=$CACHE_DIR/containers.conf
    printf '[containers]\ndefault_ulimits = []\n' >"$CONTAINERS_CONF"
fi
# One build at a time per cache: they share the root filesystem and deploy/image/wheels.
exec 9>"$CACHE_DIR/lock"
flock 9

# debootstrap into <dir>.partial, then rename: an interrupted run leaves nothing that looks done.
make_rootfs() {
    local rootfs=$1 partial=$1.partial started=$SECONDS
    command -v debootstrap >/dev/null \
        || die "debootstrap is not installed (apt-get install debootstrap), or set BASE_IMAGE"
    ((EUID == 0)) || die "debootstrap needs root; run as root or set BASE_IMAGE"
    # --one-file-system: never into a /proc that a killed debootstrap left mounted inside.
    rm -rf --one-file-system "$partial"
    say "debootstrap $SUITE ($PACKAGES) from $DEBIAN_MIRROR into $partial"
    debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$partial" "$DEBIAN_MIRROR" \
        >"$CACHE_DIR/debootstrap.log" 2>&1 \
        || die "debootstrap failed; see $CACHE_DIR/debootstrap.log"
    rm -rf "$partial"/var/cache/apt/archives/*.deb "$partial"/var/lib/apt/lists/*
    mv "$partial" "$rootfs"
    say "root filesystem ready in $(elapsed "$started")"
}

import_rootfs() {
    local rootfs=$1 image=$2 container mountpoint
    container=$(buildah from scratch)
    containers+=("$container")
    mountpoint=$(buildah mount "$container")
    tar -C "$rootfs" -c . | tar -C "$mountpoint" -x
    buildah umount "$container" >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --env LANG=C.UTF-8 --cmd python3 "$container"
    buildah commit --quiet "$container" "$image" >/dev/null
    say "imported $rootfs as $image"
}

debian_base() {
    local key image rootfs
    key=$(printf '%s\n' "$SUITE" minbase "$PACKAGES" | sha256sum | cut -c1-12)
    image=localhost/hookstream-base:$SUITE-$key
    rootfs=$CACHE_DIR/rootfs-$SUITE-$key
    if buildah inspect --type image "$image" >/dev/null 2>&1; then
        say "base $image (cached)"
    else
        [[ -d $rootfs ]] || make_rootfs "$rootfs"
        import_rootfs "$rootfs" "$image"
    fi
    BASE=$image
}

# The base's pip resolves for the base's Python; this runs it with the host's network settings.
pip_network_options() {
    local ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt} var
    [[ -f $ca ]] && printf '%s\n' -v "$ca:/run/host-ca.crt:ro" -e PIP_CERT=/run/host-ca.crt
    for var in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy PIP_INDEX_URL; do
        [[ -n ${!var:-} ]] && printf '%s\n' -e "$var=${!var}"
    done
    return 0
}

fetch_wheels() {
    local base=$1 started=$SECONDS stamp source container options
    stamp="$(buildah inspect --type image --format '{{.FromImageID}}' "$base") $(sha256sum <"$REPO/pyproject.toml")"
    if [[ -f $WHEELS/.stamp && $(<"$WHEELS/.stamp") == "$stamp" ]]; then
        say "wheels in deploy/image/wheels are up to date"
        return
    fi
    find "$WHEELS" -name '*.whl' -delete
    rm -f "$WHEELS/.stamp"
    # pip reads the dependencies and the build system from pyproject.toml (it writes next to it).
    source=$(mktemp -d)
    temporaries+=("$source")
    cp "$REPO/pyproject.toml" "$REPO/README.md" "$source/"
    container=$(buildah from --pull=false --quiet "$base")
    containers+=("$container")
    mapfile -t options < <(pip_network_options)
    buildah run --isolation chroot "${options[@]}" -v "$source:/src" -v "$WHEELS:/wheels" \
        "$container" -- python3 -c '
import subprocess, sys, tomllib, venv
venv.create("/tmp/pip", with_pip=True)
build = tomllib.load(open("/src/pyproject.toml", "rb"))["build-system"]["requires"]
download = ["/tmp/pip/bin/pip", "download", "--quiet", "--disable-pip-version-check"]
sys.exit(subprocess.call([*download, "--dest", "/wheels", "/src", *build]))
' || die "the base's pip could not download the wheels (network, proxy or CA?)"
    echo "$stamp" >"$WHEELS/.stamp"
    say "$(find "$WHEELS" -name '*.whl' | wc -l) wheels in deploy/image/wheels in $(elapsed "$started")"
}

started=$SECONDS
BASE=${BASE_IMAGE:-}
if [[ -z $BASE ]]; then
    debian_base
elif ! buildah inspect --type image "$BASE" >/dev/null 2>&1; then
    buildah pull --quiet "$BASE" >/dev/null
fi
fetch_wheels "$BASE"
say "building $IMAGE on $BASE"
buildah bud --isolation chroot --layers --force-rm --pull=false \
    --file "$REPO/deploy/Dockerfile" --ignorefile "$REPO/deploy/Dockerfile.dockerignore" \
    --build-arg BASE_IMAGE="$BASE" --build-arg PIP_NO_INDEX=1 --build-arg VERSION="$VERSION" \
    --tag "$IMAGE" "$REPO" >&2
say "built $IMAGE in $(elapsed "$started")"
echo "$IMAGE"

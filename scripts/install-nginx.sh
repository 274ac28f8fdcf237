#!/usr/bin/env bash
# Install nginx, the TLS terminator the CWMP endpoint runs behind
# (TR-069 3.4.4/3.4.5: HTTPS, optionally with client certificates).
#
# Idempotent: does nothing when nginx is already on PATH, so tests and
# operators can call it every time. Only the Debian package is installed;
# its default site is never started or used by acsportal (scripts/run-tls.sh
# runs nginx with a private prefix and configuration).
set -euo pipefail

# Debian puts nginx in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

if command -v nginx >/dev/null 2>&1; then
    echo "nginx already installed: $(command -v nginx)"
    exit 0
fi

fail() {
    echo "install-nginx: $*" >&2
    echo "install-nginx: install it yourself (Debian/Ubuntu: apt-get install nginx) and retry." >&2
    exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "apt-get not found: not a Debian-like system"

# apt needs root; use sudo only when it can run without a password prompt,
# so an unattended run (CI, a test fixture) fails fast instead of hanging.
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        fail "root (or password-less sudo) is needed to install the nginx package"
    fi
fi

# Non-interactive: no debconf questions; policy-rc.d is Debian's switch that
# stops the package's post-install script from starting the system nginx on
# port 80 (we only want the binary). Removed again whatever happens.
export DEBIAN_FRONTEND=noninteractive
POLICY=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$POLICY" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$POLICY" >/dev/null
    "${SUDO[@]}" chmod 755 "$POLICY"
    created_policy=1
fi
cleanup() {
    if [ "$created_policy" = 1 ]; then "${SUDO[@]}" rm -f "$POLICY"; fi
}
trap cleanup EXIT

"${SUDO[@]}" apt-get update -q || fail "apt-get update failed (no network or registry?)"
"${SUDO[@]}" apt-get install -y -q --no-install-recommends nginx \
    || fail "apt-get install nginx failed"

command -v nginx >/dev/null 2>&1 || fail "nginx still not on PATH after installing"
echo "nginx installed: $(command -v nginx) ($(nginx -v 2>&1))"

#!/usr/bin/env bash
# Run nginx in the foreground as the HTTPS front of a running acsportal:
# TLS termination and CPE client-certificate verification (TR-069 3.4.4 /
# 3.4.5). A lab/development runner: it renders deploy/nginx/ into a private
# prefix (config, pid, logs, temp dirs) and never reads or touches the system
# nginx configuration, nor listens on a privileged port (80/443 belong to the
# system nginx; see deploy/README-tls.md for production).
#
#   scripts/run-tls.sh [options]
#     --listen HOST:PORT     HTTPS listener (default 127.0.0.1:8443)
#     --staff-listen HOST:PORT
#                            a second HTTPS listener for admin, portal and API
#                            (no client certificates); --listen then serves
#                            only /cwmp/ and /files/ (default: none, --listen
#                            serves everything)
#     --app HOST:PORT        the acsportal server (default 127.0.0.1:${ACS_PORT:-8000})
#     --tls-dir DIR          server.crt, server.key and ca.crt as scripts/lab-ca.sh
#                            makes them (default var/tls)
#     --server-cert FILE, --server-key FILE, --client-ca FILE
#                            override single files of --tls-dir (client CA: the
#                            tenants' CA certificates, concatenated)
#     --verify optional|on   ssl_verify_client (default optional)
#     --prefix DIR           private nginx prefix (default var/nginx)
#     --max-body BYTES       default $CWMP_MAX_BODY_BYTES or 4194304, as the app
#     --read-timeout DUR     proxy_read_timeout (default 60s)
#     --workers N|auto       worker_processes (default auto)
#     --check                render and test the configuration, then exit
#
# The app must trust this proxy: CWMP_TRUSTED_PROXIES=127.0.0.1/32 (or the
# proxy's address). Ctrl-C (or SIGTERM/SIGQUIT to this process, which
# becomes nginx) stops it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Debian installs nginx in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

die() { echo "run-tls: $*" >&2; exit 1; }

LISTEN=127.0.0.1:8443
STAFF_LISTEN=
APP=127.0.0.1:${ACS_PORT:-8000}
TLS_DIR=$ROOT/var/tls
SERVER_CERT= SERVER_KEY= CLIENT_CA=
VERIFY=optional
PREFIX=$ROOT/var/nginx
MAX_BODY=${CWMP_MAX_BODY_BYTES:-4194304}
READ_TIMEOUT=60s
WORKERS=auto
CHECK=0

while [ $# -gt 0 ]; do
    case "$1" in
        --listen) LISTEN=${2:?}; shift 2 ;;
        --staff-listen) STAFF_LISTEN=${2:?}; shift 2 ;;
        --app) APP=${2:?}; shift 2 ;;
        --tls-dir) TLS_DIR=${2:?}; shift 2 ;;
        --server-cert) SERVER_CERT=${2:?}; shift 2 ;;
        --server-key) SERVER_KEY=${2:?}; shift 2 ;;
        --client-ca) CLIENT_CA=${2:?}; shift 2 ;;
        --verify) VERIFY=${2:?}; shift 2 ;;
        --prefix) PREFIX=${2:?}; shift 2 ;;
        --max-body) MAX_BODY=${2:?}; shift 2 ;;
        --read-timeout) READ_TIMEOUT=${2:?}; shift 2 ;;
        --workers) WORKERS=${2:?}; shift 2 ;;
        --check) CHECK=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

SERVER_CERT=${SERVER_CERT:-$TLS_DIR/server.crt}
SERVER_KEY=${SERVER_KEY:-$TLS_DIR/server.key}
CLIENT_CA=${CLIENT_CA:-$TLS_DIR/ca.crt}

for listen in "$LISTEN" ${STAFF_LISTEN:+"$STAFF_LISTEN"}; do
    port=${listen##*:}
    case "$port" in
        ''|*[!0-9]*) die "--listen and --staff-listen want HOST:PORT, got '$listen'" ;;
    esac
    # Privileged ports (80, 443, …) are the system nginx's business, not a lab's.
    [ "$port" -ge 1024 ] || die "refusing port $port: use a port >= 1024 (production: see deploy/README-tls.md)"
done
STAFF_ARGS=()
[ -z "$STAFF_LISTEN" ] || STAFF_ARGS=(--staff-listen "$STAFF_LISTEN")

command -v nginx >/dev/null 2>&1 || die "nginx not found: run scripts/install-nginx.sh first"
for f in "$SERVER_CERT" "$SERVER_KEY" "$CLIENT_CA"; do
    [ -r "$f" ] || die "cannot read $f (make a lab PKI with: scripts/lab-ca.sh $TLS_DIR DEVICE-ID ...)"
done

if [ -x "$ROOT/.venv/bin/python" ]; then PY=$ROOT/.venv/bin/python; else PY=python3; fi

mkdir -p "$PREFIX/logs" "$PREFIX/tmp"
PREFIX=$(cd "$PREFIX" && pwd)
CONF=$PREFIX/nginx.conf
"$PY" "$ROOT/deploy/nginx/render.py" --prefix "$PREFIX" --listen "$LISTEN" "${STAFF_ARGS[@]}" --upstream "$APP" \
    --server-cert "$SERVER_CERT" --server-key "$SERVER_KEY" --client-ca "$CLIENT_CA" \
    --verify-client "$VERIFY" --max-body "$MAX_BODY" --read-timeout "$READ_TIMEOUT" \
    --workers "$WORKERS" -o "$CONF"

# -p: private prefix; -c: our rendered file, never /etc/nginx/nginx.conf;
# -e: the error log nginx writes before it has read the configuration
# (otherwise the compiled-in /var/log/nginx/error.log); daemon off: stay in
# the foreground so a terminal, a supervisor or a test owns the process.
NGINX=(nginx -p "$PREFIX/" -e "$PREFIX/logs/error.log" -c "$CONF" -g 'daemon off;')
"${NGINX[@]}" -t -q || die "configuration test failed ($CONF)"
if [ "$CHECK" = 1 ]; then
    echo "run-tls: $CONF is valid"
    exit 0
fi
echo "run-tls: https://$LISTEN/ -> http://$APP/ (client certificates: $VERIFY; logs in $PREFIX/logs)" >&2
[ -z "$STAFF_LISTEN" ] || echo "run-tls: staff https://$STAFF_LISTEN/ -> http://$APP/; https://$LISTEN/ serves /cwmp/ and /files/ only" >&2
exec "${NGINX[@]}"

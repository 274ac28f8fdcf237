#!/usr/bin/env bash
# `make run-cluster`: the deployment that outgrows one process, on one machine.
#
#   nginx (Debian's package; private prefix var/cluster/nginx)
#     the CPE listener on ACS_HOST:ACS_PORT: /cwmp/ and /files/ only (404
#     for anything else); the staff listener on ACS_HOST:ACS_STAFF_PORT:
#     admin, portal, API, /ws/ (to daphne), never the CPE paths; every
#     request round-robin over the web workers, upstream keep-alive,
#     X-Forwarded-For / X-Client-Port to the app
#   ACS_WEB_WORKERS × granian --interface wsgi acsportal.wsgi:application
#     (one process each, 1 worker, ACS_WEB_THREADS blocking threads, each on
#     its own loopback port ACS_CLUSTER_PORT+1, +2, ...)
#   1 × daphne acsportal.asgi:application (WebSockets, on ACS_CLUSTER_PORT)
#   ACS_JOB_WORKERS × manage.py db_worker (connection requests, campaigns)
#   PostgreSQL (DATABASE_URL) and Redis (REDIS_URL): all shared state
#
# Nothing is sticky: the CWMP session state lives in Redis, so the POSTs of
# one session may each land on another worker (cookie-less CPEs are found by
# the address and port nginx forwards). The database is created (if missing)
# and migrated, the demo tenant and admin seeded like `make run`; the URLs are
# printed; Ctrl-C stops every process this script started.
#
# Settings (environment):
#   DATABASE_URL       postgres://postgres@127.0.0.1:5432/acs_cluster
#   REDIS_URL          redis://127.0.0.1:6379/0
#   ACS_HOST, ACS_PORT where nginx's CPE listener is (127.0.0.1, 8000), also
#                      the printed CWMP URL and ACS_PUBLIC_URL (file links)
#   ACS_STAFF_PORT     nginx's staff listener on ACS_HOST (ACS_PORT + 1)
#   ACS_WEB_WORKERS    web worker processes (2)
#   ACS_WEB_THREADS    blocking threads per web worker (4)
#   ACS_JOB_WORKERS    manage.py db_worker processes (1)
#   ACS_CLUSTER_PORT   first internal port: daphne; web workers above it (18000)
#   ACS_CLUSTER_DIR    nginx prefix and the processes' logs (var/cluster)
#   NGINX_WORKERS      nginx worker_processes (auto)
#   CWMP_TRUSTED_PROXIES  the proxy the app believes (127.0.0.1/32)
# and every other acsportal setting (README, Configuration).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# Debian installs nginx in /usr/sbin, which a non-root PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

die() { echo "run-cluster: $*" >&2; exit 1; }

case "${1:-}" in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) die "no options (settings come from the environment, see --help)" ;;
esac

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/acs_cluster}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export ACS_HOST=${ACS_HOST:-127.0.0.1}
export ACS_PORT=${ACS_PORT:-8000}
export CWMP_TRUSTED_PROXIES=${CWMP_TRUSTED_PROXIES:-127.0.0.1/32}
STAFF_PORT=${ACS_STAFF_PORT:-$((${ACS_PORT:-8000} + 1))}
WEB_WORKERS=${ACS_WEB_WORKERS:-2}
WEB_THREADS=${ACS_WEB_THREADS:-4}
JOB_WORKERS=${ACS_JOB_WORKERS:-1}
BASE_PORT=${ACS_CLUSTER_PORT:-18000}
DIR=${ACS_CLUSTER_DIR:-$ROOT/var/cluster}
NGINX_WORKERS=${NGINX_WORKERS:-auto}

for n in "$WEB_WORKERS" "$WEB_THREADS" "$JOB_WORKERS" "$BASE_PORT" "$ACS_PORT" "$STAFF_PORT"; do
    case "$n" in ''|*[!0-9]*) die "not a number: '$n'" ;; esac
done
[ "$WEB_WORKERS" -ge 1 ] || die "ACS_WEB_WORKERS must be at least 1"
[ "$ACS_PORT" -ge 1024 ] || die "refusing port $ACS_PORT: use a port >= 1024"
[ "$STAFF_PORT" -ge 1024 ] || die "refusing port $STAFF_PORT: use a port >= 1024"
[ "$STAFF_PORT" != "$ACS_PORT" ] || die "ACS_STAFF_PORT must differ from ACS_PORT"
case "$DATABASE_URL" in
    postgres://*|postgresql://*) ;;
    *) die "DATABASE_URL must be PostgreSQL: several processes share it (SQLite is for make run)" ;;
esac

PY=$ROOT/.venv/bin/python
BIN=$ROOT/.venv/bin
[ -x "$PY" ] || die "no .venv: run make venv (make run-cluster does)"
if ! command -v nginx >/dev/null 2>&1; then
    "$ROOT/scripts/install-nginx.sh" || die "nginx is needed (scripts/install-nginx.sh)"
fi

# PostgreSQL and Redis answer; the database exists (created when missing).
"$PY" - <<'EOF' || die "PostgreSQL or Redis not usable (DATABASE_URL, REDIS_URL)"
import os, sys
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis
from psycopg import sql

url = os.environ["DATABASE_URL"].replace("postgresql://", "postgres://", 1)
parts = urlsplit(url)
name = parts.path.lstrip("/")
admin = urlunsplit(parts._replace(path="/postgres"))
try:
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"run-cluster: created database {name}", file=sys.stderr)
    redis.Redis.from_url(os.environ["REDIS_URL"], socket_connect_timeout=5).ping()
except Exception as exc:
    print(f"run-cluster: {type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(1)
EOF

mkdir -p "$DIR/logs" "$DIR/nginx/logs" "$DIR/nginx/tmp"
DIR=$(cd "$DIR" && pwd)

echo "run-cluster: migrate and seed ($DATABASE_URL)" >&2
"$PY" manage.py migrate --noinput >"$DIR/logs/migrate.log" 2>&1 \
    || { tail -20 "$DIR/logs/migrate.log" >&2; die "migrate failed"; }
# ACS_HOST/ACS_PORT are nginx's CPE listener: the printed URLs go through
# the proxy, and the admin's through its staff listener.
SEED=$("$PY" manage.py acs_seed) || die "acs_seed failed"
SEED=${SEED//"http://$ACS_HOST:$ACS_PORT/admin/"/"http://$ACS_HOST:$STAFF_PORT/admin/"}

PIDS=()
NAMES=()
stopping=0
stop() {
    stopping=1
    trap - INT TERM EXIT
    if [ "${#PIDS[@]}" -gt 0 ]; then
        echo "run-cluster: stopping ${#PIDS[@]} processes" >&2
        kill -TERM "${PIDS[@]}" 2>/dev/null || true
        for _ in $(seq 50); do
            alive=0
            for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
            [ "$alive" = 0 ] && break
            sleep 0.2
        done
        kill -KILL "${PIDS[@]}" 2>/dev/null || true
        wait 2>/dev/null || true
    fi
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap 'stop' EXIT

start() {  # start NAME COMMAND...: in the background, output to $DIR/logs/NAME.log
    local name=$1; shift
    "$@" >"$DIR/logs/$name.log" 2>&1 &
    PIDS+=("$!")
    NAMES+=("$name")
}

wait_port() {  # wait_port NAME PORT: until something accepts connections there
    local name=$1 port=$2 pid=${PIDS[-1]}
    for _ in $(seq 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        kill -0 "$pid" 2>/dev/null || { tail -20 "$DIR/logs/$name.log" >&2; die "$name exited"; }
        sleep 0.1
    done
    tail -20 "$DIR/logs/$name.log" >&2
    die "$name did not listen on port $port"
}

UPSTREAMS=()
for i in $(seq "$WEB_WORKERS"); do
    port=$((BASE_PORT + i))
    start "web-$i" "$BIN/granian" --interface wsgi --host 127.0.0.1 --port "$port" \
        --workers 1 --blocking-threads "$WEB_THREADS" --backlog 2048 --no-access-log \
        acsportal.wsgi:application
    wait_port "web-$i" "$port"
    UPSTREAMS+=(--upstream "127.0.0.1:$port")
done
start daphne "$BIN/daphne" -b 127.0.0.1 -p "$BASE_PORT" acsportal.asgi:application
wait_port daphne "$BASE_PORT"
for i in $(seq "$JOB_WORKERS"); do
    start "jobs-$i" "$PY" manage.py db_worker
done

CONF=$DIR/nginx/nginx.conf
"$PY" "$ROOT/deploy/nginx/render.py" --plain --prefix "$DIR/nginx" \
    --listen "$ACS_HOST:$ACS_PORT" --staff-listen "$ACS_HOST:$STAFF_PORT" \
    "${UPSTREAMS[@]}" --ws-upstream "127.0.0.1:$BASE_PORT" \
    --max-body "${CWMP_MAX_BODY_BYTES:-4194304}" --workers "$NGINX_WORKERS" -o "$CONF"
NGINX=(nginx -p "$DIR/nginx/" -e "$DIR/nginx/logs/error.log" -c "$CONF" -g 'daemon off;')
"${NGINX[@]}" -t -q || die "nginx configuration test failed ($CONF)"
start nginx "${NGINX[@]}"
wait_port nginx "$ACS_PORT"
wait_port nginx "$STAFF_PORT"

echo "$SEED"
cat <<EOF
CPE listener:    http://$ACS_HOST:$ACS_PORT/cwmp/, /files/ only (nginx, round-robin per request)
Staff listener:  http://$ACS_HOST:$STAFF_PORT/ (admin, portal, API; no CPE paths)
  web workers:   $WEB_WORKERS × granian WSGI (${WEB_THREADS} threads) on 127.0.0.1:$((BASE_PORT + 1))..$((BASE_PORT + WEB_WORKERS))
  WebSockets:    ws://$ACS_HOST:$STAFF_PORT/ws/ -> daphne on 127.0.0.1:$BASE_PORT
  job workers:   $JOB_WORKERS × manage.py db_worker
  database:      $DATABASE_URL
  redis:         $REDIS_URL
  logs:          $DIR/logs/, nginx: $DIR/nginx/logs/
Ctrl-C stops everything.
EOF

# Until Ctrl-C, or until one of the processes dies (then stop the others).
while [ "$stopping" = 0 ]; do
    if ! wait -n 2>/dev/null; then :; fi
    for i in "${!PIDS[@]}"; do
        if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
            echo "run-cluster: ${NAMES[$i]} exited (see $DIR/logs/${NAMES[$i]}.log)" >&2
            exit 1
        fi
    done
done

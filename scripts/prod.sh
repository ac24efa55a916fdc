#!/usr/bin/env bash
# Production mode on one machine, everything on 127.0.0.1:
#   PostgreSQL and Redis from Debian's packages (installed when missing), each a private instance of this checkout
#   (own data directory, own port, own password); Daphne; two Celery workers.
#
#   scripts/prod.sh start            install what is missing, start services, migrate, start Daphne and the workers
#   scripts/prod.sh stop             stop exactly what `start` started (pid files and data under .prod/)
#   scripts/prod.sh status           what is running
#   scripts/prod.sh services         start PostgreSQL and Redis only (prints "started" when it started either)
#   scripts/prod.sh stop-services    stop PostgreSQL and Redis
#   scripts/prod.sh redis-restart    stop Redis and start it again (the fault tests use it)
#   scripts/prod.sh loadtest [ARGS]  manage.py loadtest with production mode's settings
#   scripts/prod.sh test [ARGS]      the integration suite against the real services; stops the services after
#                                    only if it was the one that started them
#
# Settings, all optional: PORT (8000), KATA_PG_PORT (55432), KATA_REDIS_PORT (56379), KATA_WEB_PROCESSES (2 Daphne
# processes on one socket), KATA_WORKERS (2), KATA_WORKER_CONCURRENCY (10 runs at once per worker), KATA_PROD_DIR
# (.prod).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PROD=${KATA_PROD_DIR:-$ROOT/.prod}
VENV=$ROOT/.venv
PY=$VENV/bin/python
HOST=127.0.0.1
PORT=${PORT:-8000}
PG_PORT=${KATA_PG_PORT:-55432}
REDIS_PORT=${KATA_REDIS_PORT:-56379}
WORKERS=${KATA_WORKERS:-2}
WEB_PROCESSES=${KATA_WEB_PROCESSES:-2}
CONCURRENCY=${KATA_WORKER_CONCURRENCY:-10}
LOGS=$PROD/logs
ENV_FILE=$PROD/env
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

say() { echo "prod: $*" >&2; }
die() { say "$*"; exit 1; }

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

install_packages() {
  local need=()
  [ -x /usr/bin/redis-server ] || need+=(redis-server)
  [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ] || need+=(postgresql)
  [ ${#need[@]} = 0 ] && return 0
  say "installing Debian's ${need[*]}..."
  # Debian starts a package's service at install time; a policy of "don't" keeps the machine's own instances
  # stopped, so that the only servers running are the ones this script starts (and stops).
  local policy=/usr/sbin/policy-rc.d ours=""
  if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee $policy >/dev/null && $SUDO chmod +x $policy && ours=1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  [ -z "$ours" ] || $SUDO rm -f $policy
  [ -x /usr/bin/redis-server ] && [ -x "$(pg_bin)/initdb" ] || die "PostgreSQL or Redis is still missing"
}

# PostgreSQL refuses to run as root: then it runs as Debian's postgres user, in a directory that user can reach.
pg_dir() {
  if [ "$(id -u)" = 0 ]; then
    echo "/var/tmp/kata-pg-$(echo "$PROD" | md5sum | cut -c1-10)"
  else
    echo "$PROD/pg"
  fi
}
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
secret() { $PY -c "import secrets; print(secrets.token_urlsafe(${1:-24}))"; }

write_env() {
  [ -f "$ENV_FILE" ] && return 0
  mkdir -p "$PROD" && chmod 700 "$PROD"
  umask 077
  cat >"$ENV_FILE" <<EOF
# Made by scripts/prod.sh on $(date -u +%FT%TZ); secrets for this checkout's private services.
DJANGO_ENV=production
SECRET_KEY=$(secret 48)
ALLOWED_HOSTS=127.0.0.1,localhost
# Plain HTTP on loopback: behind a TLS proxy, drop these three lines.
SECURE_SSL_REDIRECT=false
SECURE_COOKIES=false
SECURE_HSTS_SECONDS=0
POSTGRES_HOST=$HOST
POSTGRES_PORT=$PG_PORT
POSTGRES_DB=kata
POSTGRES_USER=kata
POSTGRES_PASSWORD=$(secret)
REDIS_PASSWORD=$(secret)
KATA_RUN_EXECUTOR=celery
EOF
}

load_env() {
  write_env
  set -a
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  set +a
  export REDIS_URL="redis://:$REDIS_PASSWORD@$HOST:$REDIS_PORT/0"
  export CELERY_BROKER_URL="redis://:$REDIS_PASSWORD@$HOST:$REDIS_PORT/1"
}

pg_running() { [ -d "$(pg_dir)/data" ] && as_pg "$(pg_bin)/pg_ctl" -D "$(pg_dir)/data" status >/dev/null 2>&1; }

psql_admin() { as_pg "$(pg_bin)/psql" -h "$(pg_dir)/run" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

STARTED=""  # set when this call started PostgreSQL or Redis

start_postgres() {
  local dir; dir=$(pg_dir)
  if pg_running; then return 0; fi
  mkdir -p "$dir/run" "$LOGS"
  [ "$(id -u)" = 0 ] && chown -R postgres: "$dir" && chmod 700 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    say "creating a PostgreSQL cluster in $dir/data"
    as_pg "$(pg_bin)/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$LOGS/initdb.log" 2>&1 || { cat "$LOGS/initdb.log"; die "initdb failed"; }
  fi
  # pg_prewarm's autoprewarm saves the list of cached pages at shutdown and reads them back at start: a restarted
  # database answers the first class as fast as the last.
  # Local (socket) connections are trusted, but the socket lives in a directory only its owner can enter; over TCP,
  # on 127.0.0.1 only, a password is needed.
  as_pg "$(pg_bin)/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -k $dir/run -c listen_addresses=$HOST -c max_connections=200 -c shared_preload_libraries=pg_prewarm" \
    start >/dev/null \
    || { tail -20 "$dir/postgres.log"; die "PostgreSQL did not start"; }
  chmod 700 "$dir/run" 2>/dev/null || true
  # The password is this checkout's (.prod/env): a cluster left by an earlier checkout at the same path takes it.
  if [ "$(psql_admin -c "SELECT count(*) FROM pg_roles WHERE rolname = 'kata'")" = 0 ]; then
    psql_admin -c "CREATE ROLE kata LOGIN CREATEDB PASSWORD '$POSTGRES_PASSWORD'" || die "could not create the role"
  else
    psql_admin -c "ALTER ROLE kata PASSWORD '$POSTGRES_PASSWORD'" || die "could not set the role's password"
  fi
  if [ "$(psql_admin -c "SELECT count(*) FROM pg_database WHERE datname = 'kata'")" = 0 ]; then
    psql_admin -c "CREATE DATABASE kata OWNER kata" || die "could not create the database"
  fi
  STARTED=1
  say "PostgreSQL on $HOST:$PG_PORT"
}

stop_postgres() {
  pg_running || return 0
  as_pg "$(pg_bin)/pg_ctl" -D "$(pg_dir)/data" -m fast -w stop >/dev/null && say "PostgreSQL stopped"
}

redis_cli() { REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h $HOST -p "$REDIS_PORT" "$@"; }
redis_running() { [ -f "$PROD/redis.pid" ] && kill -0 "$(cat "$PROD/redis.pid")" 2>/dev/null; }

start_redis() {
  if redis_running; then return 0; fi
  mkdir -p "$PROD/redis" "$LOGS"
  # Append-only persistence: messages still queued survive a restart of Redis.
  redis-server --bind $HOST --port "$REDIS_PORT" --requirepass "$REDIS_PASSWORD" --daemonize yes \
    --pidfile "$PROD/redis.pid" --dir "$PROD/redis" --appendonly yes --save "" \
    --logfile "$LOGS/redis.log" >/dev/null
  for _ in $(seq 50); do
    if redis_cli ping 2>/dev/null | grep -q PONG; then STARTED=1; say "Redis on $HOST:$REDIS_PORT"; return 0; fi
    sleep 0.1
  done
  die "Redis did not start (see $LOGS/redis.log)"
}

stop_redis() {
  redis_running || return 0
  local pid; pid=$(cat "$PROD/redis.pid")
  redis_cli shutdown >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$PROD/redis.pid"
  say "Redis stopped"
}

services() {
  install_packages
  load_env
  start_postgres
  start_redis
  [ -z "$STARTED" ] || echo started
}

# Each app process leads its own process group (setsid), so stopping it stops its children too.
spawn() {  # name, command...
  local name=$1; shift
  local pidfile="$PROD/$name.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then say "$name is running already"; return; fi
  setsid "$@" >"$LOGS/$name.log" 2>&1 < /dev/null &
  echo $! >"$pidfile"
}

stop_spawned() {  # name
  local pidfile="$PROD/$1.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    say "$1 stopped"
  fi
  rm -f "$pidfile"
}

start_app() {
  mkdir -p "$LOGS"
  $PY manage.py migrate --noinput -v 0
  $PY manage.py load_katas
  $PY manage.py collectstatic --noinput -v 0
  for i in $(seq "$WORKERS"); do
    # Workers at a lower CPU priority than the web server: in a burst, answering learners comes first.
    spawn "worker$i" env CONN_MAX_AGE=3600 nice -n 5 "$VENV/bin/celery" -A config worker -n "kata$i@%h" --pool prefork --concurrency "$CONCURRENCY" \
      --prefetch-multiplier 1 -O fair --without-gossip --without-mingle -l INFO
  done
  # Several Daphne processes on one socket, so the web tier is not held to one core.
  spawn daphne "$PY" scripts/daphnes.py --processes "$WEB_PROCESSES" --host $HOST --port "$PORT" config.asgi:application
  for _ in $(seq 300); do
    if $PY -c "import urllib.request as u; u.urlopen('http://$HOST:$PORT/healthz', timeout=2)" 2>/dev/null; then break; fi
    kill -0 "$(cat "$PROD/daphne.pid")" 2>/dev/null || { tail -20 "$LOGS/daphne.log"; die "Daphne stopped"; }
    sleep 0.2
  done
  # Readiness: every Daphne process reaches PostgreSQL and Redis (the checks spread over the processes, each of
  # which keeps the connections it opened for the first learners).
  $PY - "http://$HOST:$PORT/healthz" "$((WEB_PROCESSES * 16))" <<'PYEOF' || die "Daphne is not ready (see $LOGS/daphne.log)"
import concurrent.futures, sys, urllib.error, urllib.request
url, count = sys.argv[1], int(sys.argv[2])
def check(_):
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
with concurrent.futures.ThreadPoolExecutor(16) as pool:
    failed = [body for status, body in pool.map(check, range(count)) if status != 200]
if failed:
    sys.exit(f"prod: /healthz answered {failed[0]}")
PYEOF
  for i in $(seq "$WORKERS"); do
    for _ in $(seq 300); do grep -q " ready\." "$LOGS/worker$i.log" 2>/dev/null && break; sleep 0.2; done
    grep -q " ready\." "$LOGS/worker$i.log" || { tail -20 "$LOGS/worker$i.log"; die "worker $i did not get ready"; }
  done
}

stop_app() {
  stop_spawned daphne
  for pidfile in "$PROD"/worker*.pid; do [ -e "$pidfile" ] && stop_spawned "$(basename "$pidfile" .pid)"; done
  return 0
}

status() {
  load_env
  pg_running && echo "postgres  running on $HOST:$PG_PORT" || echo "postgres  stopped"
  redis_running && echo "redis     running on $HOST:$REDIS_PORT (pid $(cat "$PROD/redis.pid"))" || echo "redis     stopped"
  for pidfile in "$PROD"/daphne.pid "$PROD"/worker*.pid; do
    [ -e "$pidfile" ] || continue
    local name; name=$(basename "$pidfile" .pid)
    kill -0 "$(cat "$pidfile")" 2>/dev/null && echo "$name  running (pid $(cat "$pidfile"))" || echo "$name  stopped"
  done
}

case "${1:-}" in
  start)
    [ -x "$PY" ] || die "run 'make run-prod' (it creates the virtual environment first)"
    services >/dev/null
    start_app
    say "Kata (production mode) is serving on http://$HOST:$PORT: $WEB_PROCESSES Daphne processes, $WORKERS workers × $CONCURRENCY runs; logs in $LOGS"
    say "stop everything with: make stop-prod"
    ;;
  stop)
    [ -f "$ENV_FILE" ] || { say "nothing was started here"; exit 0; }
    load_env
    stop_app
    stop_redis
    stop_postgres
    ;;
  status) status ;;
  services) services ;;
  stop-services) load_env; stop_redis; stop_postgres ;;
  redis-restart) load_env; stop_redis; start_redis ;;
  stop-redis) load_env; stop_redis ;;
  start-redis) load_env; start_redis ;;
  loadtest) shift; load_env; exec "$PY" manage.py loadtest "$@" ;;
  env) load_env; env | grep -E '^(DJANGO_ENV|SECRET_KEY|ALLOWED_HOSTS|SECURE_|POSTGRES_|REDIS_URL|CELERY_BROKER_URL|KATA_)' ;;
  test)
    shift
    started=$(services)
    load_env
    # Databases of their own on the shared Redis: a `make run-prod` left running never sees the tests' messages.
    export REDIS_URL="redis://:$REDIS_PASSWORD@$HOST:$REDIS_PORT/2"
    export CELERY_BROKER_URL="redis://:$REDIS_PASSWORD@$HOST:$REDIS_PORT/3"
    rc=0
    "$PY" manage.py migrate --noinput -v 0 || rc=$?
    if [ "$rc" = 0 ]; then
      KATA_PROD_SCRIPT="$ROOT/scripts/prod.sh" "$PY" -m pytest tests/prod --ds=config.settings_test_prod "$@" || rc=$?
    fi
    if [ -n "$started" ]; then stop_redis; stop_postgres; fi
    exit $rc
    ;;
  *) sed -n '2,18p' "$0"; exit 2 ;;
esac

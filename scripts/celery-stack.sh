#!/usr/bin/env bash
# The docker-compose scale-out shape without Docker: api-server, scheduler, dag-processor,
# triggerer and Celery workers as local processes on PostgreSQL + Redis.
#
#   scripts/celery-stack.sh up [--workers N]   create databases, migrate, start everything, wait until healthy
#   scripts/celery-stack.sh add-worker         one more Celery worker (each gets its own log-server port)
#   scripts/celery-stack.sh status             which processes run, and the api-server's health answer
#   scripts/celery-stack.sh down               stop every process group this script started
#
# Every setting comes from the environment, with the same names as docker-compose.yaml and
# .env.example (`set -a; . ./.env; set +a` first to reuse a compose .env with local hosts).
# Each process runs in its own session, so `down` stops it with its children; pids and logs
# live in $TECHFLOW_STACK_DIR (default $AIRFLOW_HOME/stack).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/.venv/bin"
PY="$BIN/python"

PG="postgresql+psycopg2://postgres@127.0.0.1:5432"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow-celery}"
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-CeleryExecutor}"
export AIRFLOW__CORE__LOAD_EXAMPLES="${AIRFLOW__CORE__LOAD_EXAMPLES:-False}"
export AIRFLOW__CORE__DAGS_FOLDER="${AIRFLOW__CORE__DAGS_FOLDER:-$ROOT/dags}"
export AIRFLOW__CORE__PLUGINS_FOLDER="${AIRFLOW__CORE__PLUGINS_FOLDER:-$ROOT/plugins}"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-$PG/airflow}"
export AIRFLOW__CELERY__BROKER_URL="${AIRFLOW__CELERY__BROKER_URL:-redis://127.0.0.1:6379/0}"
export AIRFLOW__CELERY__RESULT_BACKEND="${AIRFLOW__CELERY__RESULT_BACKEND:-db+${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN/+psycopg2/}}"
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
export AIRFLOW__API__PORT="${AIRFLOW__API__PORT:-8080}"
export AIRFLOW__API__WORKERS="${AIRFLOW__API__WORKERS:-1}"
export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://127.0.0.1:$AIRFLOW__API__PORT}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-$AIRFLOW__API__BASE_URL/execution/}"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin}"
export TECHFLOW_WAREHOUSE_URL="${TECHFLOW_WAREHOUSE_URL:-$PG/techflow_warehouse}"
export TECHFLOW_OPS_DB_URL="${TECHFLOW_OPS_DB_URL:-$PG/techflow_ops}"
export TECHFLOW_AIRFLOW_BASE_URL="${TECHFLOW_AIRFLOW_BASE_URL:-$AIRFLOW__API__BASE_URL}"
export TECHFLOW_DATA_DIR="${TECHFLOW_DATA_DIR:-$ROOT/data}"
STACK_DIR="${TECHFLOW_STACK_DIR:-$AIRFLOW_HOME/stack}"
ADMIN_PASSWORD="${_AIRFLOW_WWW_USER_PASSWORD:-admin}"
HEALTH_TIMEOUT="${TECHFLOW_STACK_TIMEOUT:-180}"

mkdir -p "$AIRFLOW_HOME" "$STACK_DIR/pids" "$STACK_DIR/logs"

# Every process must share the Fernet key (encrypted connections) and the JWT secret (the
# scheduler signs task tokens the api-server checks): made once per stack, then reused.
SECRETS="$STACK_DIR/secrets.env"
if [[ ! -s "$SECRETS" ]]; then
  umask 077
  "$PY" - >"$SECRETS" <<'EOF'
import base64, os, secrets
print(f"AIRFLOW__CORE__FERNET_KEY={base64.urlsafe_b64encode(os.urandom(32)).decode()}")
print(f"AIRFLOW__API_AUTH__JWT_SECRET={secrets.token_urlsafe(48)}")
print(f"AIRFLOW__API__SECRET_KEY={secrets.token_urlsafe(48)}")
EOF
  umask 022
fi
while read -r line; do
  name="${line%%=*}"  # split at the first "=" only: base64 values end in "="
  [[ -n "${!name:-}" ]] || export "$line"
done <"$SECRETS"

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

alive() {  # pid file -> true while that process group's leader still runs
  local pid
  pid="$(cat "$1" 2>/dev/null)" || return 1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

start() {  # name, command...: a new session per process so `down` reaches its children
  local name="$1"; shift
  if alive "$STACK_DIR/pids/$name.pid"; then
    echo "$name already runs (pid $(cat "$STACK_DIR/pids/$name.pid"))"
    return
  fi
  setsid "$@" >"$STACK_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$STACK_DIR/pids/$name.pid"
  echo "started $name (pid $!, log $STACK_DIR/logs/$name.log)"
}

create_databases() {
  "$PY" - "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" "$TECHFLOW_WAREHOUSE_URL" "$TECHFLOW_OPS_DB_URL" <<'EOF'
import sys
import sqlalchemy as sa
from sqlalchemy.engine import make_url

for raw in sys.argv[1:]:
    url = make_url(raw)
    if not url.drivername.startswith("postgresql"):
        continue  # SQLite files are created on first use
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database}).scalar()
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
            print(f"created database {url.database} on {url.host}:{url.port or 5432}")
    admin.dispose()
EOF
}

write_passwords_file() {
  # SimpleAuthManager keeps passwords in a JSON file; writing it fixes the admin password
  # instead of letting the api-server print a random one.
  local file="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated}"
  local user="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS%%:*}"
  "$PY" -c 'import json, sys; print(json.dumps({sys.argv[1]: sys.argv[2]}))' "$user" "$ADMIN_PASSWORD" >"$file"
}

add_worker() {
  local n=1
  while [[ -e "$STACK_DIR/pids/worker-$n.pid" ]] && alive "$STACK_DIR/pids/worker-$n.pid"; do n=$((n + 1)); done
  # Several workers on one host each need their own log-server port and Celery hostname.
  AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT="$(free_port)" \
    start "worker-$n" "$BIN/airflow" celery worker --celery-hostname "worker-$n@%h" \
    --concurrency "${AIRFLOW__CELERY__WORKER_CONCURRENCY:-2}"
}

wait_healthy() {
  local deadline=$((SECONDS + HEALTH_TIMEOUT))
  local url="$AIRFLOW__API__BASE_URL/api/v2/monitor/health"
  echo "waiting for $url to report every component healthy (up to ${HEALTH_TIMEOUT}s)"
  until "$PY" - "$url" <<'EOF'
import json, sys, urllib.request
try:
    health = json.load(urllib.request.urlopen(sys.argv[1], timeout=5))
except Exception:
    sys.exit(1)
parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
sys.exit(0 if all(health.get(p, {}).get("status") == "healthy" for p in parts) else 1)
EOF
  do
    for pidfile in "$STACK_DIR"/pids/*.pid; do
      if ! alive "$pidfile"; then
        name="$(basename "$pidfile" .pid)"
        echo "$name exited; last lines of $STACK_DIR/logs/$name.log:" >&2
        tail -n 30 "$STACK_DIR/logs/$name.log" >&2
        return 1
      fi
    done
    if ((SECONDS > deadline)); then
      echo "not healthy after ${HEALTH_TIMEOUT}s; logs in $STACK_DIR/logs" >&2
      return 1
    fi
    sleep 2
  done
  echo "healthy: $AIRFLOW__API__BASE_URL (user ${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS%%:*})"
}

up() {
  local workers=1
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --workers) workers="$2"; shift 2 ;;
      *) echo "unknown option $1" >&2; exit 2 ;;
    esac
  done
  create_databases
  "$BIN/airflow" db migrate >"$STACK_DIR/logs/migrate.log" 2>&1 || {
    tail -n 30 "$STACK_DIR/logs/migrate.log" >&2; exit 1; }
  "$BIN/techflow-ops" opsdb upgrade
  write_passwords_file
  export AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT="${AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT:-$(free_port)}"
  start api-server "$BIN/airflow" api-server
  start scheduler "$BIN/airflow" scheduler
  start dag-processor "$BIN/airflow" dag-processor
  start triggerer "$BIN/airflow" triggerer
  for _ in $(seq "$workers"); do add_worker; done
  wait_healthy
}

session_pids() {  # every process in session $1: the leader, its children and the task processes,
  # which Airflow moves into process groups of their own (still inside the session)
  ps -e -o pid=,sid= | awk -v sid="$1" '$2 == sid {print $1}'
}

down() {
  local pidfile pid
  local -a groups=()
  shopt -s nullglob
  for pidfile in "$STACK_DIR"/pids/*.pid; do
    pid="$(cat "$pidfile")"
    # Only signal a session whose leader is still the process this script started.
    if [[ "$(ps -o sid= -p "$pid" 2>/dev/null | tr -d ' ')" == "$pid" ]]; then
      # SIGTERM to the leader's group: Celery finishes running tasks, servers close cleanly.
      kill -TERM -- "-$pid" 2>/dev/null || true
      groups+=("$pid:$(basename "$pidfile" .pid)")
    fi
    rm -f "$pidfile"
  done
  local deadline=$((SECONDS + 30)) entry remaining
  for entry in "${groups[@]}"; do
    pid="${entry%%:*}"
    while [[ -n "$(session_pids "$pid")" ]] && ((SECONDS < deadline)); do sleep 0.5; done
    remaining="$(session_pids "$pid" | tr '\n' ' ')"
    if [[ -n "${remaining// /}" ]]; then
      echo "${entry#*:}: processes $remaining still run 30 s after SIGTERM; killing them" >&2
      # shellcheck disable=SC2086
      kill -KILL $remaining 2>/dev/null || true
    fi
    echo "stopped ${entry#*:}"
  done
}

status() {
  local pidfile
  shopt -s nullglob
  for pidfile in "$STACK_DIR"/pids/*.pid; do
    if alive "$pidfile"; then state=running; else state=stopped; fi
    echo "$(basename "$pidfile" .pid): $state (pid $(cat "$pidfile"))"
  done
  curl -fsS "$AIRFLOW__API__BASE_URL/api/v2/monitor/health" 2>/dev/null && echo || echo "api-server not answering"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  add-worker) add_worker ;;
  down) down ;;
  status) status ;;
  *) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac

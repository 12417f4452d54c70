#!/usr/bin/env bash
# Airflow standalone on the embedded default (SQLite metadata DB, SQLite warehouse, local
# files) with this project's DAGs and plugin. Called by `make start`.
#
# First start: generates demo landing data (the last 14 days up to today). Every start:
# migrates the ops store, runs `airflow standalone` (scheduler, dag-processor, triggerer,
# api-server), waits until the API answers, then prints the URL and the admin login.
# Ctrl-C stops everything it started.
#
# Settings (environment): TECHFLOW_PORT (8080), AIRFLOW_HOME (<project>/.airflow),
# TECHFLOW_DATA_DIR (<project>/data), TECHFLOW_WAREHOUSE_URL (SQLite under the data folder),
# TECHFLOW_DEMO_ARGS (extra `techflow-ops data generate` options for the first start).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/.venv/bin"
PORT="${TECHFLOW_PORT:-8080}"
export PATH="$BIN:$PATH"  # standalone starts its components as `airflow ...` from PATH

export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=False
export AIRFLOW__API__HOST="${AIRFLOW__API__HOST:-127.0.0.1}"
export AIRFLOW__API__PORT="$PORT"
export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://localhost:$PORT}"
export TECHFLOW_AIRFLOW_BASE_URL="${TECHFLOW_AIRFLOW_BASE_URL:-$AIRFLOW__API__BASE_URL}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://127.0.0.1:$PORT/execution/}"
# The first tasks start while the api-server is still warming up on a small machine; the
# 5 s default makes them fail with ReadTimeout before it answers.
export AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT="${AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT:-30}"
# Every Airflow process writes the one SQLite metadata file; wait up to 30 s for its lock
# instead of pysqlite's 5 s (see techflow_ops.settings).
if [[ -z "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" || "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" == sqlite* ]]; then
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS:-techflow_ops.settings.AIRFLOW_SQLITE_CONNECT_ARGS}"
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC:-techflow_ops.settings.AIRFLOW_SQLITE_CONNECT_ARGS_ASYNC}"
fi
export TECHFLOW_DATA_DIR="${TECHFLOW_DATA_DIR:-$ROOT/data}"
# The warehouse is the Airflow connection `techflow_warehouse`; tasks and the CLI both read it.
if [[ -z "${AIRFLOW_CONN_TECHFLOW_WAREHOUSE:-}" ]]; then
  if [[ -n "${TECHFLOW_WAREHOUSE_URL:-}" ]]; then
    AIRFLOW_CONN_TECHFLOW_WAREHOUSE="{\"conn_type\": \"generic\", \"extra\": {\"sqlalchemy_url\": \"$TECHFLOW_WAREHOUSE_URL\"}}"
  else
    AIRFLOW_CONN_TECHFLOW_WAREHOUSE="{\"conn_type\": \"sqlite\", \"host\": \"$TECHFLOW_DATA_DIR/warehouse.db\"}"
  fi
  export AIRFLOW_CONN_TECHFLOW_WAREHOUSE
fi
mkdir -p "$AIRFLOW_HOME" "$TECHFLOW_DATA_DIR"

if [[ ! -f "$TECHFLOW_DATA_DIR/landing/_generated.json" ]]; then
  echo "First start: generating demo data (the last 14 days) under $TECHFLOW_DATA_DIR/landing ..."
  # shellcheck disable=SC2086  # TECHFLOW_DEMO_ARGS is a list of options
  "$BIN/techflow-ops" data generate --end "$(date -u +%F)" ${TECHFLOW_DEMO_ARGS:-}
fi
"$BIN/techflow-ops" opsdb upgrade

LOG="$AIRFLOW_HOME/standalone.log"
echo "Starting Airflow standalone on port $PORT (log: $LOG) ..."
# Own session, so stopping the group stops every Airflow process standalone started.
setsid "$BIN/airflow" standalone >"$LOG" 2>&1 &
AIRFLOW_PID=$!
echo "$AIRFLOW_PID" >"$AIRFLOW_HOME/standalone.pid"  # the process group to stop if this script is killed
stop() {
  trap - INT TERM EXIT
  echo "Stopping Airflow ..."
  kill -TERM -- "-$AIRFLOW_PID" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$AIRFLOW_PID" 2>/dev/null || break; sleep 1; done
  kill -KILL -- "-$AIRFLOW_PID" 2>/dev/null || true
}
trap stop INT TERM EXIT

# In the background so Ctrl-C (trap) interrupts the wait at once.
"$BIN/python" - "$PORT" "$AIRFLOW_HOME" "$AIRFLOW_PID" <<'EOF' &
import json, os, sys, time, urllib.request
port, home, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
passwords = os.path.join(home, "simple_auth_manager_passwords.json.generated")
deadline = time.monotonic() + float(os.environ.get("TECHFLOW_START_TIMEOUT", "240"))
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        sys.exit(f"airflow standalone exited; see {home}/standalone.log")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=3) as response:
            healthy = response.status == 200
    except OSError:
        healthy = False
    if healthy and os.path.exists(passwords):
        users = json.load(open(passwords))
        print("\n" + "=" * 64)
        print(f"  TechFlow Ops is up:  {os.environ['AIRFLOW__API__BASE_URL']}")
        for user, password in users.items():
            print(f"  login:  {user} / {password}")
        print(f"  on-call view:  {os.environ['TECHFLOW_AIRFLOW_BASE_URL']}/techflow/oncall")
        print("  Ctrl-C stops Airflow.")
        print("=" * 64 + "\n", flush=True)
        sys.exit(0)
    time.sleep(2)
sys.exit(f"Airflow did not answer on port {port} in time; see {home}/standalone.log")
EOF
wait $! || exit 1
wait "$AIRFLOW_PID"

#!/usr/bin/env bash
# Airflow standalone on the embedded default (SQLite metadata DB, SQLite warehouse, local
# files) with this project's DAGs and plugin. Called by `make start`.
#
# First start: generates demo landing data (the last 14 days up to today). Every start:
# migrates the ops store, starts the local inbox (a loopback SMTP server and webhook receiver
# that catch every page; the notification connections you have not set point at it), runs
# `airflow standalone` (scheduler, dag-processor, triggerer, api-server), waits until the API
# answers, then prints the URL, the admin login and the inbox address, and starts the watchdog
# (`techflow-ops watchdog`: pages when the scheduler, triggerer or escalation engine stops or a
# pipeline's data goes stale; log $AIRFLOW_HOME/watchdog.log). Ctrl-C stops everything it started.
#
# Settings (environment): TECHFLOW_PORT (8080), AIRFLOW_HOME (<project>/.airflow),
# TECHFLOW_DATA_DIR (<project>/data), TECHFLOW_WAREHOUSE_URL (SQLite under the data folder),
# TECHFLOW_DEMO_ARGS (extra `techflow-ops data generate` options for the first start),
# TECHFLOW_WATCHDOG_ARGS (extra `techflow-ops watchdog` options, e.g. "--interval 20s").
set -euo pipefail

# --- the local inbox (embedded default) -------------------------------------------------------
# `techflow-ops inbox serve` catches email (SMTP), Slack webhook posts and PagerDuty events on
# free 127.0.0.1 ports and keeps them in the ops DB (the On-call view's Inbox page). Once it
# listens it writes one AIRFLOW_CONN_<ID>=<json> line per notification connection the config
# uses (smtp_default, slack_data_eng, slack_finance, slack_default, pagerduty_infra,
# pagerduty_default); each is exported only when that connection is not set already, so a real
# relay, webhook or routing key from the environment always wins.
INBOX_PID=""
INBOX_CONNECTIONS=()  # exported, pointing at the inbox
KEPT_CONNECTIONS=()   # already set: left alone

export_inbox_connections() {  # $1: the env file the catcher wrote
  local line name
  while IFS= read -r line || [[ -n "$line" ]]; do
    [[ "$line" =~ ^AIRFLOW_CONN_[A-Z0-9_]+= ]] || continue
    name="${line%%=*}"
    if [[ -n "${!name:-}" ]]; then
      KEPT_CONNECTIONS+=("$name")
    else
      export "$line"
      INBOX_CONNECTIONS+=("$name")
    fi
  done <"$1"
}

start_inbox() {  # $1: the techflow-ops command, $2: folder for inbox.env and inbox.log
  local env_file="$2/inbox.env"
  rm -f "$env_file"
  "$1" inbox serve --env-file "$env_file" >"$2/inbox.log" 2>&1 &
  INBOX_PID=$!
  for _ in $(seq 600); do
    [[ -s "$env_file" ]] && break
    kill -0 "$INBOX_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ ! -s "$env_file" ]]; then
    echo "The local inbox did not start (see $2/inbox.log); pages to unset connections will fail and be retried." >&2
    stop_inbox
    return 1
  fi
  export_inbox_connections "$env_file"
}

stop_inbox() {
  [[ -n "$INBOX_PID" ]] || return 0
  kill -TERM "$INBOX_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$INBOX_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$INBOX_PID" 2>/dev/null || true
  INBOX_PID=""
}

# --- the watchdog --------------------------------------------------------------------------------
# Started once the API answers (so the first start-up is not a "scheduler down"), with a start-up
# grace on top (escalation.yaml watchdog.startup_grace); stopped first on Ctrl-C, before Airflow, so
# stopping is not paged as an outage.
WATCHDOG_PID=""

start_watchdog() {  # $1: the techflow-ops command, $2: the API's base URL, $3: the log file
  # shellcheck disable=SC2086  # TECHFLOW_WATCHDOG_ARGS is a list of options
  "$1" watchdog --api-url "$2" ${TECHFLOW_WATCHDOG_ARGS:-} >"$3" 2>&1 &
  WATCHDOG_PID=$!
}

stop_watchdog() {
  [[ -n "$WATCHDOG_PID" ]] || return 0
  kill -TERM "$WATCHDOG_PID" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$WATCHDOG_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$WATCHDOG_PID" 2>/dev/null || true
  WATCHDOG_PID=""
}

connection_ids() {  # AIRFLOW_CONN_SLACK_DATA_ENG ... -> slack_data_eng ...
  local name ids=()
  for name in "$@"; do name="${name#AIRFLOW_CONN_}"; ids+=("${name,,}"); done
  echo "${ids[*]}"
}

# Sourced (tests: `bash -c 'source scripts/start.sh; ...'`): the functions only.
[[ "${BASH_SOURCE[0]}" == "$0" ]] || return 0

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
# Lineage: Airflow's OpenLineage provider stays off while no transport is set. The embedded
# default appends every event to one JSON-lines file under the data folder, through TechFlow's
# transformer, which types the owners the provider sends bare (README "Lineage (OpenLineage)").
if [[ -z "${AIRFLOW__OPENLINEAGE__TRANSPORT:-}" && -z "${OPENLINEAGE_URL:-}" && -z "${AIRFLOW__OPENLINEAGE__CONFIG_PATH:-}" ]]; then
  mkdir -p "$TECHFLOW_DATA_DIR/lineage"
  export AIRFLOW__OPENLINEAGE__TRANSPORT="{\"type\": \"transform\", \"transformer_class\": \"techflow_ops.lineage.transformer.TechflowEventTransformer\", \"transport\": {\"type\": \"file\", \"log_file_path\": \"$TECHFLOW_DATA_DIR/lineage/openlineage.jsonl\", \"append\": true}}"
fi
export AIRFLOW__OPENLINEAGE__NAMESPACE="${AIRFLOW__OPENLINEAGE__NAMESPACE:-techflow}"
# A thread, not the provider's default fork per event: the task process keeps what the first
# event loaded (schedule, policy), and no second task runner shares the supervisor's socket.
export AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD="${AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD:-True}"
mkdir -p "$AIRFLOW_HOME" "$TECHFLOW_DATA_DIR"

if [[ ! -f "$TECHFLOW_DATA_DIR/landing/_generated.json" ]]; then
  echo "First start: generating demo data (the last 14 days) under $TECHFLOW_DATA_DIR/landing ..."
  # shellcheck disable=SC2086  # TECHFLOW_DEMO_ARGS is a list of options
  "$BIN/techflow-ops" data generate --end "$(date -u +%F)" ${TECHFLOW_DEMO_ARGS:-}
fi
"$BIN/techflow-ops" opsdb upgrade

AIRFLOW_PID=""
stop() {
  trap - INT TERM EXIT
  stop_watchdog
  if [[ -n "$AIRFLOW_PID" ]]; then
    echo "Stopping Airflow ..."
    kill -TERM -- "-$AIRFLOW_PID" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$AIRFLOW_PID" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$AIRFLOW_PID" 2>/dev/null || true
  fi
  stop_inbox
}
trap stop INT TERM EXIT

INBOX_URL=""
if start_inbox "$BIN/techflow-ops" "$AIRFLOW_HOME"; then
  INBOX_URL="$TECHFLOW_AIRFLOW_BASE_URL/techflow/inbox"
  echo "Local inbox on 127.0.0.1 (log: $AIRFLOW_HOME/inbox.log) catches: $(connection_ids "${INBOX_CONNECTIONS[@]}")"
  if (( ${#KEPT_CONNECTIONS[@]} )); then
    echo "  kept as set in the environment: $(connection_ids "${KEPT_CONNECTIONS[@]}")"
  fi
fi

LOG="$AIRFLOW_HOME/standalone.log"
echo "Starting Airflow standalone on port $PORT (log: $LOG) ..."
# Own session, so stopping the group stops every Airflow process standalone started.
setsid "$BIN/airflow" standalone >"$LOG" 2>&1 &
AIRFLOW_PID=$!
echo "$AIRFLOW_PID" >"$AIRFLOW_HOME/standalone.pid"  # the process group to stop if this script is killed

# In the background so Ctrl-C (trap) interrupts the wait at once.
WATCHDOG_LOG="$AIRFLOW_HOME/watchdog.log"
"$BIN/python" - "$PORT" "$AIRFLOW_HOME" "$AIRFLOW_PID" "$INBOX_URL" "$WATCHDOG_LOG" <<'EOF' &
import json, os, sys, time, urllib.request
port, home, pid, inbox_url, watchdog_log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
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
        try:
            from techflow_ops.oncall import get_schedule_service
            from techflow_ops.registry import get_registry

            now, people = get_schedule_service().now(), get_registry().people
            name = lambda p: f"{people[p].name} ({p})" if p in people else (p or "nobody")
            print(f"  on call now:  primary {name(now.primary)}, secondary {name(now.secondary)}"
                  + (f", investor watch {name(now.investor_watch)}" if now.investor_watch else ""))
        except Exception as exc:  # the banner must not stop the start; the On-call view says more
            print(f"  on call now:  unknown ({type(exc).__name__}: {exc})")
        if inbox_url:
            print(f"  inbox (every email, Slack and PagerDuty page):  {inbox_url}")
        print(f"  watchdog:  pages if the scheduler, triggerer or escalation engine stops or a pipeline's data goes"
              f" stale (log: {watchdog_log})")
        print("  try a failure:  make drill   (in another terminal: a Kafka outage; the page lands in the inbox)")
        print("  Ctrl-C stops Airflow, the watchdog" + (" and the inbox." if inbox_url else "."))
        print("=" * 64 + "\n", flush=True)
        sys.exit(0)
    time.sleep(2)
sys.exit(f"Airflow did not answer on port {port} in time; see {home}/standalone.log")
EOF
wait $! || exit 1
start_watchdog "$BIN/techflow-ops" "http://127.0.0.1:$PORT" "$WATCHDOG_LOG"
wait "$AIRFLOW_PID"

#!/usr/bin/env bash
# The compose `airflow-init` service: everything the long-running services need before they
# start. It is idempotent, so `docker compose up` may run it on every start.
set -euo pipefail

echo "checking the TechFlow config in $TECHFLOW_CONFIG_DIR"
techflow-ops config check

echo "migrating the Airflow metadata database"
airflow db migrate

echo "migrating the TechFlow ops store"
techflow-ops opsdb upgrade

# SimpleAuthManager reads passwords from this JSON file; writing it here fixes the admin
# password to the one in .env instead of a random one printed in the api-server log.
python - <<'PY'
import json, os
path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
with open(path, "w") as handle:
    json.dump({os.environ["_AIRFLOW_WWW_USER_USERNAME"]: os.environ["_AIRFLOW_WWW_USER_PASSWORD"]}, handle)
os.chmod(path, 0o660)
PY
echo "ready: log in as $_AIRFLOW_WWW_USER_USERNAME"

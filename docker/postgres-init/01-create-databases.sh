#!/usr/bin/env bash
# Runs once, when the postgres container starts on an empty volume: the warehouse and the
# ops store get databases of their own beside Airflow's metadata database, so each can be
# backed up, restored or moved to another server on its own.
set -euo pipefail
for db in ${TECHFLOW_POSTGRES_DATABASES:?names of the extra databases}; do
  echo "creating database $db"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -c "CREATE DATABASE \"$db\""
done

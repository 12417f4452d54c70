# TechFlow Ops. The README's two commands are `make start` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup start drill watchdog-check demo test bench lock clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip==24.3.1"
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	# The editable build leaves egg-info metadata in plugins/, which is on sys.path: Airflow would
	# then see the `airflow.plugins` entry point twice and report the second as an import error.
	rm -rf plugins/techflow_ops.egg-info
	touch $@

## Airflow standalone on SQLite with this project's DAGs and plugin; prints URL and login.
start: setup
	bash scripts/start.sh

## While `make start` runs, in another terminal: a fire drill against it (DRILL=kafka-outage|bad-data).
## The fault goes into its landing data, the real DAG runs, the page lands in the Inbox; without a
## running Airflow the drill runs locally and says so.
drill: setup
	AIRFLOW_HOME="$${AIRFLOW_HOME:-$(CURDIR)/.airflow}" TECHFLOW_DATA_DIR="$${TECHFLOW_DATA_DIR:-$(CURDIR)/data}" \
	TECHFLOW_AIRFLOW_BASE_URL="$${TECHFLOW_AIRFLOW_BASE_URL:-http://localhost:$${TECHFLOW_PORT:-8080}}" \
	$(BIN)/techflow-ops drill $${DRILL:-kafka-outage}

## While `make start` runs, in another terminal: every watchdog check once, as a table (exit 1 if any
## is stale). A look only: it opens, pages and resolves nothing (the watchdog `make start` runs does).
watchdog-check: setup
	AIRFLOW_HOME="$${AIRFLOW_HOME:-$(CURDIR)/.airflow}" TECHFLOW_DATA_DIR="$${TECHFLOW_DATA_DIR:-$(CURDIR)/data}" \
	TECHFLOW_AIRFLOW_BASE_URL="$${TECHFLOW_AIRFLOW_BASE_URL:-http://localhost:$${TECHFLOW_PORT:-8080}}" \
	$(BIN)/techflow-ops watchdog --once --format table --dry-run

## The five pipelines over a date range on generated data, no servers; prints a summary.
demo: setup
	$(BIN)/techflow-ops demo

## The whole test suite (installs what the browser and integration tests need).
test: setup
	bash scripts/test.sh

## Benchmarks (printed figures, not timed tests).
bench: setup
	bash benchmarks/run_all.sh

## Re-pin every dependency after changing pyproject.toml.
lock:
	$(BIN)/pip install --quiet -e ".[test]"
	rm -rf plugins/techflow_ops.egg-info
	$(BIN)/pip freeze --exclude-editable | grep -v '^techflow' > requirements.lock

clean:
	rm -rf $(VENV) .airflow data .pytest_cache

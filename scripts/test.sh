#!/usr/bin/env bash
# Runs the whole test suite. Called by `make test` (and so by CI).
set -euo pipefail
cd "$(dirname "$0")/.."
export TECHFLOW_TEST_RUN=1
exec .venv/bin/python -m pytest -ra "$@"

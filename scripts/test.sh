#!/usr/bin/env bash
# Runs the whole test suite. Called by `make test` (and so by CI).
set -euo pipefail
cd "$(dirname "$0")/.."
export TECHFLOW_TEST_RUN=1
# The web browser test drives Debian's chromium (Playwright cannot download browsers here).
if ! command -v chromium >/dev/null 2>&1; then
    as_root=""
    [[ "$(id -u)" -eq 0 ]] || as_root="sudo"
    $as_root apt-get update && $as_root apt-get install -y chromium
fi
# Lint first: a failing rule stops the run before the slow tests (config in pyproject.toml).
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -ra "$@"

#!/usr/bin/env bash
# Runs every benchmarks/bench_*.py (each area adds its own file) and prints their figures.
# Exit status: non-zero if any benchmark missed its bar or failed. Called by `make bench`.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
failed=()
for bench in benchmarks/bench_*.py; do
  echo "=== $bench"
  started=$(date +%s)
  if ! "$PY" "$bench"; then
    failed+=("$bench")
  fi
  echo "--- $bench: $(( $(date +%s) - started )) s"
  echo
done
if (( ${#failed[@]} )); then
  echo "missed the bar or failed: ${failed[*]}"
  exit 1
fi
echo "all benchmarks met their bars"

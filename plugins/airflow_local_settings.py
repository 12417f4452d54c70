"""Airflow's local-settings hook, found on sys.path (Airflow puts the plugins folder there)
and imported by every Airflow process while it initialises (`import airflow`), before it
forks anything.

TechFlow Ops uses it for one thing: preloading, in the processes that fork children again
and again, what those children need, so every forked child starts with it
(`techflow_ops.pipelines.preload`):
- dag-processor: the DAG factory, registry and runbook summaries (one forked child per parse);
- scheduler running the LocalExecutor (it forks the executor's worker processes, which fork
  each task process) and `airflow celery worker` (its prefork pool children fork each task
  process): the same, plus the escalation stack with its policy and on-call schedule, and
  Great Expectations with the worker's GX context and the quality suites.
Other processes (api-server, triggerer, the CLI) are left alone. `TECHFLOW_PRELOAD=off` turns
it off, `TECHFLOW_PRELOAD=parsing` keeps only the DAG parsing part. It never raises.
"""

from __future__ import annotations

import sys

if {"dag-processor", "scheduler", "worker"} & set(sys.argv[1:3]):
    try:
        from techflow_ops.pipelines.preload import preload_for_process

        preload_for_process(sys.argv)
    except Exception as exc:  # noqa: BLE001 - Airflow must start whatever the preload does
        print(f"TechFlow Ops: preload skipped ({type(exc).__name__}: {exc})", file=sys.stderr)

"""Airflow's local-settings hook, found on sys.path (Airflow puts the plugins folder there)
and imported by every Airflow process while it initialises.

TechFlow Ops uses it for one thing: in the processes that parse DAG files again and again
(the dag-processor forks a child per parse; the scheduler's LocalExecutor and a Celery
worker fork the process that parses a task's DAG file), the parent imports the DAG factory
and loads the registry and runbook summaries once, so every forked parse starts with them.
Other processes (api-server, triggerer, the CLI) are left alone.
"""

from __future__ import annotations

import sys

if {"dag-processor", "scheduler", "worker"} & set(sys.argv[1:3]):
    from techflow_ops.pipelines.preload import preload_dag_parsing

    preload_dag_parsing()

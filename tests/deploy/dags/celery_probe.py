"""A one-task DAG that records which Celery worker ran it: the stack's smoke test."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(dag_id="celery_probe", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def celery_probe():
    @task
    def where_am_i() -> str:
        import os
        import socket

        return f"{socket.gethostname()}:{os.getpid()}"

    where_am_i()


celery_probe()

"""URLs people click in pages and DAG docs. The plugin serves its pages under PLUGIN_PREFIX."""

from __future__ import annotations

from urllib.parse import quote

from . import settings

PLUGIN_PREFIX = "/techflow"


def plugin_url(path: str = "") -> str:
    return f"{settings.airflow_base_url()}{PLUGIN_PREFIX}/{path.lstrip('/')}"


def runbook_url(pipeline_id: str, anchor: str | None = None) -> str:
    url = plugin_url(f"runbooks/{quote(pipeline_id)}")
    return f"{url}#{anchor}" if anchor else url


def incident_url(incident_id: int | str) -> str:
    return plugin_url(f"incidents/{incident_id}")


def dag_url(dag_id: str) -> str:
    return f"{settings.airflow_base_url()}/dags/{quote(dag_id)}"


def dag_run_url(dag_id: str, run_id: str) -> str:
    return f"{dag_url(dag_id)}/runs/{quote(run_id, safe='')}"

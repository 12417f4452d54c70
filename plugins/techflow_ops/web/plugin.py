"""The Airflow plugin, registered through the `airflow.plugins` entry point.

Every Airflow process that loads plugins imports this module, so it stays light: the
FastAPI app (and the API server's security modules it needs) is built on first access,
which only the API server makes.
"""

from __future__ import annotations

from functools import cache

from airflow.plugins_manager import AirflowPlugin

from ..links import PLUGIN_PREFIX


@cache
def _fastapi_app():
    from . import health
    from .app import create_app

    app = create_app()
    health.start_warm_up()  # the Health page's imports and first drawing, off the first request
    return app


class TechFlowOpsPlugin(AirflowPlugin):
    name = "techflow_ops"
    external_views = [
        {
            "name": "On-call",
            "href": f"{PLUGIN_PREFIX}/oncall",
            "destination": "nav",
            "url_route": "techflow-oncall",
        },
        {
            "name": "Pipeline health",
            "href": f"{PLUGIN_PREFIX}/health",
            "destination": "nav",
            "url_route": "techflow-health",
        },
        {
            "name": "Ownership & on-call",
            "href": f"{PLUGIN_PREFIX}/dags/{{DAG_ID}}",
            "destination": "dag",
            "url_route": "techflow-dag",
        },
    ]

    @property
    def fastapi_apps(self) -> list[dict]:
        return [{"app": _fastapi_app(), "url_prefix": PLUGIN_PREFIX, "name": "TechFlow Ops"}]

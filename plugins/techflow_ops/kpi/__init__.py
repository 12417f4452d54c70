"""KPIs and one health state per pipeline (README "KPIs and health").

    model.py    Window and the plain records of a History
    compute.py  compute_kpis, daily_series, weekly_series: pure Python over a History
    health.py   pipeline_health: healthy | warning | degraded | unknown, and why
    sources.py  load_history: the History from Airflow's metadata DB, the ops DB, the warehouse
                and the on-call schedule (SQLAlchemy; imported only when called)
    cli.py      `techflow-ops kpi`
"""

from __future__ import annotations

from .compute import compute_kpis, daily_series, weekly_series
from .health import pipeline_health
from .model import DqResult, History, Incident, InvestorSnapshot, Page, Published, Run, Shift, StepEvent, Window

__all__ = ["DqResult", "History", "Incident", "InvestorSnapshot", "Page", "Published", "Run", "Shift", "StepEvent",
           "Window", "compute_kpis", "daily_series", "load_history", "pipeline_health", "weekly_series"]


def load_history(window: Window, **sources) -> History:
    """`sources.load_history`: see there (kept out of this import, which stays database-free)."""
    from .sources import load_history as load

    return load(window, **sources)

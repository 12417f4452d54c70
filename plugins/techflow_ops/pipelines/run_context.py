"""What an Airflow run's context says about the data it covers. Shared by the pipeline and
quality task callables; cheap to import at DAG-parse time."""

from __future__ import annotations

from datetime import date


def run_dates(context) -> list[date]:
    """The dates a run covers: `date` param, else the upstream Assets' dates, else its data interval."""
    requested = (context.get("params") or {}).get("date")
    if requested:
        return [date.fromisoformat(requested)]
    events = context.get("triggering_asset_events") or {}
    dates = sorted({
        event.extra["date"] for asset_events in events.values() for event in asset_events
        if event.extra and event.extra.get("date")
    })
    if dates:
        return [date.fromisoformat(d) for d in dates]
    moment = context.get("data_interval_start") or context.get("logical_date") or context["dag_run"].run_after
    return [moment.date()]

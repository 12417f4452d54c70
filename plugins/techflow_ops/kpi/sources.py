"""`load_history`: a `History` read from the real sources (README "KPIs and health").

- DAG runs: Airflow's metadata DB, table `dag_run`, read with one SQL statement (the
  watchdog's `probes.metadata_db_url()`: `AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`, else Airflow's
  configuration). Not the REST API: a year of 100 pipelines is 36,500 runs, i.e. hundreds of
  paginated, authenticated requests to a server that may not be running (a CLI on a laptop,
  a digest task), for five columns. Not the ORM: `airflow.models.DagRun` costs the ~2 s
  Airflow import and its settings set-up, and ties this read to Airflow's session handling;
  the columns read here (`dag_id, run_id, state, queued_at, start_date, end_date`, and
  `run_after`, NOT NULL since Airflow 3.0) are stable. A run's instant is `queued_at`, else
  `start_date` (a run created running, e.g. `dag.test()`), else `run_after` (a run created
  in any other state, never queued: the earliest it could run).
- Incidents, their timelines (first acknowledgement, escalation steps) and pages (outbox
  rows of purpose `page`): the ops DB (`opsdb.schema`); DQ results: `quality.tables`.
- Published days (freshness) and investor snapshots (completeness): the warehouse
  (`pipelines.warehouse`).
- Shifts: the on-call schedule (`oncall.service`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import and_, bindparam, column, create_engine, func, or_, select, table

from .model import DqResult, History, Incident, InvestorSnapshot, Page, Published, Run, StepEvent, Window

RUN_LOOKBACK = timedelta(days=7)  # runs queued this long before the window: the last run, due times
STEP_KINDS = ("paged", "exhausted")
_metadata_engines: dict = {}


def _instant(value) -> datetime | None:
    """An aware UTC instant from what the driver returns: a datetime (naive is UTC: SQLite) or
    ISO text (SQLite without a column type). Called per value of tens of thousands of rows, so
    it does the least work for each case."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:  # Airflow stores UTC; SQLite gives it back naive
        return value.replace(tzinfo=timezone.utc)
    return value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)


def _bound(url: str, at: datetime):
    # Airflow's UtcDateTime stores naive UTC text in SQLite: compare like with like.
    return at.astimezone(timezone.utc).replace(tzinfo=None) if url.startswith("sqlite") else at


def load_runs(window: Window, dag_ids: list[str], url: str | None = None) -> list[Run]:
    """DAG runs of `dag_ids` (dag id = pipeline id) whose instant (module docstring) is in
    [start - 7 days, end)."""
    from ..watchdog.probes import metadata_db_url

    url = url or metadata_db_url()
    engine = _metadata_engines.get(url)
    if engine is None:
        engine = _metadata_engines[url] = create_engine(url, pool_pre_ping=True)
    dag_run = table("dag_run", column("dag_id"), column("run_id"), column("state"), column("queued_at"),
                    column("start_date"), column("end_date"), column("run_after"))
    queued = func.coalesce(dag_run.c.queued_at, dag_run.c.start_date, dag_run.c.run_after)
    query = (select(dag_run.c.dag_id, dag_run.c.run_id, dag_run.c.state, queued.label("queued_at"),
                    dag_run.c.start_date, dag_run.c.end_date)
             .where(dag_run.c.dag_id.in_(bindparam("dag_ids", expanding=True)),
                    queued >= _bound(url, window.start - RUN_LOOKBACK), queued < _bound(url, window.end)))
    try:
        with engine.connect() as connection:
            rows = connection.execute(query, {"dag_ids": list(dag_ids)}).all()
    except Exception as exc:
        from ..watchdog.probes import short_error

        raise RuntimeError(f"could not read dag_run from Airflow's metadata DB {engine.url!r}: {short_error(exc)}") from exc
    return [Run(row.dag_id, row.run_id, str(row.state), _instant(row.queued_at), _instant(row.start_date),
                _instant(row.end_date)) for row in rows]


def load_published(window: Window, warehouse_url: str | None = None) -> list[Published]:
    """Days published in the window, plus each pipeline's newest day published before it."""
    from ..pipelines import warehouse as wh

    runs = wh.pipeline_runs
    start, end = _naive(window.start), _naive(window.end)
    with wh.get_engine(warehouse_url).connect() as connection:
        rows = connection.execute(select(runs.c.pipeline_id, runs.c.date, runs.c.finished_at).where(
            runs.c.status == "published", runs.c.finished_at >= start, runs.c.finished_at < end)).all()
        before = connection.execute(select(runs.c.pipeline_id, func.max(runs.c.date), func.max(runs.c.finished_at)).where(
            runs.c.status == "published", runs.c.finished_at < start).group_by(runs.c.pipeline_id)).all()
    return [Published(p, _date(d), _instant(at)) for p, d, at in [*before, *rows]]


def load_investor_snapshots(window: Window, warehouse_url: str | None = None) -> list[InvestorSnapshot]:
    """The latest version of each month's investor snapshot for months closing in the window."""
    from ..pipelines import warehouse as wh

    snapshots = wh.investor_monthly_snapshots
    first = date(window.start.year, window.start.month, 1) - timedelta(days=1)
    newest = (select(snapshots.c.month, func.max(snapshots.c.version).label("version"))
              .where(snapshots.c.month >= first, snapshots.c.month < window.end.date()).group_by(snapshots.c.month).subquery())
    query = select(snapshots.c.month, snapshots.c.complete).join(
        newest, and_(snapshots.c.month == newest.c.month, snapshots.c.version == newest.c.version))
    with wh.get_engine(warehouse_url).connect() as connection:
        return [InvestorSnapshot(_date(month), bool(complete)) for month, complete in connection.execute(query)]


def load_ops(window: Window, ops_db_url: str | None = None) -> tuple[list[Incident], list[StepEvent], list[Page], list[DqResult]]:
    """Incidents open at any instant of the window (with their first acknowledgement and their
    escalation steps), pages sent in it, and DQ results (in it, and the newest of each dataset
    before it, for health)."""
    from .. import opsdb
    from ..opsdb.schema import incident_events as events
    from ..opsdb.schema import incidents, outbox
    from ..quality.tables import quality_results as dq

    overlapping = and_(incidents.c.opened_at < window.end,
                       or_(incidents.c.resolved_at.is_(None), incidents.c.resolved_at >= window.start))
    with opsdb.get_engine(ops_db_url).connect() as connection:
        incident_rows = connection.execute(select(
            incidents.c.id, incidents.c.pipeline_id, incidents.c.kind, incidents.c.severity, incidents.c.opened_at,
            incidents.c.acknowledged_at, incidents.c.acknowledged_by, incidents.c.resolved_at, incidents.c.run_id,
        ).where(overlapping)).all()
        # The window's incidents first, then their events through the (incident_id, id) index: a
        # join let SQLite walk every event ever recorded.
        event_rows = connection.execute(
            select(events.c.incident_id, events.c.at, events.c.kind, events.c.actor, events.c.data)
            .where(events.c.incident_id.in_(select(incidents.c.id).where(overlapping)),
                   events.c.kind.in_(("acknowledged", *STEP_KINDS)))
            .order_by(events.c.incident_id, events.c.at, events.c.id)).all()
        # One page per recipient, incident and message, whatever the number of its contact methods.
        page_rows = connection.execute(
            select(outbox.c.recipient, outbox.c.incident_id, func.min(outbox.c.created_at))
            .where(outbox.c.purpose == "page", outbox.c.created_at >= window.start - timedelta(seconds=60),
                   outbox.c.created_at < window.end)
            .group_by(outbox.c.recipient, outbox.c.incident_id, outbox.c.message_key)).all()
        columns = (dq.c.pipeline_id, dq.c.dataset, dq.c.validated_at, dq.c.success, dq.c.evaluated,
                   dq.c.failed_critical, dq.c.failed_warning)
        newest_before = select(func.max(dq.c.id)).where(dq.c.validated_at < window.start).group_by(dq.c.dataset)
        dq_rows = connection.execute(select(*columns).where(or_(
            and_(dq.c.validated_at >= window.start, dq.c.validated_at < window.end), dq.c.id.in_(newest_before)))).all()
    first_ack: dict[int, tuple[datetime, str | None]] = {}
    steps = []
    for incident_id, at, kind, actor, data in event_rows:
        at = _instant(at)
        if kind == "acknowledged":
            if incident_id not in first_ack:
                first_ack[incident_id] = (at, actor)
        else:
            recipients = tuple(json.loads(data or "{}").get("recipients", ()))
            steps.append(StepEvent(incident_id, at, kind, recipients))
    found = []
    for row in incident_rows:
        # The timeline's first "acknowledged" event: the column keeps only the latest.
        acknowledged_at, acknowledged_by = first_ack.get(row.id, (row.acknowledged_at, row.acknowledged_by))
        found.append(Incident(row.id, row.pipeline_id, row.kind, row.severity, row.opened_at, acknowledged_at,
                              acknowledged_by, row.resolved_at, row.run_id))
    pages = [Page(recipient, _instant(at), incident_id) for recipient, incident_id, at in page_rows]
    results = [DqResult(p, d, _instant(at), bool(ok), int(n), int(fc), int(fw)) for p, d, at, ok, n, fc, fw in dq_rows]
    return found, steps, pages, results


def load_shifts(window: Window, schedule=None, config_dir=None) -> list:
    """Effective on-call shifts (overrides applied) overlapping the window."""
    if schedule is None:
        from ..oncall.service import get_schedule_service

        schedule = get_schedule_service(config_dir)
    return schedule.shifts(window.start, window.end)


def load_history(window: Window, *, registry=None, ops_db_url: str | None = None, warehouse_url: str | None = None,
                 metadata_db_url: str | None = None, schedule=None, config_dir=None) -> History:
    """Everything `compute_kpis` needs for `window`, from the sources in the module docstring;
    each URL defaults to the project's settings (`settings.py`)."""
    outside = load_outside_ops(window, registry=registry, warehouse_url=warehouse_url, metadata_db_url=metadata_db_url,
                               schedule=schedule, config_dir=config_dir)
    return with_ops(outside, window, ops_db_url)


def load_outside_ops(window: Window, *, registry=None, warehouse_url: str | None = None, metadata_db_url: str | None = None,
                     schedule=None, config_dir=None) -> History:
    """The part of `load_history` that lives outside the ops DB: DAG runs, published days,
    shifts and investor snapshots (no incidents, pages, steps or DQ results). The Health page
    keeps it for a minute and reads only the ops DB again when that changes (`web.health`)."""
    if registry is None:
        from ..registry import get_registry

        registry = get_registry(config_dir)
    return History(
        runs=load_runs(window, sorted(p.dag_id for p in registry.pipelines.values()), metadata_db_url),
        published=load_published(window, warehouse_url),
        shifts=load_shifts(window, schedule, config_dir),
        investor_snapshots=load_investor_snapshots(window, warehouse_url),
    )


def with_ops(outside: History, window: Window, ops_db_url: str | None = None) -> History:
    """`outside` (from `load_outside_ops`, not changed) completed with the ops DB's part for `window`."""
    incidents, steps, pages, dq_results = load_ops(window, ops_db_url)
    return replace(outside, incidents=incidents, pages=pages, steps=steps, dq_results=dq_results)


def _naive(at: datetime) -> datetime:
    """The warehouse's DateTime columns hold naive UTC."""
    return at.astimezone(timezone.utc).replace(tzinfo=None)


def _date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])

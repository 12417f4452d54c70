"""What the watchdog reads, each probe on its own so one that fails leaves the others working:

- heartbeats of the scheduler and the triggerer: Airflow's `GET /api/v2/monitor/health` (public
  in Airflow 3.3, no token: it returns `latest_scheduler_heartbeat` / `latest_triggerer_heartbeat`
  of the most recent job of each type, the metadata DB's `job` table read by the api-server).
  When the API does not answer (the api-server is down too, or restarting), the same table is
  read directly from the metadata DB (`AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`, else Airflow's
  configuration), so an api-server outage does not blind the watchdog;
- the escalation engine's last successful tick: `engine_state` in the ops DB (written by
  `Escalation.tick`);
- each pipeline's newest published day: `pipeline_runs` in the warehouse.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, timezone

log = logging.getLogger(__name__)

JOB_TYPES = {"scheduler": "SchedulerJob", "triggerer": "TriggererJob"}


@dataclass
class Heartbeats:
    latest: dict[str, datetime | None]  # scheduler / triggerer -> newest heartbeat (None: never)
    source: str  # where they were read


def _parse_instant(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T"))
    if value.tzinfo is None:  # Airflow stores UTC; SQLite gives it back naive
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def health_api(base_url: str, timeout: float = 10.0) -> Heartbeats:
    """Heartbeats from `GET {base_url}/api/v2/monitor/health`; raises when it does not answer 200."""
    url = f"{base_url.rstrip('/')}/api/v2/monitor/health"
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body = json.loads(response.read().decode("utf-8"))
    database = (body.get("metadatabase") or {}).get("status")
    if database != "healthy":  # its heartbeats would read as "none": not evidence of a dead scheduler
        raise ValueError(f"the api-server answers but its metadata DB is {database}")
    return Heartbeats({
        "scheduler": _parse_instant((body.get("scheduler") or {}).get("latest_scheduler_heartbeat")),
        "triggerer": _parse_instant((body.get("triggerer") or {}).get("latest_triggerer_heartbeat")),
    }, f"GET {url}")


def metadata_db_url() -> str:
    url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    if url:
        return url
    from airflow.configuration import conf  # only when the environment does not say (costs ~2 s once)

    return conf.get("database", "sql_alchemy_conn")


_metadata_engines: dict = {}


def metadata_db(url: str | None = None) -> Heartbeats:
    """Heartbeats from the metadata DB's `job` table: the newest `latest_heartbeat` per job type."""
    from sqlalchemy import create_engine, text

    url = url or metadata_db_url()
    engine = _metadata_engines.get(url)
    if engine is None:
        connect_args = {"timeout": 10} if url.startswith("sqlite") else {"connect_timeout": 10}
        engine = _metadata_engines[url] = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    latest = {}
    with engine.connect() as connection:
        for name, job_type in JOB_TYPES.items():
            value = connection.execute(text("SELECT max(latest_heartbeat) FROM job WHERE job_type = :t"),
                                       {"t": job_type}).scalar()
            latest[name] = _parse_instant(value)
    return Heartbeats(latest, "metadata DB table job")


def heartbeats(base_url: str, *, db_fallback: bool = True) -> Heartbeats:
    """The health API, else (it does not answer) the metadata DB; raises when neither can be read."""
    try:
        return health_api(base_url)
    except (OSError, ValueError, urllib.error.URLError) as exc:
        if not db_fallback:
            raise
        api_error = short_error(exc)
    log.warning("health API at %s did not answer (%s): reading the metadata DB", base_url, api_error)
    try:
        found = metadata_db()
    except Exception as exc:
        raise RuntimeError(f"health API: {api_error}; metadata DB: {short_error(exc)}") from exc
    found.source += f" (health API did not answer: {api_error})"
    return found


def short_error(exc: BaseException) -> str:
    """`Type: first line` (SQLAlchemy appends the statement and a link on further lines)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def last_engine_tick(escalation) -> datetime | None:
    return escalation.last_successful_tick()


def newest_published_days(pipeline_ids) -> dict[str, date | None]:
    """Each pipeline's newest day in the warehouse's `pipeline_runs` (None: nothing published)."""
    from sqlalchemy import func, select

    from ..pipelines import warehouse as wh

    runs = wh.pipeline_runs
    with wh.get_engine().connect() as connection:
        rows = connection.execute(select(runs.c.pipeline_id, func.max(runs.c.date))
                                  .where(runs.c.status == "published").group_by(runs.c.pipeline_id)).all()
    newest = {pipeline_id: day for pipeline_id, day in rows}
    return {pipeline_id: _as_date(newest.get(pipeline_id)) for pipeline_id in pipeline_ids}


def _as_date(value) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value)[:10])

"""What the Health page shows (KPIs of a window, with charts) and the health state the On-call
page, the ownership matrix and the DAG tab show, cached in this process.

Both come from the KPI API (`techflow_ops.kpi`: `load_history` reads the real sources,
`compute_kpis` and the series compute) and the chart specs (`techflow_ops.charts`, drawn as SVG).
For 100 pipelines a 28-day window costs about a second to read, compute and draw; a year, a few
seconds. A page must answer within 200 ms, so results are cached:

- keyed on what was asked (the window, or "now"), the pipelines shown, the loaded registry and
  on-call schedule (both reload as new objects when their files change), and the ops DB's change
  marker: the newest id of `incidents`, `incident_events`, `outbox` and `quality_results`. Every
  incident change (opened, reported again, acknowledged, resolved, escalated, reassigned)
  appends a timeline event, every page an outbox row, every validation a result row, so what is
  recorded in the ops DB shows on the next request;
- for at most `CACHE_TTL_SECONDS`, for what the marker cannot see: DAG runs in Airflow's metadata
  DB, days published to the warehouse, shifts, and time passing (data turns stale at its due time).

Each API-server worker holds its own cache (`MAX_ENTRIES` windows at most).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import Callable

from markupsafe import Markup, escape

CACHE_TTL_SECONDS = 60.0
MAX_ENTRIES = 32
# "Now" for the health state: a day of history is enough, the KPI loader adds a week of DAG
# runs before it (the last run) and the newest published day and DQ result before it.
NOW_WINDOW = timedelta(days=1)


class TtlCache:
    """Values by key for `ttl` seconds, the `max_entries` most recently used. One computation
    per key at a time: the requests that arrive while it runs wait for its result instead of
    computing the same seconds-long thing again."""

    def __init__(self, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic):
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict = {}

    def get(self, key, compute: Callable[[], object]):
        with self._lock:
            hit = self._fresh(key)
            if hit is not None:
                return hit[0]
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                hit = self._fresh(key)  # computed by the request this one waited for
                if hit is not None:
                    return hit[0]
            try:
                value = compute()
            except BaseException:
                with self._lock:
                    self._computing.pop(key, None)
                raise  # a failure is not cached: the next request tries again
            with self._lock:
                self._entries[key] = (value, self.clock() + self.ttl)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
                self._computing.pop(key, None)
            return value

    def _fresh(self, key):
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self.clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_cache = TtlCache(CACHE_TTL_SECONDS, MAX_ENTRIES)


def clear_cache() -> None:
    _cache.clear()


def ops_marker() -> tuple:
    """The ops DB's change marker (module docstring): four primary-key maxima, one statement."""
    from sqlalchemy import func, select

    from .. import opsdb
    from ..opsdb.schema import incident_events, incidents, outbox
    from ..quality.tables import quality_results

    query = select(*(select(func.max(t.c.id)).scalar_subquery() for t in (incidents, incident_events, outbox, quality_results)))
    with opsdb.get_engine().connect() as connection:
        return tuple(connection.execute(query).one())


class _Same:
    """A key part equal only to the very same object (the registry and the schedule reload as
    new objects when their files change); holding it keeps its id from being reused."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other) -> bool:
        return isinstance(other, _Same) and other.obj is self.obj


def _config_key() -> tuple:
    from ..oncall import get_schedule_service
    from ..registry import get_registry

    return _Same(get_registry()), _Same(get_schedule_service())


def _registry_of(pipeline_ids: tuple[str, ...]):
    from ..registry import get_registry

    registry = get_registry()
    return replace(registry, pipelines={pid: registry.pipelines[pid] for pid in pipeline_ids})


def team_timezone():
    """The on-call rotation's time zone: whose whole days the Health page's window names, as
    `techflow-ops kpi` and the digests do."""
    from ..oncall import get_schedule_service

    return get_schedule_service().rotation.tz


# --- health now ----------------------------------------------------------------------------


def health_now() -> dict[str, dict]:
    """{pipeline_id: {"state", "reasons"}} for every pipeline, as of now (`kpi.pipeline_health`)."""
    from ..registry import get_registry

    pipeline_ids = tuple(sorted(get_registry().pipelines))
    return _cache.get(("now", pipeline_ids, _config_key(), ops_marker()), lambda: _compute_health_now(pipeline_ids))


def _compute_health_now(pipeline_ids: tuple[str, ...]) -> dict[str, dict]:
    from ..kpi import Window, compute_kpis, load_history

    registry = _registry_of(pipeline_ids)
    now = datetime.now(timezone.utc)
    # The window ends just after now: compute_kpis judges health at min(end, now) = now.
    window = Window(now - NOW_WINDOW, now + timedelta(seconds=1))
    kpis = compute_kpis(window, load_history(window, registry=registry), registry=registry, now=now)
    return {pipeline_id: k["health"] for pipeline_id, k in kpis["pipelines"].items()}


# --- the Health page -------------------------------------------------------------------------


def health_page(from_date: date, to_date: date, pipeline_ids: tuple[str, ...]) -> dict:
    """KPIs, series and charts of whole days `from_date`..`to_date` (the team's time zone) for
    `pipeline_ids`; the totals pool those pipelines only."""
    key = ("page", from_date, to_date, pipeline_ids, _config_key(), ops_marker())
    return _cache.get(key, lambda: _compute_health_page(from_date, to_date, pipeline_ids))


def _compute_health_page(from_date: date, to_date: date, pipeline_ids: tuple[str, ...]) -> dict:
    from .. import charts
    from ..kpi import Window, compute_kpis, daily_series, load_history, weekly_series
    from ..oncall import get_schedule_service

    registry = _registry_of(pipeline_ids)
    rotation = get_schedule_service().rotation
    window = Window.from_dates(from_date, to_date, rotation.tz)
    now = datetime.now(timezone.utc)
    history = load_history(window, registry=registry)
    kpis = compute_kpis(window, history, registry=registry, now=now)
    # In the order asked for (the ownership matrix's), not the KPI API's alphabetical one.
    kpis["pipelines"] = {pid: kpis["pipelines"][pid] for pid in pipeline_ids}
    daily = daily_series(window, history, registry=registry, now=now)
    daily = {pid: daily[pid] for pid in pipeline_ids}
    weekly = weekly_series(window, history, registry=registry)
    titles = {pid: p.title for pid, p in registry.pipelines.items()}
    names = {pid: p.name for pid, p in registry.people.items()}
    # The fairness target of the digests: the on-call hours of two people differ by one shift at most.
    target_hours = rotation.shift_length.total_seconds() / 3600
    period = f"{from_date.isoformat()} to {to_date.isoformat()}"
    specs = [
        charts.daily_grid(daily, titles),
        charts.weekly_response(weekly),
        charts.dq_pass_rate(kpis["pipelines"], titles),
        charts.oncall_load(kpis["people"], names, target_spread_hours=target_hours, period=period),
        charts.interruptions(kpis["people"], names),
    ]
    return {
        "from": from_date.isoformat(), "to": to_date.isoformat(), "timezone": rotation.tz.key,
        "computed_at": now.isoformat(), "kpis": kpis, "daily_series": daily, "weekly_series": weekly,
        "daily_summary": {pid: daily_summary(days) for pid, days in daily.items()},
        "titles": titles, "names": names,
        "charts": {spec.name: {"title": spec.title, "alt": spec.alt, "data": spec.data,
                               "svg": inline_svg(charts.render(spec, "svg"), spec.alt)} for spec in specs},
    }


def daily_summary(days: list[dict]) -> dict:
    """The daily grid's numbers for one pipeline (its table fallback): days with finished runs,
    those fully successful, the others with their success rate; days judged for freshness
    (begun), those fresh all day, and the stale ones (runs of days as ranges)."""
    with_runs = [d for d in days if d.get("success_rate") is not None]
    judged = [d for d in days if d.get("fresh") is not None]
    return {
        "days_with_runs": len(with_runs),
        "successful_days": sum(1 for d in with_runs if d["success_rate"] >= 1),
        "failed_days": [{"date": d["date"], "success_rate": d["success_rate"]} for d in with_runs if d["success_rate"] < 1],
        "judged_days": len(judged),
        "fresh_days": sum(1 for d in judged if d["fresh"]),
        "stale_days": day_ranges([d["date"] for d in judged if not d["fresh"]]),
    }


def day_ranges(days: list[str]) -> list[str]:
    """ISO days, consecutive ones as "first to last": a year of stale data is one line, not 365 dates."""
    ranges: list[list[date]] = []
    for day in sorted(date.fromisoformat(d) for d in days):
        if ranges and day - ranges[-1][1] == timedelta(days=1):
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return [a.isoformat() if a == b else f"{a.isoformat()} to {b.isoformat()}" for a, b in ranges]


_PROLOGUE = re.compile(r"\A\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?", re.IGNORECASE)


def inline_svg(document: bytes, alt: str) -> Markup:
    """matplotlib's SVG document as an element to put in a page: without its XML prologue and
    DOCTYPE, announced as one image with `alt` as its accessible name. matplotlib writes every
    text (names, titles) XML-escaped, so the drawing holds no markup of its own."""
    text = _PROLOGUE.sub("", document.decode("utf-8"), count=1)
    if not text.startswith("<svg"):
        raise ValueError(f"not an SVG document: {text[:40]!r}")
    return Markup(text.replace("<svg", Markup('<svg role="img" aria-label="{}"').format(escape(alt)), 1))

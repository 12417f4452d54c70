"""What the Health page shows (KPIs of a window, with charts) and the health state the On-call
page, the ownership matrix and the DAG tab show, cached in this process.

Both come from the KPI API (`techflow_ops.kpi`: `load_history` reads the real sources,
`compute_kpis` and the series compute) and the chart specs (`techflow_ops.charts`, drawn as SVG).
A page must answer within 200 ms, also the first one after an ops DB change (during an incident
storm every request may be one), so three things are cached:

- keyed on what was asked (the window, or "now"), the pipelines shown, the loaded registry and
  on-call schedule (both reload as new objects when their files change), and stamped with the
  ops DB's change marker (a page of another marker is computed again): the newest id of `incidents`, `incident_events`, `outbox` and `quality_results`. Every
  incident change (opened, reported again, acknowledged, resolved, escalated, reassigned)
  appends a timeline event, every page an outbox row, every validation a result row, so what is
  recorded in the ops DB shows on the next request;
- for at most `CACHE_TTL_SECONDS`, for what the marker cannot see: DAG runs in Airflow's metadata
  DB, days published to the warehouse, shifts, and time passing (data turns stale at its due time).
- The sources outside the ops DB (`kpi.sources.load_outside_ops`: DAG runs, published days,
  shifts, investor snapshots) per window, for `CACHE_TTL_SECONDS` too: a page computed after an
  ops DB change reads only the ops DB again. A page is stamped with the marker and the number of
  the load it was computed from, so no page outlives the minute of the sources it shows.
- Each chart's drawing (SVG), keyed on a hash of what it shows: a chart whose numbers did not
  change is not drawn again (matplotlib takes 50-300 ms a chart).

Each API-server worker holds its own caches (`MAX_ENTRIES` pages, `SOURCE_ENTRIES` windows of
sources, `SVG_ENTRIES` drawings at most). `warm_up` (started by the app) imports the KPI and
chart stack and draws once in the background, so the first request does not pay for it.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import logging
import pickle
import re
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Callable

from markupsafe import Markup, escape

CACHE_TTL_SECONDS = 60.0
MAX_ENTRIES = 32
# A year of 100 pipelines' runs, published days and shifts is ~15 MB in memory: keep a few windows.
SOURCE_ENTRIES = 8
SVG_ENTRIES = 64
log = logging.getLogger(__name__)
# "Now" for the health state: a day of history is enough, the KPI loader adds a week of DAG
# runs before it (the last run) and the newest published day and DQ result before it.
NOW_WINDOW = timedelta(days=1)


class TtlCache:
    """Values by key for `ttl` seconds, the `max_entries` most recently used. One computation
    per key at a time: the requests that arrive while it runs wait for its result instead of
    computing the same seconds-long thing again.

    `stamp` is what the value was computed from (the ops DB's marker): a value of another stamp
    is no hit and is replaced, so a window keeps one entry however often the ops DB changes
    (an incident storm left up to `max_entries` dead pages of one window behind, tens of
    thousands of objects each for the garbage collector to walk)."""

    def __init__(self, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic):
        self.ttl, self.max_entries, self.clock = ttl, max_entries, clock
        self._entries: OrderedDict = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict = {}

    def get(self, key, compute: Callable[[], object], stamp=None):
        with self._lock:
            hit = self._fresh(key, stamp)
            if hit is not None:
                return hit[0]
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                hit = self._fresh(key, stamp)  # computed by the request this one waited for
                if hit is not None:
                    return hit[0]
            try:
                value = compute()
            except BaseException:
                with self._lock:
                    self._computing.pop(key, None)
                raise  # a failure is not cached: the next request tries again
            with self._lock:
                self._entries[key] = (value, self.clock() + self.ttl, stamp)
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
                self._computing.pop(key, None)
            return value

    def _fresh(self, key, stamp=None):
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] <= self.clock() or entry[2] != stamp:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_cache = TtlCache(CACHE_TTL_SECONDS, MAX_ENTRIES)
_sources = TtlCache(CACHE_TTL_SECONDS, SOURCE_ENTRIES)
_load_numbers = itertools.count(1)


class _Drawings:
    """SVG drawings by the hash of what they show, the `max_entries` most recently used."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Markup] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, draw: Callable[[], Markup]) -> Markup:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = draw()  # two requests may draw the same chart at once: the same SVG, kept once
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_drawings = _Drawings(SVG_ENTRIES)


def clear_cache() -> None:
    _cache.clear()
    _sources.clear()
    _drawings.clear()


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
    return _cache.get(("now", pipeline_ids, _config_key()), lambda: _compute_health_now(pipeline_ids), stamp=ops_marker())


def _compute_health_now(pipeline_ids: tuple[str, ...]) -> dict[str, dict]:
    from ..kpi import Window, compute_kpis, load_history

    registry = _registry_of(pipeline_ids)
    now = datetime.now(timezone.utc)
    # The window ends just after now: compute_kpis judges health at min(end, now) = now.
    window = Window(now - NOW_WINDOW, now + timedelta(seconds=1))
    kpis = compute_kpis(window, load_history(window, registry=registry), registry=registry, now=now)
    return {pipeline_id: k["health"] for pipeline_id, k in kpis["pipelines"].items()}


# --- the Health page -------------------------------------------------------------------------


@dataclass(frozen=True)
class _OutsideOps:
    """One load of the sources the ops DB marker cannot see, numbered: the pages computed from
    it are keyed on its number."""

    number: int
    history: object  # kpi.History without the ops DB's part
    # `kpi.daily_series` reads only these sources (runs, published days) and the window's
    # observed end min(end, now): the newest one, by that end. A past window's is computed once
    # a minute; today's again on each page, as its end moves with now.
    daily: dict = field(default_factory=dict)


def health_page(from_date: date, to_date: date, pipeline_ids: tuple[str, ...]) -> dict:
    """KPIs, series and charts of whole days `from_date`..`to_date` (the team's time zone) for
    `pipeline_ids`; the totals pool those pipelines only."""
    config = _config_key()
    outside = _sources.get(("outside", from_date, to_date, pipeline_ids, config),
                           lambda: _load_outside_ops(from_date, to_date, pipeline_ids))
    def compute() -> dict:
        with _no_cycle_collection():
            return _compute_health_page(from_date, to_date, pipeline_ids, outside)

    return _cache.get(("page", from_date, to_date, pipeline_ids, config), compute, stamp=(ops_marker(), outside.number))


@contextmanager
def _no_cycle_collection():
    """The garbage collector's cycle detection off while a page is computed: its tens of
    thousands of short-lived objects (rows, records, KPI dicts, matplotlib artists) set off a
    full collection every other computation, 25-40 ms spent walking the cached pages and sources
    in the middle of a request that has 200 ms. Reference counting still frees everything not in
    a cycle; the collections resume, from the allocations made outside these sections, after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _window(from_date: date, to_date: date):
    from ..kpi import Window

    return Window.from_dates(from_date, to_date, team_timezone())


def _load_outside_ops(from_date: date, to_date: date, pipeline_ids: tuple[str, ...]) -> _OutsideOps:
    from ..kpi.sources import load_outside_ops

    history = load_outside_ops(_window(from_date, to_date), registry=_registry_of(pipeline_ids))
    return _OutsideOps(next(_load_numbers), history)


def _compute_health_page(from_date: date, to_date: date, pipeline_ids: tuple[str, ...],
                         outside: _OutsideOps | None = None) -> dict:
    """The page's data; `outside` is `kpi.sources.load_outside_ops` of the window (read here when not given)."""
    from .. import charts
    from ..kpi import compute_kpis, daily_series, weekly_series
    from ..kpi.sources import load_outside_ops, with_ops
    from ..oncall import get_schedule_service

    registry = _registry_of(pipeline_ids)
    rotation = get_schedule_service().rotation
    window = _window(from_date, to_date)
    now = datetime.now(timezone.utc)
    if outside is None:
        outside = _OutsideOps(0, load_outside_ops(window, registry=registry))
    history = with_ops(outside.history, window)
    kpis = compute_kpis(window, history, registry=registry, now=now)
    # In the order asked for (the ownership matrix's), not the KPI API's alphabetical one.
    kpis["pipelines"] = {pid: kpis["pipelines"][pid] for pid in pipeline_ids}
    observed_end = max(window.start, min(window.end, now))
    daily = outside.daily.get(observed_end)
    if daily is None:
        daily = daily_series(window, history, registry=registry, now=now)
        daily = {pid: daily[pid] for pid in pipeline_ids}
        outside.daily.clear()
        outside.daily[observed_end] = daily
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
        "charts": {spec.name: {"title": spec.title, "alt": spec.alt, "data": spec.data, "svg": chart_svg(spec)}
                   for spec in specs},
    }


def chart_svg(spec) -> Markup:
    """The chart drawn as inline SVG (`inline_svg`), drawn again only when what it shows changed."""
    from .. import charts

    shown = pickle.dumps((spec.kind, spec.title, spec.alt, spec.height_px, spec.data), protocol=pickle.HIGHEST_PROTOCOL)
    key = hashlib.blake2b(shown, digest_size=20).hexdigest()
    return _drawings.get(key, lambda: inline_svg(charts.render(spec, "svg"), spec.alt))


def warm_up(freeze_heap: bool = False) -> None:
    """Import the KPI sources and matplotlib and draw one small chart (font cache, SVG backend),
    as the first Health page would: 0.5-1.5 s a worker pays once, here instead of in a request.
    Run in a daemon thread when the app is made; a failure only costs that head start.

    `freeze_heap` then moves every object alive (the API server's ~700,000: Airflow, FastAPI,
    SQLAlchemy, matplotlib, all made at start-up and kept for the process's life) out of the
    garbage collector's sight (`gc.freeze`): a full collection had to walk them all, a
    ~360 ms stall that an uncached page's allocations set off every few requests."""
    try:
        from .. import charts
        from ..kpi import sources  # noqa: F401 - imported for its import cost

        charts.render(charts.weekly_response([{"week_start": "2026-01-05", "mtta_median": 60.0, "mttr_median": 3600.0,
                                               "incidents": 1}]), "svg")
    except Exception:  # a head start, never a reason to fail
        log.warning("health: warm-up failed; the first Health page pays for its imports", exc_info=True)
    if freeze_heap:
        gc.collect()  # what start-up left as garbage goes first: frozen, it would stay for ever
        gc.freeze()


def start_warm_up() -> threading.Thread:
    """`warm_up` with the heap frozen, in a daemon thread (the API server's, once per worker)."""
    thread = threading.Thread(target=warm_up, kwargs={"freeze_heap": True}, name="techflow-health-warm-up", daemon=True)
    thread.start()
    return thread


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

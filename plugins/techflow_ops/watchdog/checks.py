"""What the watchdog concludes from what its probes saw: pure Python, no Airflow, no database,
no clock (every function takes the instant `now`), so the definitions are tested as plain values.

Statuses: `ok`, `stale` (pages, unless held back, see `CheckResult.page`) and `unknown` (the
probe could not tell: logged, never pages, never resolves).

Stale data (README "Watchdog"). A daily pipeline's data for day D is due at the end of D
(midnight UTC at the start of D+1) plus the pipeline's `freshness_sla`: the Deadline Alert
`DAGRUN_QUEUED_AT + freshness_sla` of the run queued when D ends. At instant T a pipeline is
stale when the day after its newest published day is already due, i.e.
    T >= end_of_day(newest + 1) + freshness_sla  <=>  T - end_of_day(newest) >= 1 day + freshness_sla,
so the check's age is T - end_of_day(newest) and its threshold 1 day + freshness_sla. A pipeline
that never published is stale once the first day that could have run after the deployment was
first seen (the watchdog's first check, `first_seen`) is due: end_of_day(first_seen's date) +
freshness_sla; a brand-new install is never paged before anything could have run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone

OK, STALE, UNKNOWN = "ok", "stale", "unknown"
PLATFORM, DATA = "platform", "data"
SCHEDULER, TRIGGERER, ENGINE = "scheduler", "triggerer", "escalation_engine"
PLATFORM_CHECKS = (SCHEDULER, TRIGGERER, ENGINE)


@dataclass
class CheckResult:
    name: str  # scheduler | triggerer | escalation_engine | stale_data:<pipeline>
    kind: str  # platform | data
    status: str  # ok | stale | unknown
    age: timedelta | None
    threshold: timedelta | None
    detail: str
    pipeline_id: str | None = None  # data checks
    page: bool = True  # False: stale, but held back (start-up grace, or caused by another check)
    incident_id: int | None = None  # the open incident of this check (opened now or before)
    opened: bool = False  # this check opened (and paged) it now
    resolved_incident_id: int | None = None  # resolved now, on recovery
    facts: dict = field(default_factory=dict)  # what the probe saw (heartbeat instants, newest day, source)
    tick: dict | None = None  # escalation_engine: the tick the watchdog ran on the stale engine's behalf (TickReport)

    @property
    def dedup_key(self) -> str:
        """One incident (and one page) per outage of this check."""
        return f"watchdog:{self.name}"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["age_seconds"] = None if self.age is None else round(self.age.total_seconds(), 1)
        data["threshold_seconds"] = None if self.threshold is None else round(self.threshold.total_seconds(), 1)
        del data["age"], data["threshold"]
        data["dedup_key"] = self.dedup_key
        data["facts"] = {k: (v.isoformat() if isinstance(v, (datetime, date)) else v) for k, v in self.facts.items()}
        return data


def end_of_day(day: date) -> datetime:
    """Midnight UTC at the start of the next day: when a daily run for `day` is queued."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=timezone.utc)


def due_at(day: date, freshness_sla: timedelta) -> datetime:
    """When data for `day` must be published at the latest."""
    return end_of_day(day) + freshness_sla


def freshness(pipeline_id: str, newest: date | None, *, now: datetime, freshness_sla: timedelta,
              first_seen: datetime) -> CheckResult:
    """The stale-data check of one pipeline (see the module docstring)."""
    name = f"stale_data:{pipeline_id}"
    threshold = timedelta(days=1) + freshness_sla
    facts = {"newest_published_day": newest, "freshness_sla_seconds": freshness_sla.total_seconds()}
    if newest is None:
        first_due_day = first_seen.astimezone(timezone.utc).date()
        due = due_at(first_due_day, freshness_sla)
        facts.update(first_seen=first_seen, first_due_day=first_due_day, due_at=due)
        if now >= due:
            return CheckResult(name, DATA, STALE, None, threshold,
                               f"nothing ever published; data for {first_due_day} (the first day after this "
                               f"deployment was first seen) was due at {due.isoformat()}", pipeline_id, facts=facts)
        return CheckResult(name, DATA, OK, None, threshold,
                           f"nothing published yet; the first day ({first_due_day}) is due at {due.isoformat()}",
                           pipeline_id, facts=facts)
    age = now - end_of_day(newest)
    next_day = newest + timedelta(days=1)
    due = due_at(next_day, freshness_sla)
    facts.update(due_at=due)
    if now >= due:
        return CheckResult(name, DATA, STALE, age, threshold,
                           f"newest published day {newest}; data for {next_day} was due at {due.isoformat()}",
                           pipeline_id, facts=facts)
    return CheckResult(name, DATA, OK, age, threshold,
                       f"newest published day {newest}; data for {next_day} is due at {due.isoformat()}",
                       pipeline_id, facts=facts)


def heartbeat(name: str, latest: datetime | None, *, now: datetime, threshold: timedelta, source: str,
              error: str | None = None) -> CheckResult:
    """A scheduler or triggerer: stale when its newest heartbeat is older than `threshold` (or
    none was ever recorded); unknown when the probe could not read it (`error`)."""
    facts = {"latest_heartbeat": latest, "source": source}
    if error is not None:
        return CheckResult(name, PLATFORM, UNKNOWN, None, threshold, f"could not read the heartbeat: {error}", facts=facts)
    if latest is None:
        return CheckResult(name, PLATFORM, STALE, None, threshold, f"no {name} heartbeat was ever recorded ({source})",
                           facts=facts)
    age = now - latest
    if age > threshold:
        return CheckResult(name, PLATFORM, STALE, age, threshold,
                           f"last {name} heartbeat {latest.isoformat()} ({_seconds(age)} ago; {source})", facts=facts)
    return CheckResult(name, PLATFORM, OK, age, threshold, f"heartbeat {_seconds(age)} ago ({source})", facts=facts)


def engine(last_tick: datetime | None, *, now: datetime, threshold: timedelta, since: datetime,
           error: str | None = None) -> CheckResult:
    """The escalation engine: stale when its last successful tick, or `since` (when watching
    began: a fresh deployment or a restarted watchdog gives a stopped engine that long to tick)
    if later, is older than `threshold`."""
    facts = {"last_successful_tick": last_tick}
    if error is not None:
        return CheckResult(ENGINE, PLATFORM, UNKNOWN, None, threshold, f"could not read the last tick: {error}", facts=facts)
    age = None if last_tick is None else now - last_tick
    reference = since if last_tick is None else max(last_tick, since)
    if now - reference > threshold:
        what = "never ticked" if last_tick is None else f"last successful tick {last_tick.isoformat()} ({_seconds(age)} ago)"
        return CheckResult(ENGINE, PLATFORM, STALE, age, threshold,
                           f"escalation engine {what}: DAG techflow_escalation_engine is not running", facts=facts)
    what = "no tick yet" if last_tick is None else f"last successful tick {_seconds(age)} ago"
    return CheckResult(ENGINE, PLATFORM, OK, age, threshold, what, facts=facts)


def hold_back(results: list[CheckResult], *, now: datetime, grace_until: datetime | None) -> list[CheckResult]:
    """Mark stale results that must not page: platform checks during the start-up grace, and the
    escalation engine while the scheduler is stale (it cannot tick without one: one outage, one
    page). Held-back results stay `stale` in the report."""
    by_name = {r.name: r for r in results}
    scheduler = by_name.get(SCHEDULER)
    for result in results:
        if result.status != STALE:
            continue
        if result.kind == PLATFORM and grace_until is not None and now < grace_until:
            result.page = False
            result.detail += f" [start-up grace until {grace_until.isoformat()}: not paged]"
        elif result.name == ENGINE and scheduler is not None and scheduler.status == STALE:
            result.page = False
            result.detail += " [caused by the scheduler outage: paged as watchdog:scheduler]"
    return results


@dataclass(frozen=True)
class Action:
    """What to do about one check's incident: `open` (and page), `resolve`, or `none`."""

    kind: str
    incident_id: int | None = None


def decide(result: CheckResult, open_incident_id: int | None) -> Action:
    """Dedup and recovery: a stale check opens an incident only when it has none unresolved (one
    incident, one page per outage); an ok check resolves the one it has; unknown changes nothing."""
    if result.status == STALE and result.page and open_incident_id is None:
        return Action("open")
    if result.status == OK and open_incident_id is not None:
        return Action("resolve", open_incident_id)
    return Action("none", open_incident_id)


def exit_code(results: list[CheckResult]) -> int:
    """1 when any check is stale, else 0 (an unknown check is reported, not failed)."""
    return 1 if any(r.status == STALE for r in results) else 0


def _seconds(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    if abs(seconds) < 120:
        return f"{seconds}s"
    if abs(seconds) < 7200:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if abs(seconds) < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"


def format_table(results: list[CheckResult]) -> str:
    rows = [("check", "status", "age", "threshold", "incident", "detail")]
    for r in results:
        incident = "-" if r.incident_id is None else f"#{r.incident_id}" + (" (opened)" if r.opened else "")
        if r.resolved_incident_id is not None:
            incident = f"#{r.resolved_incident_id} resolved"
        rows.append((r.name, r.status, _seconds(r.age), _seconds(r.threshold), incident, r.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:5])) + "  " + row[5] for row in rows)

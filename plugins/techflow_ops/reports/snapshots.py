"""Frozen investor (monthly) and executive (weekly) snapshots, their Business Analytics
sign-off, and each period's readiness: complete, validated, signed off.

`investor_monthly` and `executive_weekly` are rebuilt by every daily executive_investor
run. When a run publishes the last day of a month (investors) or a Sunday (executives),
`freeze_due` copies that period's row into `investor_monthly_snapshots` /
`executive_weekly_snapshots` as the next version, with:
- the upstream coverage: `profit_days`, `growth_days`, `engagement_days` against
  `days_in_period` (`complete` when all three cover every day) and the upstream runs
  (`pipeline_runs`) of the period it was built from;
- the data-quality result of exactly that build: the newest validation of the dataset's
  partition, when its run id is the row's run id (else `not_validated`).
A re-run of a period that is already frozen adds a version, never rewrites one: at the
period's last day always, on an earlier day only when the figures changed.

Sign-off (`sign_off`) is recorded against the latest version by a member of the business
owner team of the pipeline that builds the report (Business Analytics), and refused for a
snapshot whose build failed or missed its data-quality validation.

SQLAlchemy Core only: the same statements on SQLite and PostgreSQL.
"""

from __future__ import annotations

import calendar
import json
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ..pipelines import warehouse as wh
from ..registry import Pipeline, Registry, get_registry

log = logging.getLogger(__name__)

CADENCES = ("monthly", "weekly")
#: upstream pipeline -> the aggregate's column counting the days it covered
COVERAGE_COLUMNS = {"profit": "profit_days", "growth": "growth_days", "engagement": "engagement_days"}
VALIDATED = ("passed", "warned")  # no critical check failed
NOT_VALIDATED = "not_validated"
_FREEZE_ATTEMPTS = 3


class ReportsError(ValueError):
    """A refused request, naming the input field and value it is about."""

    def __init__(self, field: str, value, message: str):
        super().__init__(f"{field} {value!r}: {message}")
        self.field, self.value, self.message = field, value, message


# --- periods and reports -------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    cadence: str  # monthly | weekly
    start: date  # first of the month, or the Monday

    @classmethod
    def covering(cls, cadence: str, day: date) -> "Period":
        if cadence == "monthly":
            return cls(cadence, day.replace(day=1))
        return cls(cadence, day - timedelta(days=day.weekday()))

    @classmethod
    def parse(cls, cadence: str, text: str) -> "Period":
        """`2026-11` for a month; for a week its Monday `2026-11-23` (like `week_start`) or the ISO
        week `2026-W48`."""
        if cadence == "monthly":
            try:
                return cls(cadence, datetime.strptime(text, "%Y-%m").date())
            except ValueError:
                raise ReportsError("period", text, "not a month; monthly periods are YYYY-MM, e.g. 2026-11") from None
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise ReportsError("period", text, "not a date; weekly periods are the week's Monday, YYYY-MM-DD "
                                               "(e.g. 2026-11-23), or the ISO week (2026-W48)") from None
        if day.weekday() != 0:
            monday = day - timedelta(days=day.weekday())
            raise ReportsError("period", text, f"is a {day:%A}; a week is named by its Monday ({monday.isoformat()} "
                                               f"for this one)")
        return cls(cadence, day)

    @property
    def days(self) -> int:
        if self.cadence == "monthly":
            return calendar.monthrange(self.start.year, self.start.month)[1]
        return 7

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    @property
    def key(self) -> str:
        """As the quality results name the partition: `2026-11` or `2026-11-23`."""
        return self.start.strftime("%Y-%m") if self.cadence == "monthly" else self.start.isoformat()

    def previous(self) -> "Period":
        return Period.covering(self.cadence, self.start - timedelta(days=1))


@dataclass(frozen=True)
class Report:
    cadence: str
    name: str  # the aggregate table, also the quality dataset
    audience: str

    @property
    def table(self):
        return wh.OUTPUTS[self.name][0]

    @property
    def column(self) -> str:
        return wh.OUTPUTS[self.name][1]

    @property
    def snapshots(self):
        return wh.SNAPSHOTS[self.name][0]

    def producer(self, registry: Registry) -> Pipeline:
        """The registry pipeline that builds this report (its business team signs it off)."""
        for pipeline in registry.pipelines.values():
            if any(output.table == self.name for output in pipeline.outputs):
                return pipeline
        raise LookupError(f"no pipeline in {registry.config_dir} lists {self.name!r} among its outputs")


REPORTS: dict[str, Report] = {
    "monthly": Report("monthly", "investor_monthly", "investors"),
    "weekly": Report("weekly", "executive_weekly", "executives"),
}


def report_for(cadence: str) -> Report:
    if cadence not in REPORTS:
        raise ReportsError("report", cadence, f"unknown report (known: {', '.join(REPORTS)})")
    return REPORTS[cadence]


# --- data-quality results of a build ---------------------------------------------------------

@dataclass(frozen=True)
class Validation:
    """The newest validation of one dataset partition, as the quality area recorded it."""

    status: str  # passed | warned | failed
    run_id: str
    result_id: int | None
    validated_at: datetime | None
    failed_checks: tuple[dict, ...] = ()


DqLookup = Callable[[str, str], "Validation | None"]


def latest_validation(dataset: str, partition_key: str) -> Validation | None:
    """From the ops DB's `quality_results` (imported here: the DAG-parse path never needs it)."""
    from ..quality.results import compact, latest

    found = latest(dataset=dataset, partition_key=partition_key)
    if not found:
        return None
    result = found[0]
    return Validation(result.status, result.run_id, result.id, result.validated_at, tuple(
        {"check": o.check, "severity": o.severity, "observed": compact(o.observed)} for o in result.failed))


def _naive_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


# --- building a snapshot row -----------------------------------------------------------------

def _metric_columns(report: Report) -> list[str]:
    """The aggregate's figures (what a snapshot freezes), without its key and run id."""
    return [c.name for c in report.table.columns if c.name not in (report.column, "run_id")]


def _coverage(row, period: Period) -> tuple[dict[str, int], bool]:
    coverage = {upstream: int(row[column] or 0) for upstream, column in COVERAGE_COLUMNS.items()}
    return coverage, all(days >= period.days for days in coverage.values())


def _upstream_runs(conn: Connection, upstream: list[str], period: Period) -> list[dict]:
    runs = wh.pipeline_runs
    query = (select(runs.c.pipeline_id, runs.c.date, runs.c.run_id, runs.c.finished_at)
             .where(runs.c.pipeline_id.in_(upstream), runs.c.date >= period.start, runs.c.date <= period.end)
             .order_by(runs.c.pipeline_id, runs.c.date))
    return [{"pipeline_id": r.pipeline_id, "date": r.date.isoformat(), "run_id": r.run_id,
             "finished_at": r.finished_at.isoformat() if r.finished_at else None} for r in conn.execute(query)]


def _dq_of_build(report: Report, period: Period, build_run_id: str, dq_lookup: DqLookup) -> dict:
    validation = dq_lookup(report.name, period.key)
    # A validation of an earlier build (or a later manual one) says nothing about these figures.
    if validation is None or validation.run_id != build_run_id:
        return {"dq_status": NOT_VALIDATED, "dq_result_id": None, "dq_validated_at": None, "dq_failed_checks": "[]"}
    return {"dq_status": validation.status, "dq_result_id": validation.result_id,
            "dq_validated_at": _naive_utc(validation.validated_at),
            "dq_failed_checks": json.dumps(list(validation.failed_checks), default=str)}


def _current_state(conn: Connection, report: Report, period: Period, registry: Registry,
                   dq_lookup: DqLookup) -> dict | None:
    """What a snapshot of the period would hold now; None when nothing was built for it."""
    row = conn.execute(select(report.table).where(report.table.c[report.column] == period.start)).mappings().first()
    if row is None:
        return None
    _, complete = _coverage(row, period)
    producer = report.producer(registry)
    return {
        **{name: row[name] for name in _metric_columns(report)},
        report.column: period.start,
        "run_id": row["run_id"],
        "days_in_period": period.days,
        "complete": complete,
        **_dq_of_build(report, period, row["run_id"], dq_lookup),
        "upstream_runs": json.dumps(_upstream_runs(conn, list(producer.upstream), period)),
    }


def _latest_snapshot(conn: Connection, report: Report, period: Period):
    table = report.snapshots
    return conn.execute(select(table).where(table.c[report.column] == period.start)
                        .order_by(table.c.version.desc()).limit(1)).mappings().first()


def _same_figures(report: Report, snapshot, state: dict) -> bool:
    return all(snapshot[name] == state[name] for name in _metric_columns(report))


# --- freezing --------------------------------------------------------------------------------

def freeze(engine: Engine, report: Report, period: Period, run_id: str, *, only_if_changed: bool = False,
           registry: Registry | None = None, dq_lookup: DqLookup | None = None,
           now: datetime | None = None) -> dict | None:
    """Insert the period's current row as its next snapshot version; the new snapshot, or None
    when nothing was built for the period (or, with `only_if_changed`, when the latest version
    already holds the same figures, or there is none)."""
    registry = registry or get_registry()
    with engine.connect() as conn:
        if only_if_changed and _latest_snapshot(conn, report, period) is None:
            return None  # most days: nothing frozen yet, so no data-quality lookup either
        state = _current_state(conn, report, period, registry, dq_lookup or latest_validation)
    if state is None:
        return None
    frozen_at = _naive_utc(now) or _now()
    for attempt in range(_FREEZE_ATTEMPTS):
        try:
            with engine.begin() as conn:
                latest = _latest_snapshot(conn, report, period)
                if only_if_changed and (latest is None or _same_figures(report, latest, state)):
                    return None
                version = (latest["version"] if latest else 0) + 1
                conn.execute(insert(report.snapshots).values(
                    **state, version=version, frozen_at=frozen_at, frozen_by_run_id=run_id))
            break
        except IntegrityError:
            # Another run took this version number first; the next attempt takes the one after.
            if attempt == _FREEZE_ATTEMPTS - 1:
                raise
    snapshot = snapshot_json(report, period, {**state, "version": version, "frozen_at": frozen_at,
                                              "frozen_by_run_id": run_id})
    log.info("froze %s %s as version %d (complete: %s, data quality: %s)", report.name, period.key, version,
             snapshot["complete"], snapshot["dq_status"])
    return snapshot


def freeze_due(engine: Engine, pipeline_id: str, day: date, run_id: str, *, registry: Registry | None = None,
               dq_lookup: DqLookup | None = None, now: datetime | None = None) -> list[dict]:
    """Called when `pipeline_id` published `day`: freeze each of its reports whose period ends
    on `day`, or whose already frozen period this re-run changed. The snapshots written."""
    registry = registry or get_registry()
    frozen = []
    for report in REPORTS.values():
        if report.producer(registry).id != pipeline_id:
            continue
        period = Period.covering(report.cadence, day)
        snapshot = freeze(engine, report, period, run_id, only_if_changed=day != period.end, registry=registry,
                          dq_lookup=dq_lookup, now=now)
        if snapshot is not None:
            frozen.append(snapshot)
    return frozen


def snapshot_json(report: Report, period: Period, row) -> dict:
    coverage, _ = _coverage(row, period)
    return {
        "report": report.name, "cadence": report.cadence, "period": period.key, "version": row["version"],
        "frozen_at": row["frozen_at"].isoformat(), "frozen_by_run_id": row["frozen_by_run_id"],
        "built_by_run_id": row["run_id"], "days_in_period": period.days, "coverage": coverage,
        "complete": bool(row["complete"]), "dq_status": row["dq_status"],
        "dq_result_id": row["dq_result_id"], "dq_failed_checks": json.loads(row["dq_failed_checks"] or "[]"),
        "upstream_runs": json.loads(row["upstream_runs"] or "[]"),
        "figures": {name: row[name] for name in _metric_columns(report)},
    }


def versions(engine: Engine, report: Report, period: Period) -> list[dict]:
    """Every frozen version of the period, oldest first."""
    table = report.snapshots
    with engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c[report.column] == period.start).order_by(table.c.version))
        return [snapshot_json(report, period, row) for row in rows.mappings()]


# --- sign-off --------------------------------------------------------------------------------

def _signoff(conn: Connection, report: Report, period: Period, version: int):
    s = wh.report_signoffs
    return conn.execute(select(s).where(s.c.report == report.name, s.c.period_start == period.start,
                                        s.c.version == version)).mappings().first()


def _signoff_json(registry: Registry, row) -> dict | None:
    if row is None:
        return None
    person = registry.people.get(row["signed_by"])
    return {"by": row["signed_by"], "name": person.name if person else row["signed_by"], "team": row["team_id"],
            "at": row["signed_at"].isoformat(), "version": row["version"]}


def _check_signer(registry: Registry, report: Report, user: str):
    team = registry.team(report.producer(registry).business_owner_team)
    if user not in registry.people:
        raise ReportsError("user", user, f"is not a person in {registry.config_dir / 'people.yaml'}")
    if user not in team.members and user != team.lead:
        raise ReportsError("user", user, f"is not in the {team.name} team, which signs off {report.name} "
                                         f"(members: {', '.join(team.members)})")
    return team


def sign_off(engine: Engine, cadence: str, period_text: str, user: str, *, registry: Registry | None = None,
             now: datetime | None = None) -> dict:
    """Record `user`'s sign-off of the latest snapshot version of the period. Raises
    ReportsError naming the field (report, period, user, snapshot) and value it refuses.
    Signing a version that is already signed off changes nothing (`already_signed_off`)."""
    registry = registry or get_registry()
    report = report_for(cadence)
    period = Period.parse(cadence, period_text)
    team = _check_signer(registry, report, user)
    with engine.begin() as conn:
        latest = _latest_snapshot(conn, report, period)
        if latest is None:
            raise ReportsError("period", period_text, f"no {report.name} snapshot is frozen for this period (it is "
                                                      f"frozen when executive_investor publishes {period.end.isoformat()})")
        snapshot = snapshot_json(report, period, latest)
        label = f"{report.name} {period.key} version {latest['version']}"
        if latest["dq_status"] == "failed":
            checks = ", ".join(c["check"] for c in snapshot["dq_failed_checks"]) or "see techflow-ops dq report"
            raise ReportsError("snapshot", label, f"failed its data-quality checks ({checks}); it cannot be signed "
                                                  f"off: fix the data and re-run executive_investor for "
                                                  f"{period.end.isoformat()}, which freezes a new version")
        if latest["dq_status"] not in VALIDATED:
            raise ReportsError("snapshot", label, "was frozen without a data-quality validation of its build; "
                                                  "re-run the executive_investor DAG for "
                                                  f"{period.end.isoformat()} (it validates before it freezes)")
        existing = _signoff(conn, report, period, latest["version"])
        already_signed_off = existing is not None
        if not already_signed_off:
            conn.execute(insert(wh.report_signoffs).values(
                report=report.name, period_start=period.start, version=latest["version"], signed_by=user,
                team_id=team.id, signed_at=_naive_utc(now) or _now()))
            existing = _signoff(conn, report, period, latest["version"])
    return {"snapshot": snapshot, "signed_off": _signoff_json(registry, existing),
            "already_signed_off": already_signed_off}


# --- readiness -------------------------------------------------------------------------------

def period_readiness(engine: Engine, report: Report, period: Period, today: date, *,
                     registry: Registry | None = None, dq_lookup: DqLookup | None = None) -> dict:
    """Complete, validated, signed off: from the latest snapshot when the period is frozen,
    else from the aggregate as it stands (nothing is frozen until the period's last day)."""
    registry = registry or get_registry()
    base = {"report": report.name, "cadence": report.cadence, "audience": report.audience, "period": period.key,
            "start": period.start.isoformat(), "end": period.end.isoformat(), "days_in_period": period.days,
            "ended": today > period.end}
    with engine.connect() as conn:
        latest = _latest_snapshot(conn, report, period)
        count = conn.execute(select(func.count()).select_from(report.snapshots)
                             .where(report.snapshots.c[report.column] == period.start)).scalar_one()
        signed = _signoff(conn, report, period, latest["version"]) if latest is not None else None
        state = None if latest is not None else _current_state(conn, report, period, registry,
                                                                 dq_lookup or latest_validation)
    row = latest if latest is not None else state
    if row is None:
        return {**base, "frozen": False, "built": False, "version": None, "versions": 0, "frozen_at": None,
                "coverage": None, "complete": False, "dq_status": None, "validated": False, "signed_off": None,
                "ready": False}
    coverage, complete = _coverage(row, period)
    validated = row["dq_status"] in VALIDATED
    signed_off = _signoff_json(registry, signed)
    return {
        **base, "frozen": latest is not None, "built": True,
        "version": latest["version"] if latest is not None else None, "versions": count,
        "frozen_at": latest["frozen_at"].isoformat() if latest is not None else None,
        "coverage": coverage, "complete": complete, "dq_status": row["dq_status"], "validated": validated,
        "signed_off": signed_off, "ready": latest is not None and complete and validated and signed_off is not None,
    }


def recent_periods(today: date) -> list[tuple[Report, Period]]:
    """The current and the previous month and week."""
    pairs = []
    for report in REPORTS.values():
        current = Period.covering(report.cadence, today)
        pairs += [(report, current), (report, current.previous())]
    return pairs


def readiness(engine: Engine, today: date, *, registry: Registry | None = None,
              dq_lookup: DqLookup | None = None) -> list[dict]:
    """The current and previous month (investors) and week (executives), newest first per report."""
    registry = registry or get_registry()
    return [period_readiness(engine, report, period, today, registry=registry, dq_lookup=dq_lookup)
            for report, period in recent_periods(today)]


def status(engine: Engine, today: date, *, registry: Registry | None = None,
           dq_lookup: DqLookup | None = None) -> list[dict]:
    """`readiness` plus every other period that has a frozen snapshot, newest first per report."""
    registry = registry or get_registry()
    pairs = set(recent_periods(today))
    with engine.connect() as conn:
        for report in REPORTS.values():
            column = report.snapshots.c[report.column]
            pairs |= {(report, Period(report.cadence, start)) for start in conn.execute(select(column).distinct()).scalars()}
    ordered = sorted(pairs, key=lambda pair: (CADENCES.index(pair[0].cadence), -pair[1].start.toordinal()))
    return [period_readiness(engine, report, period, today, registry=registry, dq_lookup=dq_lookup)
            for report, period in ordered]

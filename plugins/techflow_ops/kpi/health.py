"""One health state per pipeline: `healthy`, `warning`, `degraded` or `unknown`.

The state is the worst of four signals, each judged on its own (README "KPIs and health"):

1. the last DAG run (the newest queued before `now`):
   none -> unknown ("no run yet"); failed -> degraded; success, queued or running -> healthy,
   except a queued or running run older than the freshness SLA -> warning (it cannot publish
   on time any more); any other state -> unknown.
2. freshness against the SLA, the watchdog's definition (`watchdog.checks`): the data of day D
   is due at the end of D (midnight UTC) plus `freshness_sla`. With `newest` the newest
   published day, the data is stale once the day after it is due:
   `now >= end_of_day(newest + 1 day) + sla` -> degraded; fresh -> healthy; nothing published
   -> unknown.
3. the latest DQ result of each of the pipeline's datasets: any failed (a critical check
   failed) -> degraded; any warned (only warning checks failed) -> warning; all passed ->
   healthy. No result at all says nothing (a pipeline without suites is not penalised).
4. open incidents by severity: any critical or major -> degraded; any minor or notice ->
   warning; none -> healthy.

Order, best to worst: healthy < unknown < warning < degraded. `unknown` ranks below a known
problem: "the last run failed" says more than "no data published yet" does. The reasons list
every signal that is not healthy, worst first.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from ..watchdog.checks import due_at
from .model import DqResult, Run

HEALTHY, UNKNOWN, WARNING, DEGRADED = "healthy", "unknown", "warning", "degraded"
STATES = (HEALTHY, UNKNOWN, WARNING, DEGRADED)  # best to worst
RANK = {state: rank for rank, state in enumerate(STATES)}
DEGRADING_SEVERITIES = ("critical", "major")
WARNING_SEVERITIES = ("minor", "notice")


def _last_run_signal(last_run: Run | None, now: datetime, sla: timedelta) -> tuple[str, str | None]:
    if last_run is None:
        return UNKNOWN, "no run yet"
    if last_run.state == "failed":
        return DEGRADED, f"last run {last_run.run_id} failed"
    if last_run.state == "success":
        return HEALTHY, None
    if last_run.state in ("queued", "running"):
        age = now - last_run.queued_at
        if age > sla:
            return WARNING, f"run {last_run.run_id} {last_run.state} for {_hours(age)}, longer than the freshness SLA"
        return HEALTHY, None
    return UNKNOWN, f"last run {last_run.run_id} in state {last_run.state!r}"


def _freshness_signal(newest: date | None, now: datetime, sla: timedelta) -> tuple[str, str | None]:
    if newest is None:
        return UNKNOWN, "nothing published yet"
    due = due_at(newest + timedelta(days=1), sla)
    if now >= due:
        return DEGRADED, f"data stale: newest day {newest.isoformat()}, the next was due {due.isoformat()}"
    return HEALTHY, None


def _dq_signal(latest_dq) -> tuple[str, str | None]:
    failed = sorted(r.dataset for r in latest_dq if r.status == "failed")
    if failed:
        return DEGRADED, "data quality failed: " + ", ".join(failed)
    warned = sorted(r.dataset for r in latest_dq if r.status == "warned")
    if warned:
        return WARNING, "data quality warnings: " + ", ".join(warned)
    return HEALTHY, None


def _incident_signal(open_by_severity: dict[str, int]) -> tuple[str, str | None]:
    def listed(severities) -> str:
        return ", ".join(f"{open_by_severity[s]} {s}" for s in severities if open_by_severity.get(s))

    if any(open_by_severity.get(s) for s in DEGRADING_SEVERITIES):
        return DEGRADED, "open incidents: " + listed(DEGRADING_SEVERITIES + WARNING_SEVERITIES)
    if any(open_by_severity.get(s) for s in WARNING_SEVERITIES):
        return WARNING, "open incidents: " + listed(WARNING_SEVERITIES)
    return HEALTHY, None


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def pipeline_health(last_run: Run | None, freshness: date | None, latest_dq: list[DqResult] | tuple,
                    open_incidents_by_severity: dict[str, int], *, now: datetime, sla: timedelta) -> dict:
    """`{"state": ..., "reasons": [...]}`: the worst of the four signals (module docstring).

    `freshness` is the newest published day (None: nothing published), `latest_dq` the newest
    result of each dataset, `sla` the pipeline's `freshness_sla`."""
    signals = [
        _last_run_signal(last_run, now, sla),
        _freshness_signal(freshness, now, sla),
        _dq_signal(latest_dq),
        _incident_signal(open_incidents_by_severity),
    ]
    state = max((s for s, _ in signals), key=RANK.__getitem__)
    reasons = [reason for _, reason in sorted(signals, key=lambda s: -RANK[s[0]]) if reason]
    return {"state": state, "reasons": reasons}

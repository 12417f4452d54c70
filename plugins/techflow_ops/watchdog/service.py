"""The watchdog process: run the checks, open (and page) or resolve their incidents, loop.

Incidents go through the ordinary orchestrator (`Escalation.report_failure(..., deliver=True)`):
the watchdog process itself opens the incident in the ops DB and delivers its first step's pages
through the outbox and Airflow's providers before it goes on, not through the engine DAG, which
may be what is dead. Platform incidents use the pseudo-pipeline `platform` (escalation.yaml
`platform`); stale-data incidents the pipeline's own id. One incident per outage: the dedup key
is `watchdog:<check>`, looked up before reporting, and freed when the incident is resolved.

While the escalation engine is stale (past the start-up grace; also while it is held back behind
a dead scheduler, the likeliest reason it stopped), each pass then runs the engine's tick itself
(`Escalation.tick(at, by="watchdog")`) so unacknowledged incidents, its own platform incident
first, escalate to their next steps and the outbox's retries go out. The tick lease keeps it from
ticking at the same time as the engine or a tick by hand; its success is recorded as
`watchdog_last_tick`, never as the engine's, so the engine check stays stale until the engine
itself ticks again. The watchdog never ticks while the engine is healthy.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ..escalation import store
from ..escalation.policy import PLATFORM_PIPELINE_ID
from ..failures import FailureClass
from . import checks, probes

log = logging.getLogger(__name__)

FIRST_SEEN_KEY = "watchdog_first_seen"  # engine_state: when a watchdog first checked this deployment
LAST_CHECK_KEY = "watchdog_last_check"  # engine_state: JSON-free summary of the last pass
WATCHDOG_USER = "watchdog"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Watchdog:
    def __init__(self, escalation=None, *, api_url: str | None = None, startup_grace: timedelta | None = None,
                 started_at: datetime | None = None, include: tuple[str, ...] = (checks.PLATFORM, checks.DATA),
                 heartbeat_threshold: timedelta | None = None, engine_threshold: timedelta | None = None,
                 heartbeat_probe: Callable[[], probes.Heartbeats] | None = None,
                 newest_probe: Callable[[list[str]], dict] | None = None, dry_run: bool = False):
        """`started_at` None: a one-off check (`--once`): no start-up grace, the engine judged
        from when this deployment was first seen. Probes default to the real ones."""
        if escalation is None:
            from .. import escalation as escalation_api

            escalation = escalation_api.service()
        from .. import settings

        self.escalation = escalation
        self.api_url = api_url or settings.airflow_base_url()
        settings_ = escalation.policy.watchdog
        self.heartbeat_threshold = heartbeat_threshold or settings_.heartbeat_threshold
        self.engine_threshold = engine_threshold or settings_.engine_threshold
        self.started_at = started_at
        grace = settings_.startup_grace if startup_grace is None else startup_grace
        self.grace_until = started_at + grace if started_at is not None and grace else None
        self.include = include
        self.heartbeat_probe = heartbeat_probe or (lambda: probes.heartbeats(self.api_url))
        self.newest_probe = newest_probe or probes.newest_published_days
        self.dry_run = dry_run

    # --- checking --------------------------------------------------------------------------

    def first_seen(self, at: datetime) -> datetime:
        """When a watchdog first checked this deployment (recorded at the first check)."""
        with self.escalation.engine.begin() as connection:
            value = store.get_state(connection, FIRST_SEEN_KEY)
            if value is None and not self.dry_run:
                store.set_state(connection, FIRST_SEEN_KEY, at.isoformat())
        return datetime.fromisoformat(value) if value else at

    def check(self, at: datetime) -> list[checks.CheckResult]:
        """Every check at `at`, nothing opened or resolved. A probe that raises makes its checks
        unknown (logged), never the whole pass fail."""
        first_seen = self.first_seen(at)
        results: list[checks.CheckResult] = []
        if checks.PLATFORM in self.include:
            try:
                beats = self.heartbeat_probe()
                for name in (checks.SCHEDULER, checks.TRIGGERER):
                    results.append(checks.heartbeat(name, beats.latest.get(name), now=at,
                                                    threshold=self.heartbeat_threshold, source=beats.source))
            except Exception as exc:  # noqa: BLE001 - a probe must never stop the watchdog
                log.warning("heartbeat probe failed: %s", probes.short_error(exc))
                for name in (checks.SCHEDULER, checks.TRIGGERER):
                    results.append(checks.heartbeat(name, None, now=at, threshold=self.heartbeat_threshold,
                                                    source="-", error=probes.short_error(exc)))
            since = max(first_seen, self.started_at) if self.started_at else first_seen
            try:
                last_tick = probes.last_engine_tick(self.escalation)
                results.append(checks.engine(last_tick, now=at, threshold=self.engine_threshold, since=since))
            except Exception as exc:  # noqa: BLE001
                log.warning("engine probe failed: %s", probes.short_error(exc))
                results.append(checks.engine(None, now=at, threshold=self.engine_threshold, since=since,
                                             error=probes.short_error(exc)))
        if checks.DATA in self.include:
            pipelines = self.escalation.registry.pipelines
            try:
                newest = self.newest_probe(list(pipelines))
                error = None
            except Exception as exc:  # noqa: BLE001
                log.warning("warehouse probe failed: %s", probes.short_error(exc))
                newest, error = {}, probes.short_error(exc)
            for pipeline_id, pipeline in pipelines.items():
                if error is not None:
                    results.append(checks.CheckResult(f"stale_data:{pipeline_id}", checks.DATA, checks.UNKNOWN, None,
                                                      timedelta(days=1) + pipeline.freshness_sla,
                                                      f"could not read pipeline_runs: {error}", pipeline_id))
                    continue
                results.append(checks.freshness(pipeline_id, newest.get(pipeline_id), now=at,
                                                freshness_sla=pipeline.freshness_sla, first_seen=first_seen))
        return checks.hold_back(results, now=at, grace_until=self.grace_until)

    # --- acting ----------------------------------------------------------------------------

    def run_once(self, at: datetime | None = None) -> list[checks.CheckResult]:
        """Check, then open and page (stale, not yet open), or resolve (ok again) each check's incident;
        then, the engine being stale, tick on its behalf."""
        at = at or utcnow()
        results = self.check(at)
        for result in results:
            try:
                self._act(result, at)
            except Exception as exc:  # the ops DB or a provider failing must not stop the others
                log.exception("watchdog check %s: could not open/resolve its incident", result.name)
                result.detail += f" [incident not recorded: {type(exc).__name__}: {exc}]"
        if not self.dry_run:
            self._tick_for_a_stale_engine(results, at)
            try:
                with self.escalation.engine.begin() as connection:
                    store.set_state(connection, LAST_CHECK_KEY, at.isoformat())
            except Exception:
                log.exception("could not record the watchdog's last check")
        return results

    def _tick_for_a_stale_engine(self, results: list[checks.CheckResult], at: datetime) -> None:
        """Run the escalation tick on the engine's behalf when its check is stale (see the module
        docstring); what it did goes to the check's `tick` and detail and to the log. Failing
        (or skipped: another tick holds the lease) never stops the pass."""
        engine = next((r for r in results if r.name == checks.ENGINE), None)
        if engine is None or engine.status != checks.STALE:
            return
        if self.grace_until is not None and at < self.grace_until:
            return  # a restarted deployment's engine gets the grace to tick itself
        try:
            report = self.escalation.tick(at, by="watchdog")
        except Exception as exc:  # the ops DB or a provider failing must not stop the watchdog
            log.exception("watchdog: the tick on the stale engine's behalf failed")
            engine.detail += f" [the watchdog's tick on the engine's behalf failed: {type(exc).__name__}: {exc}]"
            return
        engine.tick = report.to_dict()
        if report.skipped:
            engine.detail += f" [the watchdog did not tick: {report.skipped}]"
            log.warning("watchdog: engine stale, tick skipped: %s", report.skipped)
            return
        done = (f"{report.escalated} step(s) fired, {report.exhausted} exhausted, {report.delivered} delivered, "
                f"{report.delivery_failures} delivery failure(s)" + (f", {len(report.errors)} error(s)" if report.errors else ""))
        engine.detail += f" [the watchdog ticked on the engine's behalf: {done}]"
        log.warning("watchdog: escalation engine stale: ticked on its behalf (%s)%s", done,
                    "; errors: " + "; ".join(report.errors) if report.errors else "")

    def _act(self, result: checks.CheckResult, at: datetime) -> None:
        existing = self.escalation.unresolved_by_dedup_key(result.dedup_key)
        action = checks.decide(result, existing.id if existing else None)
        result.incident_id = existing.id if existing else None
        if action.kind == "open" and result.kind == checks.DATA:
            # The run's Deadline Alert (same instant: end of day + freshness SLA) may have paged already.
            missed = [i for i in self.escalation.list_incidents(status="unresolved", pipeline_id=result.pipeline_id)
                      if i.failure_class == FailureClass.sla_miss.value]
            if missed:
                result.page = False
                result.detail += f" [already paged as incident #{missed[0].id} (deadline missed): not paged again]"
                return
        if self.dry_run or action.kind == "none":
            return
        if action.kind == "resolve":
            self.escalation.resolve(action.incident_id, WATCHDOG_USER,
                                    f"auto-resolved by the watchdog: {result.name} is ok again ({result.detail})", at=at)
            result.resolved_incident_id, result.incident_id = action.incident_id, None
            log.warning("watchdog: %s ok again: incident %s resolved", result.name, action.incident_id)
            return
        platform = result.kind == checks.PLATFORM
        failure_class = FailureClass.platform_down if platform else FailureClass.stale_data
        pipeline_id = PLATFORM_PIPELINE_ID if platform else result.pipeline_id
        result.incident_id = self.escalation.report_failure(
            pipeline_id=pipeline_id, kind=failure_class.value, failure_class=failure_class,
            failure_mode=failure_class.value, error=result.detail, at=at, deliver=True, dedup_key=result.dedup_key,
            details={"watchdog_check": result.name, "age_seconds": result.age.total_seconds() if result.age else None,
                     "threshold_seconds": result.threshold.total_seconds() if result.threshold else None,
                     **{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in result.facts.items()}},
        )
        result.opened = True
        log.warning("watchdog: %s is stale: incident %s opened and paged (%s)", result.name, result.incident_id,
                    result.detail)


def run_forever(watchdog: Watchdog, interval: timedelta, *, stop: threading.Event | None = None,
                heartbeat_file: Path | None = None, on_pass: Callable[[list], None] | None = None) -> None:
    """Check every `interval` until SIGTERM/SIGINT (or `stop` is set). Nothing a pass raises ends
    the loop: it is logged and the next pass comes on time."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    log.info("watchdog started: every %ss (api %s; start-up grace until %s)", interval.total_seconds(),
                watchdog.api_url, watchdog.grace_until.isoformat() if watchdog.grace_until else "-")
    while not stop.is_set():
        try:
            results = watchdog.run_once()
            log.info("watchdog pass: %s", ", ".join(f"{r.name}={r.status}" + (f"#{r.incident_id}" if r.incident_id else "")
                                                         for r in results))
            if on_pass is not None:
                on_pass(results)
        except Exception:
            log.exception("watchdog pass failed")
        if heartbeat_file is not None:
            try:
                heartbeat_file.touch()
            except OSError:
                log.exception("could not touch %s", heartbeat_file)
        stop.wait(interval.total_seconds())
    log.info("watchdog stopped (pid %s)", os.getpid())

"""The escalation orchestrator: open incidents, fire policy steps, advance them when waits pass.

`Escalation` binds the ops DB, the registry, the policy and the on-call schedule; the
module-level API in `techflow_ops.escalation` uses a default instance. What a step does is
planned in `planning.py`; every read and write of the ops DB goes through `store.py`.
Nothing here imports Airflow or SQLAlchemy; delivery imports the providers only when it sends.

Resolution SLA. The freshness SLA is an Airflow Deadline Alert (callbacks.py): "this run is
not done `freshness_sla` after it was queued" is a DAG-run deadline. The resolution SLA is
not one: Airflow 3.3 accepts a list of alerts (`deadline=[...]`), but every reference is a
DAG-run instant (queued at, logical date, a datetime fixed at parse time, average runtime)
and a run's deadlines are pruned only when that run succeeds. The resolution SLA runs from
when an *incident* opened (a failure, a freshness miss, a run-level failure) until a person
or a later success resolves it; it is often fixed by a new run, not by clearing the failed
one, and for `resolve_by_month_end` pipelines it ends at a calendar month end that no
parse-time reference can name. So the engine tick checks it: an unresolved incident older
than its pipeline's `resolution_sla` (or opened in a month that has ended) is reported once
to `resolution_sla.notify` of escalation.yaml (management by default) and the breach is
recorded on its timeline. With the engine DAG at one-minute cadence that is at most a
minute late, like a Deadline Alert handled by the triggerer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from ..failures import FAILURE_MODES, FailureClass
from ..opsdb import get_engine
from ..opsdb.schema import NOTICE
from ..registry import format_duration, get_registry
from . import store
from .action_links import ACKNOWLEDGE, RESOLVE
from .classify import classify, failure_mode_of
from .messages import ROLE_SLOT, PageRenderer
from .outbox import CLAIM_LEASE, Backoff, DeliveryReport, deliver_claimed, deliver_due, fill_row_text
from .planning import PageStep, StepPlan, StepState, plan_step
from .policy import PLATFORM_PIPELINE_ID, EscalationConfig, OnCallView, Step, get_policy, read_oncall, resolve_step

NOTICE_HORIZON = timedelta(hours=1)
RESOLUTION_SLA_BREACHED = "resolution_sla_breached"
LAST_TICK_KEY = "engine_last_successful_tick"  # engine_state: wall-clock instant a tick last completed (the watchdog reads it)
WATCHDOG_TICK_KEY = "watchdog_last_tick"  # engine_state: the same for the watchdog's ticks on a dead engine's behalf
TICK_KEYS = {"engine": LAST_TICK_KEY, "watchdog": WATCHDOG_TICK_KEY}  # tick(by=...): where it records its success
TICK_LEASE_KEY = "tick_lease"  # engine_state: "<expiry ISO UTC> <token>" of the tick running now (store.acquire_lease)
TICK_LEASE = timedelta(minutes=5)  # well above a tick (delivery_time_budget 40 s); the DAG's dagrun_timeout


def _what_failed(exception: BaseException | None) -> BaseException | None:
    """The exception to report: a task callable that failed fast (`pipelines.transient.fail_fast`)
    raised Airflow's `AirflowFailException` from its own failure; the page, the error text and the
    details are about that failure, not the wrapper."""
    while (exception is not None and type(exception).__name__ == "AirflowFailException"
           and exception.__cause__ is not None):
        exception = exception.__cause__
    return exception


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(at: datetime | None) -> datetime:
    if at is None:
        return utcnow()
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: pass an aware datetime (UTC)")
    return at.astimezone(timezone.utc)


def default_schedule(config_dir=None):
    """The on-call schedule service (cached by the on-call area, reloaded when its files change)."""
    from ..oncall import get_schedule_service

    return get_schedule_service(config_dir)


class _BrokenSchedule:
    """Stands in for a schedule that could not be loaded, so the page still reaches the owners
    and the reason is recorded as a gap on the incident."""

    def __init__(self, problem: str):
        self.problem = problem

    def now(self, at):
        raise RuntimeError(self.problem)


@dataclass
class TickReport:
    at: datetime
    escalated: int = 0
    exhausted: int = 0
    resolution_sla_breaches: int = 0
    handoff_notices: int = 0
    delivered: int = 0
    delivery_failures: int = 0
    errors: list[str] = field(default_factory=list)
    by: str = "engine"  # who ticked: engine (the DAG, `techflow-ops escalation tick`) | watchdog
    skipped: str | None = None  # why nothing was done (another tick holds the tick lease); not an error
    oncall_published_until: str | None = None  # set when this tick published the next on-call weeks

    def to_dict(self) -> dict:
        data = dict(self.__dict__)
        data["at"] = self.at.isoformat()
        return data


class Escalation:
    def __init__(self, *, engine=None, registry=None, policy: EscalationConfig | None = None,
                 schedule=None, use_default_schedule: bool = True, config_dir=None):
        """`registry`, `policy` and `schedule` default to the configured ones, which follow their
        files: an edit made while this object lives applies from the next page on."""
        self.engine = engine or get_engine()
        self._registry = registry
        self._policy = policy
        self._config_dir = config_dir if config_dir is not None else (registry.config_dir if registry else None)
        self._schedule = schedule
        self._use_default_schedule = use_default_schedule and schedule is None
        self._policies: tuple[EscalationConfig | None, object | None, dict] = (None, None, {})

    @property
    def registry(self):
        return self._registry or get_registry(self._config_dir)

    @property
    def policy(self) -> EscalationConfig:
        return self._policy or get_policy(self.registry.config_dir)

    @property
    def backoff(self) -> Backoff:
        retry = self.policy.notifications.delivery_backoff
        return Backoff(retry.first, retry.max)

    @property
    def schedule(self):
        if not self._use_default_schedule:
            return self._schedule
        try:
            return default_schedule(self.registry.config_dir)
        except Exception as exc:  # noqa: BLE001 - a broken rotation file must not stop the page to the owners
            return _BrokenSchedule(f"on-call schedule unavailable: {type(exc).__name__}: {exc}")

    def _pipeline(self, pipeline_id: str):
        """The registry's pipeline, or the platform pseudo-pipeline for platform incidents."""
        if pipeline_id == PLATFORM_PIPELINE_ID:
            return self.policy.platform_pipeline(self.registry)
        return self.registry.pipeline(pipeline_id)

    # --- opening ---------------------------------------------------------------------------

    def report_failure(self, *, pipeline_id: str, dag_id: str | None = None, run_id: str | None = None,
                       task_id: str | None = None, try_number: int | None = None, kind: str = "task_failure",
                       exception: BaseException | None = None, error: str | None = None,
                       failure_class: FailureClass | str | None = None, details: dict | None = None,
                       log_url: str | None = None, at: datetime | None = None, deliver: bool = True,
                       run_started_at: datetime | None = None, failure_mode: str | None = None,
                       dedup_key: str | None = None) -> int:
        """Open the incident for this failure (or count another report of it); return its id.
        `run_started_at` (when the DAG run started) decides which later successes resolve it.
        `failure_mode` defaults to the exception's (`PipelineFailure.failure_mode`), else the class;
        the severity is rated from it, the pipeline's criticality and the investor-report period.
        `dedup_key` replaces the default one (pipeline, DAG run, task): the watchdog's per check.

        The first report fires the policy's first step at once and, with `deliver`, sends its
        notifications before returning; failed deliveries stay in the outbox for the engine.
        """
        at = _aware(at)
        exception = _what_failed(exception)
        pipeline = self._pipeline(pipeline_id)
        dag_id = dag_id or pipeline.dag_id
        if failure_class is None:
            failure_class = classify(exception if exception is not None else error)
        failure_class = FailureClass(failure_class)
        if error is None and exception is not None:
            error = f"{type(exception).__name__}: {exception}"
        details = {**(getattr(exception, "details", None) or {}), **(details or {})}
        failure_mode = failure_mode or failure_mode_of(exception, failure_class)
        oncall = read_oncall(self.schedule, at)
        severity = self.policy.severity_of(pipeline, failure_mode, investor_period=oncall.in_investor_period)
        values = {
            "dedup_key": dedup_key or store.dedup_key(pipeline_id, dag_id, run_id, task_id, kind), "kind": kind,
            "pipeline_id": pipeline_id, "dag_id": dag_id, "run_id": run_id, "task_id": task_id,
            "run_started_at": _aware(run_started_at) if run_started_at is not None else None,
            "try_number": try_number, "failure_class": failure_class.value, "error": error or "",
            "details": json.dumps(details, default=str), "log_url": log_url,
            "failure_mode": failure_mode, "severity": severity,
        }
        with self.engine.begin() as connection:
            incident_id, claimed, token = self._record_failure(connection, values, at, oncall, deliver=deliver)
        if claimed:
            self._deliver_claimed(claimed, token, at)
        return incident_id

    def _record_failure(self, connection, values: dict, at: datetime, oncall, *, deliver: bool):
        """Record a reported failure in `connection`'s transaction: open the incident and fire its
        first step, or count another report. Return (incident id, claimed outbox rows, claim token)."""
        incident_id, opened = store.open_or_touch(connection, values, at)
        if not opened:
            store.add_event(connection, incident_id, at, "reported_again",
                            "the same failure was reported again (deduplicated)", data={"try_number": values["try_number"]})
            return incident_id, [], None
        kind, failure_class = values["kind"], FailureClass(values["failure_class"])
        failure_mode, severity = values["failure_mode"], values["severity"]
        writes = store.Writes(at)
        writes.event(incident_id, "opened",
                     f"{kind.replace('_', ' ')} reported ({failure_class.title}; {FAILURE_MODES[failure_mode]}; "
                     f"severity {severity})",
                     data={"try_number": values["try_number"], "failure_class": failure_class.value,
                           "failure_mode": failure_mode, "severity": severity})
        self._fire_due_steps(writes, [store.opened_incident(incident_id, values, at)], at, oncall, {})
        # Claimed as they are queued, in this transaction, so the first page goes out right after
        # the commit that records it (the lease keeps a concurrent engine tick off these rows).
        token = writes.claim_new_rows(incident_id, max(at, utcnow()) + CLAIM_LEASE) if deliver else None
        read_back = writes.flush(connection)
        if token is None:
            return incident_id, [], None
        claimed = read_back[token] if read_back is not None else store.claimed_rows(connection, token)
        return incident_id, claimed, token if claimed else None

    def rehearse_failure_reports(self) -> int:
        """Run what a task failure's report runs against the ops DB, once per pipeline, in one
        transaction that is rolled back: nothing is recorded or sent. A process that forks task
        processes (`pipelines.preload`) calls it so that the engine its children adopt has its
        dialect initialised and these statements compiled (SQLAlchemy caches both per engine):
        a failing task's first page then waits on its own few queries only. A PostgreSQL
        sequence skips the ids this used. Return the number of reports rehearsed."""
        at = utcnow()
        oncall = read_oncall(self.schedule, at)
        rehearsed = 0
        with self.engine.connect() as connection:
            transaction = connection.begin()
            try:
                for pipeline in self.registry.pipelines.values():
                    failure_class = FailureClass.task_error
                    failure_mode = failure_mode_of(None, failure_class)
                    values = {
                        "dedup_key": f"rehearsal|{pipeline.id}|{at.isoformat()}", "kind": "task_failure",
                        "pipeline_id": pipeline.id, "dag_id": pipeline.dag_id, "run_id": "rehearsal", "task_id": "rehearsal",
                        "run_started_at": at, "try_number": 1, "failure_class": failure_class.value,
                        "error": "rehearsal", "details": "{}", "log_url": None, "failure_mode": failure_mode,
                        "severity": self.policy.severity_of(pipeline, failure_mode, investor_period=oncall.in_investor_period),
                    }
                    incident_id, claimed, _ = self._record_failure(connection, values, at, oncall, deliver=True)
                    self._record_failure(connection, values, at, oncall, deliver=True)  # reported again
                    for fields in claimed:
                        store.with_text(fields, fill_row_text)  # signs the action links
                    rehearsed += 1
            finally:
                transaction.rollback()
        return rehearsed

    def _deliver_claimed(self, rows: list[dict], token: str, at: datetime) -> DeliveryReport:
        notifications = self.policy.notifications
        return deliver_claimed(self.engine, rows, token, at, from_email=notifications.from_email, backoff=self.backoff,
                               time_budget=notifications.delivery_time_budget)

    def report_warning(self, *, pipeline_id: str, dataset: str, partition: str, failure_mode: str, summary: str,
                       dag_id: str | None = None, run_id: str | None = None, at: datetime | None = None,
                       deliver: bool = True, other_modes: tuple[str, ...] = ()) -> int:
        """A failed warning check: one notice per dataset and day (UTC) to the pipeline's business
        team and owners, and to the team `routes` names for each failed check's mode (an expense
        spike is the Operations team's to look at, consumer lag Infrastructure's), by email and
        Slack, never paged or escalated; return its incident id."""
        at = _aware(at)
        registry, policy = self.registry, self.policy
        pipeline = registry.pipeline(pipeline_id)
        dag_id = dag_id or pipeline.dag_id
        values = {
            "dedup_key": f"{pipeline_id}|{dataset}|{at.date().isoformat()}|{store.NOTICE_KIND}", "kind": store.NOTICE_KIND,
            "pipeline_id": pipeline_id, "dag_id": dag_id, "run_id": run_id, "task_id": None, "try_number": None,
            "failure_class": FailureClass.data_quality.value, "failure_mode": failure_mode, "severity": NOTICE,
            "error": summary, "details": json.dumps({"dataset": dataset, "partition": partition}), "log_url": None,
        }
        oncall = read_oncall(self.schedule, at)
        routed = [f"team:{policy.routes[mode].team}" for mode in dict.fromkeys((failure_mode, *other_modes))
                  if mode in policy.routes]
        told = Step(level=1, notify=["business_owner_team", "pipeline_owners", *dict.fromkeys(routed)],
                    wait=timedelta(minutes=1))
        with self.engine.begin() as connection:
            incident_id, opened = store.open_or_touch(connection, values, at)
            if not opened:
                store.add_event(connection, incident_id, at, "reported_again",
                                f"{dataset} [{partition}] warned again today (one notice per dataset and day)")
                return incident_id
            targets = resolve_step(told, pipeline, FailureClass.data_quality, oncall, registry, policy)
            store.add_event(connection, incident_id, at, "opened",
                            f"data-quality warning on {dataset} [{partition}] ({FAILURE_MODES[failure_mode]}): notice to "
                            + (", ".join(f"{r.name} ({r.role})" for r in targets.recipients) or "nobody"),
                            data={"failure_mode": failure_mode, "severity": NOTICE,
                                  "recipients": [r.id for r in targets.recipients]})
            for skip in targets.skipped:
                store.add_event(connection, incident_id, at, "skipped_person", f"notice: {skip}")
            writes = store.Writes(at)
            incident = store.load_incident(connection, incident_id)
            self._enqueue_pages(writes, [incident], pipeline, PageStep(0, 0, 0, tuple(
                r for r in targets.recipients)), key="notice", subject_prefix="[notice] ",
                headline=f"Data-quality warning (no action paged): {FAILURE_MODES[failure_mode]}.",
                channels=("email", "slack"), purpose="notice")
            writes.flush(connection)
        if deliver:
            self.deliver(at=at, incident_id=incident_id)
        return incident_id

    def report_run_failure(self, *, pipeline_id: str, dag_id: str | None, run_id: str | None, reason: str,
                           at: datetime | None = None, run_started_at: datetime | None = None) -> int:
        """A failed DAG run: noted on the run's task incidents when there are any (the page already
        went out for the task), else opened as its own run-level incident. A run the scheduler
        stopped at its `dagrun_timeout` (reason `timed_out`) is failure class `timeout`."""
        at = _aware(at)
        pipeline = self.registry.pipeline(pipeline_id)
        dag_id = dag_id or pipeline.dag_id
        timed_out = reason.strip().lower().replace("-", "_").replace(" ", "_") == "timed_out"
        if timed_out:
            reason = (f"the DAG run exceeded its run limit (dagrun_timeout {format_duration(pipeline.limits.run)}) "
                      "and was stopped; its unfinished tasks were skipped (reason: timed_out)")
        with self.engine.begin() as connection:
            ids = store.task_incidents_of_run(connection, dag_id, run_id)
            for incident_id in ids:
                store.add_event(connection, incident_id, at, "run_failed", f"the DAG run failed: {reason}")
        if ids:
            return ids[0]
        return self.report_failure(pipeline_id=pipeline_id, dag_id=dag_id, run_id=run_id, task_id=None,
                                   kind="dag_failure", error=reason, at=at, run_started_at=run_started_at,
                                   failure_class=FailureClass.timeout if timed_out else None)

    # --- firing steps ------------------------------------------------------------------------

    def _policy_for(self, pipeline, policy: EscalationConfig, investor_period: bool):
        """The pipeline's policy, looked up once per loaded policy and registry."""
        cached_policy, cached_registry, specs = self._policies
        registry = self.registry
        if cached_policy is not policy or cached_registry is not registry:
            specs = {}
            self._policies = (policy, registry, specs)
        key = (pipeline.id, investor_period)
        spec = specs.get(key)
        if spec is None:
            spec = specs[key] = policy.policy_for(pipeline, investor_period=investor_period)
        return spec

    def _fire_due_steps(self, writes: store.Writes, due: list, at: datetime, oncall: OnCallView,
                        plans: dict, errors: list[str] | None = None) -> tuple[int, int]:
        """Fire the current step (skipping empty ones) of every incident in `due`; return
        (fired, exhausted). What a step does depends only on the incident's state (pipeline,
        step, pass, level, failure class), so it is planned once per state (cached in `plans`
        for the instant) and applied to all incidents in that state.

        A state that cannot be planned (its pipeline was renamed or removed from pipelines.yaml,
        a failure class no longer known) must not stop the others: its incidents are parked
        (no next step) with an `error` event saying why, and the error goes to `errors`; with
        `errors` None (a failure being reported) it is raised instead."""
        groups: dict[tuple, list[store.Incident]] = {}
        for incident in due:
            state = StepState(incident.pipeline_id, incident.step_index, incident.cycle, incident.level,
                              incident.failure_class, incident.failure_mode or incident.failure_class,
                              incident.severity)
            groups.setdefault(state, []).append(incident)
        fired = exhausted = 0
        for state, members in groups.items():
            ids = [incident.id for incident in members]
            plan = plans.get(state)
            if plan is None:
                try:
                    plan = plans[state] = self._plan_step(state, at=at, oncall=oncall)
                except Exception as exc:
                    if errors is None:
                        raise
                    problem = f"{type(exc).__name__}: {exc}"
                    for incident_id in ids:
                        writes.event(incident_id, "error",
                                     f"cannot fire the next escalation step of pipeline {state.pipeline_id!r}: {problem}; "
                                     "escalation parked (no further steps) until the incident is resolved",
                                     data={"pipeline_id": state.pipeline_id, "step": state.step_index, "cycle": state.cycle})
                    writes.step(ids, step_index=state.step_index, cycle=state.cycle, level=state.level, next_step_at=None)
                    errors.append(f"pipeline {state.pipeline_id!r}: cannot plan escalation step {state.step_index + 1} "
                                  f"({problem}); incident(s) {', '.join(map(str, ids))} parked")
                    continue
            for incident_id in ids:
                for event in plan.events:
                    writes.event(incident_id, event.kind, event.message, level=event.level, data=event.data)
            writes.step(ids, step_index=plan.step_index, cycle=plan.cycle, level=plan.level, next_step_at=plan.next_step_at)
            if plan.page is None:
                exhausted += len(members)
            else:
                fired += len(members)
                self._enqueue_pages(writes, members, plan.pipeline, plan.page)
        return fired, exhausted

    def _plan_step(self, state: StepState, *, at: datetime, oncall: OnCallView) -> StepPlan:
        registry, policy = self.registry, self.policy
        pipeline = self._pipeline(state.pipeline_id)
        return plan_step(pipeline, self._policy_for(pipeline, policy, oncall.in_investor_period), policy, registry,
                         FailureClass(state.failure_class), step_index=state.step_index, cycle=state.cycle,
                         level=state.level, at=at, oncall=oncall, failure_mode=state.failure_mode,
                         severity=state.severity)

    def _enqueue_pages(self, writes: store.Writes, members: list, pipeline, page_step: PageStep, *,
                       key: str | None = None, subject_prefix: str = "", headline: str | None = None,
                       channels: tuple[str, ...] = ("email", "slack", "pagerduty"), purpose: str = "page") -> None:
        """Queue `page_step`'s page for each incident in `members` to every contact of its recipients
        on `channels`. `key` names a page outside the policy's steps (default: the step and pass)."""
        notifications = self.policy.notifications
        default_conn = {"email": notifications.smtp_conn_id, "slack": notifications.slack_conn_id,
                        "pagerduty": notifications.pagerduty_conn_id}
        step_key = f":{key or f'pass:{page_step.cycle}:step:{page_step.index}'}"
        # One row per contact of each recipient, the same for every incident but for the ids.
        contacts = [
            store.OutboxRow(f"{step_key}:{r.kind}:{r.id}:{m.type}:{m.target}", None, purpose, r.id, m.type, m.target,
                            m.connection_id or default_conn[m.type], role=r.role)
            for r in page_step.recipients for m in r.contacts if m.type in channels
        ]
        renderer = PageRenderer(pipeline, page_step.level, ROLE_SLOT, notifications.error_lines)
        for incident in members:
            # PagerDuty's own scale: critical pages as critical, the rest as error.
            severity = "critical" if incident.severity == "critical" else "error"
            payload = json.dumps({"severity": severity, "source": incident.dag_id,
                                  "component": incident.task_id or incident.dag_id, "group": pipeline.id,
                                  "class_type": incident.failure_class, "dedup_key": f"techflow-incident-{incident.id}"})
            # Rendered and stored once per incident; each outbox row adds the recipient's role.
            page = renderer.render(incident, drill=bool(incident.details.get("drill")))
            key_prefix = f"incident:{incident.id}"
            message_key = key_prefix + step_key
            writes.message(store.PageMessage(message_key, incident.id, subject_prefix + page.subject,
                                             f"{headline}\n\n{page.body}" if headline else page.body, payload))
            for c in contacts:
                writes.notification(store.OutboxRow(key_prefix + c.idempotency_key, incident.id, c.purpose, c.recipient,
                                                    c.channel, c.target, c.connection_id, message_key, c.role))

    # --- the tick ------------------------------------------------------------------------------

    def tick(self, at: datetime | None = None, *, deliver: bool = True, batch: int = 5000,
             by: str = "engine") -> TickReport:
        """Advance every unacknowledged incident whose step deadline passed, then deliver the outbox.

        Set-wise: one query per `batch` of due incidents, steps planned once per incident
        state, writes in bulk, one transaction per batch.

        One tick at a time across processes (the engine DAG, the watchdog standing in for a
        dead engine, a tick by hand): a tick first takes the lease `tick_lease` of engine_state
        (a compare-and-set, `store.acquire_lease`) for `TICK_LEASE` of wall-clock time, not of
        `at`, and releases it, if still its own, when it ends. A tick that finds the lease held
        does nothing and returns a report with `skipped` set (not an error: the holder does the
        work; a crashed holder's lease is taken over once it has expired). Sequential ticks
        never meet a lease. Delivery is safe under concurrency anyway (the outbox's row claims).

        `by` says whose tick this is and so where its success is recorded: "engine" (the DAG
        and `techflow-ops escalation tick`) as `engine_last_successful_tick`, which the
        watchdog's engine check reads; "watchdog" as `watchdog_last_tick`, so the watchdog
        ticking on a dead engine's behalf never makes the engine look alive."""
        if by not in TICK_KEYS:
            raise ValueError(f"by={by!r}: one of {', '.join(TICK_KEYS)}")
        at = _aware(at)
        report = TickReport(at=at, by=by)
        with self.engine.begin() as connection:
            lease = store.acquire_lease(connection, TICK_LEASE_KEY, utcnow(), TICK_LEASE)
            holder = None if lease is not None else store.get_state(connection, TICK_LEASE_KEY)
        if lease is None:
            until = store.lease_expiry(holder).isoformat() if holder else "-"
            report.skipped = f"another tick is running (it holds the tick lease until {until}): nothing done"
            return report
        try:
            self._tick(at, report, deliver=deliver, batch=batch)
        finally:
            try:
                with self.engine.begin() as connection:
                    store.release_lease(connection, TICK_LEASE_KEY, lease)
            except Exception as exc:  # noqa: BLE001 - it expires by itself; the tick's own outcome stands
                report.errors.append(f"could not release the tick lease (it expires at "
                                     f"{store.lease_expiry(lease).isoformat()}): {type(exc).__name__}: {exc}")
        return report

    def _tick(self, at: datetime, report: TickReport, *, deliver: bool, batch: int) -> None:
        """The work of a tick holding the lease; see `tick`."""
        try:
            self._rolling_publish(at, report)
            oncall = read_oncall(self.schedule, at)
            plans: dict = {}
            while True:
                with self.engine.begin() as connection:
                    due = store.due_incidents(connection, at, batch)
                    writes = store.Writes(at)
                    fired, exhausted = self._fire_due_steps(writes, due, at, oncall, plans, report.errors)
                    report.escalated += fired
                    report.exhausted += exhausted
                    writes.flush(connection)
                if len(due) < batch:
                    break
            report.resolution_sla_breaches = self._resolution_sla_breaches(at, oncall)
            report.handoff_notices = self._shift_notices(at, report)
        finally:
            # Pages already queued (and retries) go out even when advancing incidents failed.
            if deliver:
                delivered = self.deliver(at=at)
                report.delivered, report.delivery_failures = delivered.delivered, delivered.failed
                report.errors += delivered.errors
        # The watchdog's dead-man's switch: a tick that got here succeeded (wall clock, not `at`);
        # the watchdog's own ticks under their own key (see `tick`).
        with self.engine.begin() as connection:
            store.set_state(connection, TICK_KEYS[report.by], utcnow().isoformat())

    def _rolling_publish(self, at: datetime, report: TickReport) -> None:
        """Publish the next on-call weeks when the published horizon runs short (at most once per
        tick, frozen history kept: `oncall.service.rolling_publish`). Only for the ops DB's own
        schedule: an injected one (tests, drills) is not published. Moved shifts are announced by
        this tick's `_shift_notices` (their published_at is the tick's `at`)."""
        if not self._use_default_schedule:
            return
        from ..oncall.service import ScheduleService, rolling_publish

        schedule = self.schedule
        if not isinstance(schedule, ScheduleService):
            return
        try:
            result = rolling_publish(schedule, at)
        except Exception as exc:  # noqa: BLE001 - a failed publish must not stop escalation; the next tick retries
            report.errors.append(f"on-call rolling publish: {type(exc).__name__}: {exc}")
            return
        if result is not None and result.written:
            report.oncall_published_until = result.published.until.isoformat()

    def last_successful_tick(self, by: str = "engine") -> datetime | None:
        """When a tick `by` the engine (default) or the watchdog last completed (wall clock)."""
        with self.engine.connect() as connection:
            value = store.get_state(connection, TICK_KEYS[by])
        return datetime.fromisoformat(value) if value else None

    # --- resolution SLA ---------------------------------------------------------------------------

    def _resolution_sla_breaches(self, at: datetime, oncall: OnCallView) -> int:
        """Report, once per incident, every unresolved incident past its resolution SLA (the
        pipeline's `resolution_sla`, shorter for critical incidents, see `severity` in
        escalation.yaml; or, for `resolve_by_month_end` pipelines, opened in a month that has
        ended); return how many were reported. Notices (warnings) have none."""
        rule = self.policy.resolution_sla
        local = at.astimezone(ZoneInfo(rule.month_end_timezone))
        month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(timezone.utc)
        policy = self.policy
        deadlines = [
            store.ResolutionDeadline(pipeline.id, at - pipeline.resolution_sla, at - policy.resolution_sla_of(pipeline, "critical"),
                                     month_start if pipeline.resolve_by_month_end else None)
            for pipeline in (*self.registry.pipelines.values(), self._pipeline(PLATFORM_PIPELINE_ID))
        ]
        notice = Step(level=3, notify=rule.notify, wait=timedelta(minutes=1))
        with self.engine.begin() as connection:
            breached = store.past_resolution_deadline(connection, deadlines, RESOLUTION_SLA_BREACHED)
            writes = store.Writes(at)
            groups: dict[tuple, list] = {}
            for incident in breached:
                groups.setdefault((incident.pipeline_id, incident.failure_class, incident.severity), []).append(incident)
            for (pipeline_id, failure_class, severity), members in groups.items():
                pipeline = self._pipeline(pipeline_id)
                targets = resolve_step(notice, pipeline, FailureClass(failure_class), oncall, self.registry, policy,
                                       severity=severity)
                sla = (format_duration(policy.resolution_sla_of(pipeline, severity))
                       + (" or by the month end" if pipeline.resolve_by_month_end else ""))
                recipients = ", ".join(f"{r.name} ({r.role})" for r in targets.recipients) or "nobody"
                for incident in members:
                    writes.event(incident.id, RESOLUTION_SLA_BREACHED,
                                 f"not resolved within the resolution SLA of a {severity or 'major'} issue ({sla}): "
                                 f"reported to {recipients}",
                                 level=notice.level, data={"recipients": [r.id for r in targets.recipients],
                                                           "resolution_sla": sla})
                    for gap in targets.gaps:
                        writes.event(incident.id, "gap", f"resolution SLA notice: {gap}", level=notice.level)
                headline = f"Not resolved within the resolution SLA of {pipeline.title} ({sla})."
                self._enqueue_pages(writes, members, pipeline, PageStep(-1, 0, notice.level, tuple(targets.recipients)),
                                    key="resolution-sla", subject_prefix="[RESOLUTION SLA BREACHED] ", headline=headline)
            writes.flush(connection)
        return len(breached)

    def deliver(self, *, at: datetime | None = None, incident_id: int | None = None) -> DeliveryReport:
        at = _aware(at)
        return deliver_due(self.engine, at, from_email=self.policy.notifications.from_email, backoff=self.backoff,
                           incident_id=incident_id, wall_clock=utcnow(),
                           time_budget=self.policy.notifications.delivery_time_budget)

    # --- shift notices --------------------------------------------------------------------------

    def _shift_notices(self, at: datetime, report: TickReport) -> int:
        """Hand-off notices for shift changes since the last tick (to people coming on and going off)."""
        schedule = self.schedule
        if schedule is None or not hasattr(schedule, "handoffs"):
            return 0
        from ..oncall import store as oncall_store
        from .notices import handoff_notices, queue_email

        with self.engine.begin() as connection:
            last = store.get_state(connection, "handoffs_checked_until")
            # After an engine outage, hand-offs older than an hour are history, not news.
            since = max(datetime.fromisoformat(last), at - NOTICE_HORIZON) if last else at
            try:
                notices = handoff_notices(schedule, self.registry, since, at)
            except Exception as exc:  # noqa: BLE001 - a broken schedule must not stop escalation
                report.errors.append(f"hand-off notices: {type(exc).__name__}: {exc}")
                return 0
            added = 0
            rotation = getattr(getattr(schedule, "rotation", None), "id", None)
            for notice in notices:
                if notice.purpose == "shift_change" and rotation is not None and \
                        not oncall_store.record_notice(connection, rotation, notice.key, notice.recipient.id, notice.purpose, at):
                    continue  # this person was told of this change already (oncall_notices_sent)
                added += queue_email(connection, notice, self.policy.notifications.smtp_conn_id, at)
            store.set_state(connection, "handoffs_checked_until", at.isoformat())
        return added

    # --- people acting on incidents ---------------------------------------------------------------

    def acknowledge(self, incident_id: int, user: str, note: str | None = None, *, at: datetime | None = None) -> store.Incident:
        """Stop escalation. A failure mode with a `handover` route is offered to `user` on the
        timeline as a one-command escalation to the route's team."""
        at = _aware(at)
        with self.engine.begin() as connection:
            self._acknowledge(connection, incident_id, user, note or "acknowledged; escalation stopped", at)
            return store.load_incident(connection, incident_id, with_timeline=True)

    def _acknowledge(self, connection, incident_id: int, user: str, message: str, at: datetime, data: dict | None = None) -> None:
        store.acknowledge(connection, incident_id, user, at)
        store.add_event(connection, incident_id, at, "acknowledged", message, actor=user, data=data)
        handover = self.handover_for(store.load_incident(connection, incident_id))
        if handover is not None:
            store.add_event(connection, incident_id, at, "handover_offered",
                            f"{handover['title']}: the runbook hands this to {handover['team_name']} once data "
                            f"engineering looked: {handover['command']}", data=handover)

    def act_by_link(self, incident_id: int, recipient_id: str, action: str, nonce: str, *,
                    at: datetime | None = None) -> store.Incident:
        """Acknowledge or resolve as `recipient_id` through a signed link from a page (verified by
        the caller, `action_links.verify`), in one transaction with marking its `nonce` used:
        a used link raises `ActionLinkUsed`, a state that does not allow the action
        `IncidentStateError`, and either way nothing changes. The timeline says "via link"."""
        at = _aware(at)
        data = {"via": "link"}
        with self.engine.begin() as connection:
            if not store.use_action_link(connection, nonce, incident_id=incident_id, recipient=recipient_id,
                                         action=action, at=at):
                raise store.ActionLinkUsed(f"this {action} link was used already")
            if action == ACKNOWLEDGE:
                self._acknowledge(connection, incident_id, recipient_id,
                                  f"acknowledged by {recipient_id} via link; escalation stopped", at, data)
            elif action == RESOLVE:
                store.resolve(connection, incident_id, recipient_id, at)
                store.add_event(connection, incident_id, at, "resolved", f"resolved by {recipient_id} via link",
                                actor=recipient_id, data=data)
            else:
                raise ValueError(f"unknown link action {action!r}")
            return store.load_incident(connection, incident_id, with_timeline=True)

    def action_link_used(self, nonce: str) -> bool:
        with self.engine.connect() as connection:
            return store.action_link_used(connection, nonce)

    def handover_for(self, incident) -> dict | None:
        """The `handover` route of the incident's failure mode, as {mode, title, team, team_name, command}."""
        mode = incident.failure_mode or incident.failure_class
        route = self.policy.routes.get(mode)
        if route is None or route.when != "handover":
            return None
        return {"mode": mode, "title": FAILURE_MODES.get(mode, mode), "team": route.team,
                "team_name": self.registry.teams[route.team].name,
                "command": f"techflow-ops incidents escalate {incident.id} --to {mode} --user <you>"}

    def escalate(self, incident_id: int, to: str, user: str, note: str | None = None, *,
                 at: datetime | None = None, deliver: bool = True) -> store.Incident:
        """Page `to` about the incident now, by hand: `team:<id>`, `person:<id>`, or a failure mode
        with a route (its team). Recorded on the timeline; the policy's own steps are unchanged."""
        at = _aware(at)
        registry, policy = self.registry, self.policy
        target = self._manual_target(to)
        with self.engine.begin() as connection:
            incident = store.load_incident(connection, incident_id)
            if incident.status == store.RESOLVED:
                raise store.IncidentStateError(f"incident {incident_id} is resolved: nothing to escalate")
            pipeline = self._pipeline(incident.pipeline_id)
            step = Step(level=max(incident.level, 1), notify=[target], wait=timedelta(minutes=1))
            targets = resolve_step(step, pipeline, FailureClass(incident.failure_class), read_oncall(self.schedule, at),
                                   registry, policy, severity=incident.severity)
            if not targets.recipients:
                raise store.IncidentStateError(f"{to} reaches nobody now: " + "; ".join(targets.skipped + targets.gaps))
            role = f"escalated by {user}" + (f": {note}" if note else "")
            recipients = tuple(replace(r, role=role) for r in targets.recipients)
            count = sum(1 for e in store.load_incident(connection, incident_id, with_timeline=True).timeline
                        if e["kind"] == "escalated_manually")
            store.add_event(connection, incident_id, at, "escalated_manually",
                            f"{user} escalated to " + ", ".join(f"{r.name}" for r in recipients) + (f": {note}" if note else ""),
                            actor=user, level=step.level, data={"to": to, "recipients": [r.id for r in recipients]})
            for skip in targets.skipped:
                store.add_event(connection, incident_id, at, "skipped_person", f"manual escalation: {skip}")
            writes = store.Writes(at)
            self._enqueue_pages(writes, [incident], pipeline, PageStep(-1, 0, step.level, recipients),
                                key=f"manual:{count}", subject_prefix="[ESCALATED] ",
                                headline=f"{user} escalated this incident to you" + (f": {note}" if note else "."))
            writes.flush(connection)
        if deliver:
            self.deliver(at=at, incident_id=incident_id)
        return self.get_incident(incident_id)

    def reassign(self, incident_id: int, to: str, user: str, note: str | None = None, *,
                 at: datetime | None = None, deliver: bool = True) -> store.Incident:
        """Make `to` (`person:<id>`) the incident's assignee and page them; recorded on the timeline."""
        at = _aware(at)
        kind, _, person_id = to.partition(":")
        if kind != "person" or person_id not in self.registry.people:
            raise ValueError(f"--to {to!r}: reassign takes person:<id> of a known person")
        with self.engine.begin() as connection:
            store.assign(connection, incident_id, person_id, at)
            store.add_event(connection, incident_id, at, "reassigned",
                            f"{user} assigned the incident to {self.registry.people[person_id].name}"
                            + (f": {note}" if note else ""), actor=user, data={"to": person_id})
        return self.escalate(incident_id, to, user, note or f"assigned to you by {user}", at=at, deliver=deliver)

    def _manual_target(self, to: str) -> str:
        kind, _, ident = to.partition(":")
        if kind == "team" and ident in self.registry.teams or kind == "person" and ident in self.registry.people:
            return to
        route = self.policy.routes.get(to)
        if route is not None:
            return f"team:{route.team}"
        raise ValueError(f"--to {to!r}: use team:<id>, person:<id> or a routed failure mode "
                         f"({', '.join(sorted(self.policy.routes))})")

    def resolve(self, incident_id: int, user: str, note: str | None = None, *, at: datetime | None = None) -> store.Incident:
        at = _aware(at)
        with self.engine.begin() as connection:
            store.resolve(connection, incident_id, user, at)
            store.add_event(connection, incident_id, at, "resolved", note or "resolved", actor=user)
            return store.load_incident(connection, incident_id, with_timeline=True)

    def record_success(self, *, dag_id: str, task_id: str | None, run_id: str | None,
                       at: datetime | None = None, run_started_at: datetime | None = None) -> list[int]:
        """Auto-resolve what a success of this task (task_id None: of this DAG run) proves fixed
        (see `store.resolve_succeeded`); return the ids."""
        at = _aware(at)
        with self.engine.begin() as connection:
            ids = store.resolve_succeeded(connection, dag_id=dag_id, task_id=task_id, run_id=run_id, at=at,
                                          run_started_at=_aware(run_started_at) if run_started_at else None)
            what = f"task {task_id}" if task_id else f"DAG {dag_id}"
            for incident_id in ids:
                store.add_event(connection, incident_id, at, "resolved",
                                f"auto-resolved: {what} succeeded in run {run_id}", actor="auto", data={"run_id": run_id})
            return ids

    # --- reading ------------------------------------------------------------------------------------

    def list_incidents(self, *, status: str | None = None, pipeline_id: str | None = None, limit: int = 100,
                       offset: int = 0) -> list[store.Incident]:
        with self.engine.connect() as connection:
            return store.query_incidents(connection, status=status, pipeline_id=pipeline_id, limit=limit, offset=offset)

    def unresolved_by_dedup_key(self, dedup_key: str) -> store.Incident | None:
        """The open or acknowledged incident with this dedup key (a resolved one frees it)."""
        with self.engine.connect() as connection:
            return store.unresolved_by_dedup_key(connection, dedup_key)

    def get_incident(self, incident_id: int) -> store.Incident:
        with self.engine.connect() as connection:
            return store.load_incident(connection, incident_id, with_timeline=True)

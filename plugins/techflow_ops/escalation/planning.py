"""What firing an incident's due policy step does, as plain values: the timeline events, the
state after, and who is paged. Pure: no database, no clock, no Airflow; the orchestrator
applies a plan to every incident in the same state."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple

from ..failures import FAILURE_MODES, FailureClass
from .policy import (
    EscalationConfig,
    OnCallView,
    PolicySpec,
    Recipient,
    Step,
    effective_wait,
    recipient_keys,
    resolve_step,
)


class StepState(NamedTuple):
    """The part of an incident that decides what firing its next step does."""

    pipeline_id: str
    step_index: int
    cycle: int
    level: int
    failure_class: str
    failure_mode: str
    severity: str | None


class PlannedEvent(NamedTuple):
    kind: str
    message: str
    level: int | None
    data: str  # JSON, serialised once for every incident the plan applies to


@dataclass(frozen=True)
class PageStep:
    index: int  # -1: a page outside the policy's steps (a resolution SLA notice)
    cycle: int
    level: int
    recipients: tuple[Recipient, ...]


@dataclass(frozen=True)
class StepPlan:
    """What firing the due step does to an incident in a given state at a given instant."""

    pipeline: object
    events: tuple[PlannedEvent, ...]
    step_index: int  # the state after firing
    cycle: int
    level: int
    next_step_at: datetime | None
    page: PageStep | None  # None: the policy is exhausted


def plan_step(pipeline, spec: PolicySpec, config: EscalationConfig, registry, failure_class: FailureClass, *,
              step_index: int, cycle: int, level: int, at: datetime, oncall: OnCallView,
              failure_mode: str | None = None, severity: str | None = None) -> StepPlan:
    """Fire the step at `step_index` of pass `cycle`, skipping steps that reach nobody, repeating
    the policy when a pass ends and passes remain. Nobody reached earlier in the same pass is
    paged again (earlier steps are resolved again at `at`); the team of the failure mode's
    `immediately` route hears with the incident's first page and counts as reached in pass 1."""
    events: list[PlannedEvent] = []
    fyi = immediate_recipients(pipeline, failure_class, failure_mode, oncall, registry, config)
    opening = step_index == 0 and cycle == 0

    def event(kind: str, message: str, level: int | None = None, data: dict | None = None) -> None:
        events.append(PlannedEvent(kind, message, level, json.dumps(data or {}, default=str)))

    def reached_before(index: int) -> frozenset[str]:
        paged = recipient_keys(fyi) if cycle == 0 else frozenset()
        for earlier in spec.steps[:index]:
            targets = resolve_step(earlier, pipeline, failure_class, oncall, registry, config, severity=severity,
                                   paged=paged)
            paged |= recipient_keys(targets.recipients)
        return paged

    # Bounded: at most every step of every allowed pass is looked at once.
    for _ in range(len(spec.steps) * (spec.repeat + 1) + 1):
        if step_index >= len(spec.steps):
            if cycle >= spec.repeat:
                event("exhausted", f"escalation policy exhausted after {cycle + 1} pass(es); incident stays open",
                      level=level)
                return StepPlan(pipeline, tuple(events), step_index, cycle, level, None, None)
            step_index, cycle = 0, cycle + 1
            event("repeated", f"not acknowledged: repeating the policy (pass {cycle + 1} of {spec.repeat + 1})")
        step = spec.steps[step_index]
        targets = resolve_step(step, pipeline, failure_class, oncall, registry, config, severity=severity,
                               paged=reached_before(step_index))
        for gap in targets.gaps:
            event("gap", f"step {step_index + 1} (level {step.level}): {gap}", level=step.level,
                  data={"step": step_index, "cycle": cycle})
        for skip in targets.skipped:
            event("skipped_person", f"step {step_index + 1} (level {step.level}): {skip}", level=step.level,
                  data={"step": step_index, "cycle": cycle})
        if not targets.recipients:
            event("skipped", f"step {step_index + 1} (level {step.level}) reaches nobody: skipped without waiting",
                  level=step.level, data={"step": step_index, "cycle": cycle, "notify": step.notify})
            step_index += 1
            continue
        recipients = list(targets.recipients) + (fyi if opening else [])
        if step.level > level and level > 0:
            event("escalated", f"escalated to level {step.level}", level=step.level)
        level = max(level, step.level)
        wait = effective_wait(step, pipeline, oncall, config)
        next_at = at + wait
        event(
            "paged",
            f"step {step_index + 1} (level {step.level}): paged "
            + ", ".join(f"{r.name} ({r.role})" for r in recipients)
            + f"; next step at {next_at.isoformat()} unless acknowledged"
            + (" (investor-period wait)" if wait != step.wait else ""),
            level=step.level,
            data={"step": step_index, "cycle": cycle, "recipients": [r.id for r in recipients],
                  "wait_seconds": wait.total_seconds()},
        )
        page = PageStep(step_index, cycle, step.level, tuple(recipients))
        return StepPlan(pipeline, tuple(events), step_index + 1, cycle, level, next_at, page)
    raise RuntimeError(f"pipeline {pipeline.id}: policy loop did not terminate")  # unreachable by construction


def immediate_recipients(pipeline, failure_class: FailureClass, failure_mode: str | None, oncall: OnCallView,
                         registry, config: EscalationConfig) -> list[Recipient]:
    """The team of the failure mode's `immediately` route, as FYI recipients (no acknowledgement)."""
    mode = failure_mode or failure_class.value
    route = config.routes.get(mode)
    if route is None or route.when != "immediately":
        return []
    role = (f"FYI, no acknowledgement needed: {FAILURE_MODES.get(mode, mode)} goes to "
            f"{registry.teams[route.team].name} at once")
    fyi = Step(level=1, notify=[f"team:{route.team}"], wait=timedelta(minutes=1))
    targets = resolve_step(fyi, pipeline, failure_class, oncall, registry, config)
    return [replace(r, role=role) for r in targets.recipients]


def level_one_order(pipeline, config: EscalationConfig, registry, oncall: OnCallView) -> list[str]:
    """Who the level-1 steps of the pipeline's policy reach at this instant, in paging order:
    the same resolution the engine pages with (investor-period steps, vacations, no repeats)."""
    spec = config.policy_for(pipeline, investor_period=oncall.in_investor_period)
    order: list[str] = []
    paged: frozenset[str] = frozenset()
    for step in spec.steps:
        if step.level != 1:
            continue
        targets = resolve_step(step, pipeline, FailureClass.task_error, oncall, registry, config, paged=paged)
        paged |= recipient_keys(targets.recipients)
        order += [r.id for r in targets.recipients if r.kind == "person"]
    return order

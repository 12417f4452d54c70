"""What firing an incident's due policy step does, as plain values: the timeline events, the
state after, and who is paged. Pure: no database, no clock, no Airflow; the orchestrator
applies a plan to every incident in the same state."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from ..failures import FailureClass
from .policy import EscalationConfig, OnCallView, PolicySpec, Recipient, effective_wait, resolve_step


class StepState(NamedTuple):
    """The part of an incident that decides what firing its next step does."""

    pipeline_id: str
    step_index: int
    cycle: int
    level: int
    failure_class: str


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
              step_index: int, cycle: int, level: int, at: datetime, oncall: OnCallView) -> StepPlan:
    """Fire the step at `step_index` of pass `cycle`, skipping steps that reach nobody, repeating
    the policy when a pass ends and passes remain."""
    events: list[PlannedEvent] = []

    def event(kind: str, message: str, level: int | None = None, data: dict | None = None) -> None:
        events.append(PlannedEvent(kind, message, level, json.dumps(data or {}, default=str)))

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
        targets = resolve_step(step, pipeline, failure_class, oncall, registry, config)
        for gap in targets.gaps:
            event("gap", f"step {step_index + 1} (level {step.level}): {gap}", level=step.level,
                  data={"step": step_index, "cycle": cycle})
        if not targets.recipients:
            event("skipped", f"step {step_index + 1} (level {step.level}) reaches nobody: skipped without waiting",
                  level=step.level, data={"step": step_index, "cycle": cycle, "notify": step.notify})
            step_index += 1
            continue
        if step.level > level and level > 0:
            event("escalated", f"escalated to level {step.level}", level=step.level)
        level = max(level, step.level)
        wait = effective_wait(step, pipeline, oncall, config)
        next_at = at + wait
        event(
            "paged",
            f"step {step_index + 1} (level {step.level}): paged "
            + ", ".join(f"{r.name} ({r.role})" for r in targets.recipients)
            + f"; next step at {next_at.isoformat()} unless acknowledged"
            + (" (investor-period wait)" if wait != step.wait else ""),
            level=step.level,
            data={"step": step_index, "cycle": cycle, "recipients": [r.id for r in targets.recipients],
                  "wait_seconds": wait.total_seconds()},
        )
        page = PageStep(step_index, cycle, step.level, tuple(targets.recipients))
        return StepPlan(pipeline, tuple(events), step_index + 1, cycle, level, next_at, page)
    raise RuntimeError(f"pipeline {pipeline.id}: policy loop did not terminate")  # unreachable by construction

"""Ownership and operations facts of a pipeline, in the terms catalogs read.

Typed owners follow OpenLineage's recommendation for owner names (`user:<id>`, `team:<id>`);
the types say which role each holds. The operations block is what the `techflowOperations`
facet carries: tier, investor-facing, SLAs, runbook and failure-mode anchors, the on-call
rotation and the escalation routes. Pure Python over the registry, the on-call schedule and
the escalation policy: nothing here knows Airflow or OpenLineage's classes, so the CLI
export and the lineage facets are built from the same facts.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone

from ..escalation.policy import get_policy
from ..links import runbook_url
from ..registry import Pipeline, Registry, format_duration
from ..runbooks.catalogue import required_issues
from ..runbooks.facts import pipeline_failure_modes

log = logging.getLogger(__name__)

PRIMARY_OWNER = "PRIMARY_OWNER"
SECONDARY_OWNER = "SECONDARY_OWNER"
BUSINESS_OWNER = "BUSINESS_OWNER"
ONCALL = "ONCALL"
OWNER_TYPES = (PRIMARY_OWNER, SECONDARY_OWNER, BUSINESS_OWNER, ONCALL)


@dataclass(frozen=True)
class TypedOwner:
    name: str  # `user:<person id>` or `team:<team id>`
    type: str  # one of OWNER_TYPES
    display_name: str
    email: str | None = None

    @property
    def kind(self) -> str:
        return self.name.partition(":")[0]

    @property
    def id(self) -> str:
        return self.name.partition(":")[2]

    def as_dict(self) -> dict:
        return asdict(self)


def user(person_id: str) -> str:
    return f"user:{person_id}"


def team(team_id: str) -> str:
    return f"team:{team_id}"


def oncall_primary(at: datetime) -> str | None:
    """The person on call as primary at `at`, or None when nobody is (a gap) or the schedule
    cannot be read: an on-call problem must never cost the rest of the ownership."""
    try:
        from ..oncall import get_schedule_service

        return get_schedule_service().now(at).primary
    except Exception:  # reported, and the owners without on-call still stand
        log.warning("lineage: could not read who is on call at %s", at, exc_info=True)
        return None


def rotation_id() -> str | None:
    try:
        from ..oncall import get_schedule_service

        return get_schedule_service().rotation.id
    except Exception:  # as in oncall_primary
        log.warning("lineage: could not read the on-call rotation", exc_info=True)
        return None


def owners(pipeline: Pipeline, registry: Registry, *, oncall: str | None = None) -> list[TypedOwner]:
    """Primary and secondary owner, the business owner team and, given, the on-call primary
    (a person may appear twice, e.g. as owner and on call: each entry is one role)."""

    def person(person_id: str, kind: str) -> TypedOwner:
        p = registry.person(person_id)
        return TypedOwner(user(p.id), kind, p.name, p.email)

    business = registry.team(pipeline.business_owner_team)
    found = [
        person(pipeline.owners.primary, PRIMARY_OWNER),
        person(pipeline.owners.secondary, SECONDARY_OWNER),
        TypedOwner(team(business.id), BUSINESS_OWNER, business.name, _team_email(business)),
    ]
    if oncall:
        found.append(person(oncall, ONCALL))
    return found


def _team_email(team_model) -> str | None:
    return next((c.target for c in team_model.contact if c.type == "email"), None)


def iso_duration(delta: timedelta) -> str:
    """ISO 8601 duration, what other tools parse beside our short form: whole weeks as days
    (`P7D`), anything shorter in hours (`PT24H`, `PT1H30M`), as the config states SLAs."""
    seconds = int(delta.total_seconds())
    if seconds and seconds % 604800 == 0:
        return f"P{seconds // 86400}D"
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return "PT" + ("".join(f"{value}{unit}" for value, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if value) or "0S")


def _sla(delta: timedelta) -> dict:
    return {"duration": iso_duration(delta), "text": format_duration(delta)}


def operations(pipeline: Pipeline, registry: Registry, *, at: datetime | None = None,
               oncall: str | None = None) -> dict:
    """The `techflowOperations` facet's fields (camelCase, as OpenLineage facets name them).
    `oncall` is the on-call primary at `at` (looked up when not given)."""
    at = at or datetime.now(timezone.utc)
    if oncall is None:
        oncall = oncall_primary(at)
    policy = get_policy(registry.config_dir)
    spec = policy.policy_for(pipeline)
    modes = pipeline_failure_modes(pipeline)
    return {
        "pipelineId": pipeline.id,
        "title": pipeline.title,
        "businessArea": pipeline.business_area,
        "tier": pipeline.criticality.tier,
        "criticality": pipeline.criticality.value,
        "investorFacing": pipeline.investor_facing,
        "freshnessSla": _sla(pipeline.freshness_sla),
        "resolutionSla": {**_sla(pipeline.resolution_sla), "byMonthEnd": pipeline.resolve_by_month_end},
        "runbook": {
            "url": runbook_url(pipeline.id),
            "path": pipeline.runbook,
            "failureModes": [{"anchor": anchor, "url": runbook_url(pipeline.id, anchor), "why": why}
                             for anchor, why in required_issues(pipeline)],
        },
        "oncall": {"rotationId": rotation_id(), "primary": user(oncall) if oncall else None,
                   "at": at.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")},
        "escalation": {
            "repeat": spec.repeat,
            "steps": [{"level": step.level, "notify": list(step.notify), "wait": iso_duration(step.wait)}
                      for step in spec.steps],
            "routes": [{"failureMode": mode, "team": team(policy.routes[mode].team), "when": policy.routes[mode].when}
                       for mode in modes if mode in policy.routes],
        },
    }

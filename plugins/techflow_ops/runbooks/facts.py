"""The generated blocks: facts the code owns, rendered into each runbook.

Every block is a pure function of the registry and the code (failure classes, escalation
policy, quality suites), so `techflow-ops runbooks generate` is deterministic and
`techflow-ops runbooks check` can compare a file against a fresh rendering. Facts another
area has not published yet are stated as absent, never typed in by hand.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ..failures import failure_classes_for
from ..registry import Pipeline, Registry, format_duration


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def _person(registry: Registry, person_id: str) -> str:
    person = registry.people.get(person_id)
    if person is None:
        team = registry.teams.get(person_id)
        return team.name if team else person_id
    extras = [person.title] if person.title else []
    extras.append(person.email)
    if person.slack:
        extras.append(f"Slack {person.slack}")
    return f"{person.name} ({', '.join(extras)})"


def _team(registry: Registry, team_id: str) -> str:
    team = registry.teams[team_id]
    lead = f"lead {registry.people[team.lead].name}" if team.lead in registry.people else None
    contacts = [c.target for c in team.contact]
    detail = "; ".join(part for part in (lead, ", ".join(contacts)) if part)
    return f"{team.name} ({detail})" if detail else team.name


def _runbook_link(registry: Registry, pipeline_id: str, anchor: str | None = None) -> str:
    target = registry.pipelines[pipeline_id].runbook.rsplit("/", 1)[-1]
    return f"[{registry.pipelines[pipeline_id].title}]({target}{'#' + anchor if anchor else ''})"


def render_details(registry: Registry, pipeline: Pipeline) -> list[str]:
    if pipeline.schedule:
        trigger = f"`{pipeline.schedule}`"
    else:
        trigger = "when the assets of " + ", ".join(_runbook_link(registry, up) for up in pipeline.upstream) + " are updated"
    outputs = "<br>".join(
        f"`{o.table}` ({o.grain}{', for ' + ', '.join(o.consumers) if o.consumers else ''}): {o.description}"
        for o in pipeline.outputs
    )
    downstream = registry.downstream_of(pipeline.id)
    rows = [
        ("Pipeline", f"{pipeline.title} (DAG id `{pipeline.dag_id}`)"),
        ("Purpose", pipeline.description),
        ("Schedule", trigger),
        ("Criticality", pipeline.criticality.value),
        ("Investor-facing", _yes_no(pipeline.investor_facing)),
        ("Primary owner", _person(registry, pipeline.owners.primary)),
        ("Secondary owner", _person(registry, pipeline.owners.secondary)),
        ("Business owner team", _team(registry, pipeline.business_owner_team)),
        ("Stakeholders", "; ".join(_person(registry, s) for s in pipeline.stakeholders) or "none"),
        ("Consumers", ", ".join(pipeline.consumers) or "none"),
        ("Sources", ", ".join(pipeline.sources) if pipeline.sources else "the upstream pipelines' outputs"),
        ("Outputs", outputs),
        ("Infrastructure", ", ".join(pipeline.infrastructure) or "warehouse only"),
        ("Feeds", ", ".join(_runbook_link(registry, d.id) for d in downstream) or "nothing downstream"),
    ]
    return ["| Fact | Value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]


def render_sla(registry: Registry, pipeline: Pipeline) -> list[str]:
    lines = [
        f"- **Freshness:** data at most {format_duration(pipeline.freshness_sla)} old.",
        f"- **Resolution:** issues resolved within {format_duration(pipeline.resolution_sla)}"
        + ("; investor-report issues fixed before the end of the month." if pipeline.resolve_by_month_end else "."),
    ]
    if pipeline.targets:
        lines.append("- **Targets:** " + ", ".join(f"`{name}` = {value:g}" for name, value in sorted(pipeline.targets.items())) + ".")
    else:
        lines.append("- **Targets:** none set in `include/config/pipelines.yaml`.")
    return lines


def _optional_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and name.startswith(exc.name):
            return None
        raise


def render_monitoring(registry: Registry, pipeline: Pipeline) -> list[str]:
    lines = ["Failure classes escalation reports for this pipeline, each with its section below:", ""]
    lines += [f"- `{fc.value}`: [{fc.title}](#{fc.anchor})" for fc in failure_classes_for(pipeline)]
    return lines


def render_escalation(registry: Registry, pipeline: Pipeline) -> list[str]:
    return ["Escalation policy: not published by `techflow_ops.escalation` yet."]


BLOCK_RENDERERS: dict[str, Callable[[Registry, Pipeline], list[str]]] = {
    "details": render_details,
    "sla": render_sla,
    "monitoring": render_monitoring,
    "escalation": render_escalation,
}


def render_block(name: str, registry: Registry, pipeline: Pipeline) -> list[str]:
    return BLOCK_RENDERERS[name](registry, pipeline)

"""The generated blocks: facts the code owns, rendered into each runbook.

Every block is a pure function of the registry and the code (failure classes, escalation
policy, quality suites), so `techflow-ops runbooks generate` is deterministic and
`techflow-ops runbooks check` can compare a file against a fresh rendering. Facts another
area has not published yet are stated as absent, never typed in by hand.
"""

from __future__ import annotations

from collections.abc import Callable

from ..escalation import callbacks, policy
from ..failures import FAILURE_MODES, failure_classes_for
from ..quality import breaker, suites
from ..registry import Pipeline, Registry, format_duration
from .catalogue import check_section


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


def failure_class_title(failure_class) -> str:
    """The title of a failure class's runbook section, from its anchor: `sla-miss` -> `SLA miss`."""
    return failure_class.anchor.replace("-", " ").capitalize().replace("Sla ", "SLA ")


def _first_sentence_of(doc: str | None) -> str | None:
    doc = " ".join((doc or "").split())
    return doc.split(". ")[0].rstrip(".") + "." if doc else None


def _first_sentence(obj) -> str | None:
    return _first_sentence_of(type(obj).__doc__)


def _callback_lines(pipeline: Pipeline) -> list[str]:
    lines = []
    dag_hooks = callbacks.dag_hooks(pipeline, deadline=True)  # the deployed DAG, whatever this process's switches
    switch = _first_sentence_of(callbacks.deadline_alerts_enabled.__doc__)
    for deadline in dag_hooks.get("deadline") or []:  # Airflow takes a list of Deadline Alerts
        target = getattr(deadline.callback, "path", type(deadline.callback).__name__)
        lines.append(
            f"- **Deadline alert:** a run still unfinished {format_duration(deadline.interval)} after its deadline "
            f"reference (`{type(deadline.reference).__name__}`) calls `{target}`, which opens an incident "
            "classified `sla_miss` ([SLA miss](#sla-miss))." + (f" {switch}" if switch else "")
        )
    lines.append(
        f"- **Resolution SLA:** the escalation engine reports, once, every incident of this pipeline still "
        f"unresolved {format_duration(pipeline.resolution_sla)} after it opened"
        + (" or when the month it opened in has ended" if pipeline.resolve_by_month_end else "")
        + " (`resolution_sla` in `include/config/escalation.yaml` says to whom; management by default)."
    )
    hooks = [("task", name, cb) for name, cbs in callbacks.task_hooks(pipeline.id).items() for cb in cbs]
    hooks += [("DAG run", name, cb) for name, cbs in dag_hooks.items() if name.endswith("_callback") for cb in cbs]
    for scope, name, callback in hooks:
        doc = _first_sentence(callback)
        lines.append(f"- **{scope} `{name}`:** `{type(callback).__name__}`" + (f": {doc}" if doc else "."))
    return lines


def _quality_lines(pipeline: Pipeline) -> list[str]:
    lines = []
    if pipeline.upstream:
        lines += [f"**Circuit breaker** (`techflow_ops.quality.breaker`): {_first_sentence_of(breaker.__doc__)} "
                  "It reads the latest results of: "
                  + "; ".join(f"{up}: " + ", ".join(f"`{s.dataset}`" for s in suites.suites_for(up)) for up in pipeline.upstream)
                  + ". A stop is reported as [Stale upstream](#stale-upstream).", ""]
    own = suites.suites_for(pipeline.id)
    if not own:
        return lines + ["No data-quality suite is defined for this pipeline's datasets."]
    lines += [
        "Data-quality checks (`techflow_ops.quality.suites`; source datasets are validated after ingest, "
        "outputs before publish; a critical failure fails the run and pages, a warning is recorded and shown):",
        "",
        "| Dataset | Check | Severity | What it checks | Diagnose in |",
        "|---|---|---|---|---|",
    ]
    for suite in own:
        for check in suite.checks:
            what = check.description
            if check.target or check.threshold is not None:
                threshold = pipeline.targets.get(check.target, check.threshold) if check.target else check.threshold
                what += f" (threshold {threshold:g}" + (f", target `{check.target}`" if check.target else "") + ")"
            anchor = check_section(suite.dataset, check.name)
            lines.append(
                f"| `{suite.dataset}` ({suite.role}, {suite.grain.value}) | `{check.name}` | {check.severity.value} | "
                f"{what} | [{anchor}](#{anchor}) |"
            )
    return lines


def render_monitoring(registry: Registry, pipeline: Pipeline) -> list[str]:
    lines = ["Failure classes escalation reports for this pipeline, each with its section below:", ""]
    lines += [f"- `{fc.value}`: [{failure_class_title(fc)}](#{fc.anchor})" for fc in failure_classes_for(pipeline)]
    lines += ["", *_quality_lines(pipeline)]
    lines += ["", "Callbacks and deadline alert of the DAG (from `techflow_ops.escalation.callbacks`):", ""]
    lines += _callback_lines(pipeline)
    return lines


def render_escalation(registry: Registry, pipeline: Pipeline) -> list[str]:
    config = policy.load_policy(registry.config_dir, registry)
    spec = config.policy_for(pipeline)
    classes = failure_classes_for(pipeline)
    infra_classes = [fc for fc in config.infrastructure.failure_classes if fc in classes]
    nobody_on_call = policy.OnCallView(primary=None, secondary=None, in_investor_period=False)
    factor = config.investor_period.wait_factor if pipeline.investor_facing else None
    wait_header = "Wait before the next step" + (" (investor-report period)" if factor else "")
    lines = [f"| Step | Level | Who is paged | {wait_header} |", "|---|---|---|---|"]
    for number, step in enumerate(spec.steps, start=1):
        who: list[str] = []
        for target in step.notify:
            if target in ("oncall_primary", "oncall_secondary"):
                who.append(f"the on-call {target.split('_')[1]} of the schedule at that moment")
                continue
            if target == "infrastructure" and not infra_classes:
                continue  # this pipeline reports no failure class Infrastructure is paged for
            failure_class = infra_classes[0] if infra_classes else classes[0]
            single = policy.Step(level=step.level, notify=[target], wait=step.wait)
            for recipient in policy.resolve_step(single, pipeline, failure_class, nobody_on_call, registry, config).recipients:
                role = recipient.role
                if target == "infrastructure":
                    role = "infrastructure, only for " + ", ".join(f"[{failure_class_title(fc)}](#{fc.anchor})" for fc in infra_classes)
                who.append(f"{recipient.name} — {role}")
        wait = format_duration(step.wait) + (f" ({format_duration(step.wait * factor)})" if factor else "")
        lines.append(f"| {number} | {step.level} | {'<br>'.join(who) or 'nobody'} | {wait} |")
    lines.append("")
    lines.append("Nobody is paged twice in one pass. Someone on vacation is not paged in any role; for an engineer "
                 "the next one in rotation covers, and the skip is on the incident's timeline.")
    if spec.repeat:
        lines.append(f"After the last step the sequence starts again at step 1, {spec.repeat} more time(s), until someone acknowledges.")
    else:
        lines.append("After the last step nobody else is paged; the incident stays open until acknowledged.")
    if factor:
        lines.append(f"During the investor-report period every wait is multiplied by {factor:g} (this pipeline is investor-facing).")
        if config.investor_period.steps:
            lines += ["", "During the investor-report period this pipeline is paged by these steps instead:", ""]
            lines += [f"{number}. level {step.level}: " + ", ".join(f"`{t}`" for t in step.notify)
                      + f"; wait {format_duration(step.wait)} ({format_duration(step.wait * factor)})"
                      for number, step in enumerate(config.investor_period.steps, start=1)]
            lines += ["", "(`rotation`: every other engineer of the rotation, in its order; "
                          "`techflow-ops oncall now --pipeline " + pipeline.id + "` prints the order at any moment.)"]
    modes = pipeline_failure_modes(pipeline)
    routed = [(mode, config.routes[mode]) for mode in modes if mode in config.routes]
    if routed:
        lines += ["", "Who else hears, per failure mode (`routes` in escalation.yaml):", "",
                  "| Failure mode | Team | When |", "|---|---|---|"]
        for mode, route in routed:
            when = ("at once, with the first page (FYI, no acknowledgement)" if route.when == "immediately"
                    else f"after data engineering looked: hand over with `--to {mode}` (incidents escalate)")
            lines.append(f"| `{mode}`: {FAILURE_MODES[mode]} | {registry.teams[route.team].name} | {when} |")
    severities = sorted({config.severity_of(pipeline, mode, investor_period=False) for mode in modes},
                        key=policy.SEVERITIES.index)
    lines += ["", "Severity: " + ", ".join(severities) + " outside the investor-report period"
              + (", one level higher in it" if pipeline.investor_facing and config.investor_period.raises_severity else "")
              + "; critical issues are resolved within "
              + format_duration(config.resolution_sla_of(pipeline, "critical")) + ", others within "
              + format_duration(pipeline.resolution_sla) + "."]
    return lines


def render_contracts(registry: Registry, pipeline: Pipeline) -> list[str]:
    """The record contract of each landing source the pipeline reads (`pipelines.contracts`)."""
    from ..pipelines.contracts import CONTRACT_VERSION, contract_for  # pydantic schemas: only when rendering

    if not pipeline.sources:
        upstream = ", ".join(f"`{u}`" for u in pipeline.upstream) or "no pipeline"
        return [f"This pipeline reads no landing source: its inputs are the published outputs of {upstream}."]
    example = pipeline.sources[0]
    lines = [f"Landing records are typed by the data contracts (version {CONTRACT_VERSION}). "
             f"`techflow-ops data check-records {example} export.jsonl` types a file without loading it; "
             f"`techflow-ops data contracts {example} --format json` prints the JSON Schema."]
    for source in pipeline.sources:
        contract = contract_for(source)
        key = f", stored as `{contract.key_column}`" if contract.key_column else ""
        lines += ["", f"`{source}` ({contract.description}; identity: {', '.join(contract.identity)}{key}):", "",
                  "| Field | Type | Required | Staging column |", "|---|---|---|---|"]
        for name, spec in contract.fields().items():
            schema = spec["schema"]
            kind = schema.get("format") or schema.get("type") or "text or null"
            if schema.get("pattern"):
                kind += f" `{schema['pattern']}`"
            lines.append(f"| {name} | {kind} | {_yes_no(spec['required'])} | `{contract.table}.{spec['column']}` |")
    lines += ["", "Fields a record carries beyond these are kept in the staging row's `raw` (JSON); a record "
                  "missing a required field or with a wrong type goes to `rejects`, naming the field and value."]
    return lines


def pipeline_failure_modes(pipeline: Pipeline) -> list[str]:
    """The failure modes the pipeline can report: those of its quality checks, then its classes'."""
    modes: list[str] = []
    for suite in suites.suites_for(pipeline.id):
        for check in suite.checks:
            mode = suite.mode_of(check.name)
            if mode not in modes:
                modes.append(mode)
    for failure_class in failure_classes_for(pipeline):
        if failure_class.value not in modes:
            modes.append(failure_class.value)
    return modes


BLOCK_RENDERERS: dict[str, Callable[[Registry, Pipeline], list[str]]] = {
    "details": render_details,
    "sla": render_sla,
    "monitoring": render_monitoring,
    "escalation": render_escalation,
    "contracts": render_contracts,
}


def render_block(name: str, registry: Registry, pipeline: Pipeline) -> list[str]:
    return BLOCK_RENDERERS[name](registry, pipeline)

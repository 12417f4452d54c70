"""The escalation policy (include/config/escalation.yaml) and who a policy step reaches.

Pure Python: the on-call schedule is passed in (anything with `now(at)`), so the policy can
be evaluated in a task process, the engine DAG, the CLI or a test with a fake clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from .. import settings
from ..failures import FAILURE_MODES, FailureClass
from ..registry import ConfigError, ConfigProblem, ContactMethod, Registry, get_registry, load_model
from ..registry.models import Criticality, Duration, Owners, StrictModel, TimeZoneName
from ..reloading import ReloadingCache

POLICY_FILE = "escalation.yaml"

TARGET_KINDS = (
    "oncall_primary", "oncall_secondary", "investor_watch", "rotation", "pipeline_owners", "pipeline_primary_owner",
    "pipeline_secondary_owner", "business_owner_team", "infrastructure", "management",
)
SEVERITIES = ("critical", "major", "minor")
Severity = Literal["critical", "major", "minor"]


def _target(value: str) -> str:
    if value in TARGET_KINDS:
        return value
    prefix, _, ident = value.partition(":")
    if prefix in ("person", "team") and ident:
        return value
    raise ValueError(f"unknown target; use one of {list(TARGET_KINDS)} or person:<id> / team:<id>")


Target = Annotated[str, AfterValidator(_target)]


class Step(StrictModel):
    level: Literal[1, 2, 3]
    notify: list[Target] = Field(min_length=1)
    wait: Duration

    @field_validator("wait")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("wait must be positive")
        return value


class PolicySpec(StrictModel):
    repeat: int = Field(default=0, ge=0, le=20)
    steps: list[Step] = Field(min_length=1)


class PolicyOverride(StrictModel):
    repeat: int | None = Field(default=None, ge=0, le=20)
    steps: list[Step] | None = Field(default=None, min_length=1)


class InvestorPeriod(StrictModel):
    wait_factor: float = Field(gt=0, le=1)
    # The policy of investor-facing pipelines during the investor-report period (default: their
    # usual one); waits are multiplied by `wait_factor` all the same.
    steps: list[Step] | None = Field(default=None, min_length=1)
    # An investor-facing failure in the period is one severity higher (minor -> major -> critical).
    raises_severity: bool = True


class Route(StrictModel):
    """Who the runbooks say hears of a failure mode besides data engineering, and when:
    `immediately` (an FYI in the first step, no acknowledgement needed) or `handover` (offered
    to whoever acknowledged, as `techflow-ops incidents escalate ID --to <mode>`)."""

    team: str
    when: Literal["immediately", "handover"]


class SeverityRule(StrictModel):
    """Matches when every given condition holds (none given: always)."""

    severity: Severity
    modes: list[str] | None = None
    criticality: list[Criticality] | None = None


class SeverityPolicy(StrictModel):
    rules: list[SeverityRule] = Field(default_factory=list)  # the first match wins
    default: Severity = "major"
    # Critical incidents are resolved within this, or the pipeline's own resolution SLA if shorter.
    critical_resolution: Duration = timedelta(hours=48)


class Infrastructure(StrictModel):
    team: str
    failure_classes: list[FailureClass]


class CfoFor(StrictModel):
    """The CFO is paged at level 3 for incidents of this severity of these business areas or pipelines."""

    business_areas: list[str] = Field(default_factory=list)
    pipelines: list[str] = Field(default_factory=list)
    severity: Severity = "critical"


class Management(StrictModel):
    de_lead: str
    ba_lead: str
    cfo: str
    cfo_for: CfoFor


class Backoff(StrictModel):
    first: Duration
    max: Duration


class ResolutionSla(StrictModel):
    """Who hears, once per incident, that an incident outlived its pipeline's resolution SLA
    (or the month end, for `resolve_by_month_end` pipelines), and in which timezone months end."""

    notify: list[Target] = Field(default_factory=lambda: ["management"], min_length=1)
    month_end_timezone: TimeZoneName = "America/New_York"


class Notifications(StrictModel):
    from_email: str = Field(min_length=3)
    smtp_conn_id: str = "smtp_default"
    slack_conn_id: str = "slack_default"
    pagerduty_conn_id: str = "pagerduty_default"
    error_lines: int = Field(default=8, ge=1, le=200)
    delivery_backoff: Backoff
    # How long one engine tick may spend delivering the outbox: a backlog drains in batches
    # until nothing is due or this is spent, leaving the one-minute tick time to finish.
    delivery_time_budget: Duration = timedelta(seconds=40)


PLATFORM_PIPELINE_ID = "platform"  # the pseudo-pipeline of platform incidents (no pipeline of pipelines.yaml)


class PlatformOwners(StrictModel):
    primary: str | None = None
    secondary: str | None = None


class Platform(StrictModel):
    """Who owns incidents about the platform itself (the watchdog's `platform_down`: scheduler,
    triggerer, escalation engine), which belong to no pipeline. They escalate through the same
    policy as a pipeline of this `criticality` would, with these owners (default: the DE lead
    and the infrastructure team's lead) and this team as the business owner team (default: the
    infrastructure team)."""

    title: str = "Airflow platform (scheduler, triggerer, escalation engine)"
    owners: PlatformOwners = PlatformOwners()
    team: str | None = None
    criticality: Criticality = Criticality.highest
    resolution_sla: Duration = timedelta(hours=4)
    runbook: str = "include/runbooks/platform.md"


@dataclass(frozen=True)
class PlatformPipeline:
    """Stands for a pipeline wherever escalation needs one (policy, planning, pages) for a
    platform incident; has the attributes of `registry.Pipeline` that escalation reads."""

    title: str
    owners: object
    business_owner_team: str
    criticality: Criticality
    resolution_sla: timedelta
    runbook: str
    id: str = PLATFORM_PIPELINE_ID
    description: str = "Airflow's scheduler, triggerer and the escalation engine DAG"
    business_area: str = "platform"
    investor_facing: bool = False
    resolve_by_month_end: bool = False
    upstream: tuple = ()
    stakeholders: tuple = ()
    infrastructure: tuple = ()

    @property
    def dag_id(self) -> str:
        return PLATFORM_PIPELINE_ID


class Watchdog(StrictModel):
    """`techflow-ops watchdog` (README "Watchdog"): how often it checks and when a check is stale."""

    interval: Duration = timedelta(seconds=60)
    heartbeat_threshold: Duration = timedelta(seconds=45)  # scheduler and triggerer heartbeats
    engine_threshold: Duration = timedelta(minutes=5)  # the escalation engine's last successful tick
    startup_grace: Duration = timedelta(minutes=3)  # after the watchdog starts: no platform page yet


class EscalationConfig(StrictModel):
    policy: PolicySpec
    tiers: dict[Criticality, PolicyOverride] = Field(default_factory=dict)
    pipelines: dict[str, PolicyOverride] = Field(default_factory=dict)
    investor_period: InvestorPeriod
    infrastructure: Infrastructure
    management: Management
    notifications: Notifications
    resolution_sla: ResolutionSla = ResolutionSla()
    routes: dict[str, Route] = Field(default_factory=dict)  # failure mode -> route
    severity: SeverityPolicy = SeverityPolicy()
    platform: Platform = Platform()
    watchdog: Watchdog = Watchdog()

    def platform_pipeline(self, registry) -> PlatformPipeline:
        """The pseudo-pipeline platform incidents escalate as (see `Platform`)."""
        team_id = self.platform.team or self.infrastructure.team
        team = registry.teams[team_id]
        owners = Owners(primary=self.platform.owners.primary or self.management.de_lead,
                        secondary=self.platform.owners.secondary or team.lead or team.members[0])
        return PlatformPipeline(title=self.platform.title, owners=owners, business_owner_team=team_id,
                                criticality=self.platform.criticality, resolution_sla=self.platform.resolution_sla,
                                runbook=self.platform.runbook)

    def policy_for(self, pipeline, *, investor_period: bool = False) -> PolicySpec:
        """Pipeline override, else tier override, else the default policy (field by field); for an
        investor-facing pipeline in the investor-report period, the period's steps if set."""
        repeat, steps = self.policy.repeat, self.policy.steps
        for override in (self.tiers.get(pipeline.criticality), self.pipelines.get(pipeline.id)):
            if override is None:
                continue
            repeat = override.repeat if override.repeat is not None else repeat
            steps = override.steps if override.steps is not None else steps
        if investor_period and pipeline.investor_facing and self.investor_period.steps:
            steps = self.investor_period.steps
        return PolicySpec(repeat=repeat, steps=steps)

    def severity_of(self, pipeline, failure_mode: str, *, investor_period: bool) -> str:
        """critical, major or minor: the first matching rule, raised one level for an
        investor-facing pipeline in the investor-report period."""
        severity = self.severity.default
        for rule in self.severity.rules:
            if ((rule.modes is None or failure_mode in rule.modes)
                    and (rule.criticality is None or pipeline.criticality in rule.criticality)):
                severity = rule.severity
                break
        if investor_period and pipeline.investor_facing and self.investor_period.raises_severity:
            severity = SEVERITIES[max(SEVERITIES.index(severity) - 1, 0)]
        return severity

    def resolution_sla_of(self, pipeline, severity: str | None) -> timedelta:
        if severity == "critical":
            return min(pipeline.resolution_sla, self.severity.critical_resolution)
        return pipeline.resolution_sla


def _cross_check(config: EscalationConfig, registry: Registry, path: Path, lines: dict[tuple, int]) -> list[ConfigProblem]:
    problems = []

    def problem(loc: tuple, readable: str, value, message: str) -> None:
        problems.append(ConfigProblem(str(path), readable, value, message, lines.get(loc)))

    def check_targets(targets: list[str], loc: tuple, readable: str) -> None:
        for ti, target in enumerate(targets):
            kind, _, ident = target.partition(":")
            if kind == "person" and ident not in registry.people:
                problem(loc + (ti,), f"{readable}[{ti}]", target, "unknown person")
            if kind == "team" and ident not in registry.teams:
                problem(loc + (ti,), f"{readable}[{ti}]", target, "unknown team")

    def check_steps(steps: list[Step], loc: tuple, readable: str) -> None:
        for si, step in enumerate(steps):
            check_targets(step.notify, loc + (si, "notify"), f"{readable}[{si}].notify")
        levels = [s.level for s in steps]
        if levels != sorted(levels):
            problem(loc, readable, levels, "step levels must not go down")

    check_steps(config.policy.steps, ("policy", "steps"), "policy.steps")
    if config.investor_period.steps:
        check_steps(config.investor_period.steps, ("investor_period", "steps"), "investor_period.steps")
    for mode, route in config.routes.items():
        if mode not in FAILURE_MODES:
            problem(("routes", mode), f"routes.{mode}", mode, f"unknown failure mode (known: {', '.join(sorted(FAILURE_MODES))})")
        if route.team not in registry.teams:
            problem(("routes", mode, "team"), f"routes.{mode}.team", route.team, "unknown team")
    for ri, rule in enumerate(config.severity.rules):
        for mi, mode in enumerate(rule.modes or []):
            if mode not in FAILURE_MODES:
                problem(("severity", "rules", ri, "modes", mi), f"severity.rules[{ri}].modes[{mi}]", mode, "unknown failure mode")
    for pi, pipeline_id in enumerate(config.management.cfo_for.pipelines):
        if pipeline_id not in registry.pipelines:
            problem(("management", "cfo_for", "pipelines", pi), f"management.cfo_for.pipelines[{pi}]", pipeline_id,
                    "unknown pipeline")
    check_targets(config.resolution_sla.notify, ("resolution_sla", "notify"), "resolution_sla.notify")
    for criticality, override in config.tiers.items():
        if override.steps:
            check_steps(override.steps, ("tiers", criticality.value, "steps"), f"tiers.{criticality.value}.steps")
    for pipeline_id, override in config.pipelines.items():
        if pipeline_id not in registry.pipelines:
            problem(("pipelines", pipeline_id), f"pipelines.{pipeline_id}", pipeline_id, "unknown pipeline")
        if override.steps:
            check_steps(override.steps, ("pipelines", pipeline_id, "steps"), f"pipelines.{pipeline_id}.steps")
    for role in ("primary", "secondary"):
        person = getattr(config.platform.owners, role)
        if person is not None and person not in registry.people:
            problem(("platform", "owners", role), f"platform.owners.{role}", person, "unknown person")
    if config.platform.team is not None and config.platform.team not in registry.teams:
        problem(("platform", "team"), "platform.team", config.platform.team, "unknown team")
    if PLATFORM_PIPELINE_ID in registry.pipelines:
        problem(("platform",), "platform", PLATFORM_PIPELINE_ID,
                "a pipeline in pipelines.yaml has the id platform incidents use; rename it")
    if config.infrastructure.team not in registry.teams:
        problem(("infrastructure", "team"), "infrastructure.team", config.infrastructure.team, "unknown team")
    for role in ("de_lead", "ba_lead", "cfo"):
        person = getattr(config.management, role)
        if person not in registry.people:
            problem(("management", role), f"management.{role}", person, "unknown person")
    areas = {p.business_area for p in registry.pipelines.values()}
    for ai, area in enumerate(config.management.cfo_for.business_areas):
        if area not in areas:
            problem(("management", "cfo_for", "business_areas", ai), f"management.cfo_for.business_areas[{ai}]", area,
                    f"no pipeline has this business_area (known: {sorted(areas)})")
    return problems


def load_policy(config_dir: Path | str | None = None, registry: Registry | None = None) -> EscalationConfig:
    """Load and validate escalation.yaml against the registry; raise ConfigError on any problem."""
    config_dir = Path(config_dir) if config_dir else settings.config_dir()
    registry = registry or get_registry(config_dir)
    path = config_dir / POLICY_FILE
    config, lines = load_model(path, EscalationConfig)
    problems = _cross_check(config, registry, path, lines)
    if problems:
        raise ConfigError(problems)
    return config


def check_config_dir(config_dir, registry) -> None:
    """Hook for `techflow-ops config check`."""
    load_policy(config_dir, registry)


_cache: ReloadingCache[EscalationConfig] = ReloadingCache()


def get_policy(config_dir: Path | str | None = None) -> EscalationConfig:
    """The policy, loaded once per process and config folder, and again when escalation.yaml
    or the registry it is checked against changes."""
    key = Path(config_dir or settings.config_dir()).resolve()
    registry = get_registry(key)
    return _cache.get(key, lambda: load_policy(key, registry), files=(key / POLICY_FILE,), built_from=(registry,))


def clear_policy_cache() -> None:
    _cache.clear()


# --- who a step reaches ----------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    id: str  # person or team id
    kind: Literal["person", "team"]
    name: str
    contacts: tuple[ContactMethod, ...]
    role: str  # why they are paged, e.g. "on-call primary", "pipeline owner (primary)"


@dataclass
class OnCallView:
    """The on-call facts one step needs, read once from the schedule for an instant."""

    primary: str | None
    secondary: str | None
    in_investor_period: bool
    problem: str | None = None  # the schedule could not be read: why
    investor_watch: str | None = None
    rotation: tuple[str, ...] = ()  # the rotation's members, in its order: who covers for whom
    away: dict[str, str] = field(default_factory=dict)  # person -> why they cannot be paged now


@dataclass
class StepTargets:
    recipients: list[Recipient]
    gaps: list[str] = field(default_factory=list)  # targets that resolved to nobody, and why
    skipped: list[str] = field(default_factory=list)  # people left out (away), and who covered


def _person_id(value) -> str | None:
    if value is None:
        return None
    return getattr(value, "id", value)


def read_oncall(schedule, at: datetime) -> OnCallView:
    """The on-call facts at `at`; a broken or missing schedule becomes a recorded problem."""
    if schedule is None:
        return OnCallView(None, None, False, "no on-call schedule available")
    try:
        now = schedule.now(at)
        away = schedule.away(at) if hasattr(schedule, "away") else {}
        rotation = tuple(getattr(getattr(schedule, "rotation", None), "members", ()))
    except Exception as exc:  # noqa: BLE001 - a schedule failure must not stop the page to the owners
        return OnCallView(None, None, False, f"on-call schedule failed: {type(exc).__name__}: {exc}")
    return OnCallView(
        primary=_person_id(getattr(now, "primary", None)),
        secondary=_person_id(getattr(now, "secondary", None)),
        in_investor_period=bool(getattr(now, "in_investor_period", False)),
        investor_watch=_person_id(getattr(now, "investor_watch", None)),
        rotation=rotation,
        away=dict(away),
    )


def effective_wait(step: Step, pipeline, oncall: OnCallView, config: EscalationConfig) -> timedelta:
    if pipeline.investor_facing and oncall.in_investor_period:
        return step.wait * config.investor_period.wait_factor
    return step.wait


def _cfo_applies(pipeline, config: EscalationConfig, severity: str | None) -> bool:
    rule = config.management.cfo_for
    return severity == rule.severity and (pipeline.business_area in rule.business_areas or pipeline.id in rule.pipelines)


def resolve_step(step: Step, pipeline, failure_class: FailureClass, oncall: OnCallView, registry: Registry,
                 config: EscalationConfig, *, severity: str | None = None, paged: frozenset[str] = frozenset()) -> StepTargets:
    """Who `step` reaches: one Recipient per person or team, none of `paged` (reached earlier in
    this pass), nobody who is away (the next available person in rotation covers for an
    engineer; the skip is reported in `skipped`)."""
    recipients: list[Recipient] = []
    gaps: list[str] = []
    skipped: list[str] = []
    reached = set(paged)

    def name_of(person_id: str) -> str:
        return registry.people[person_id].name if person_id in registry.people else person_id

    def cover_for(person_id: str) -> str | None:
        """The next person in rotation after `person_id` who is not away."""
        if person_id not in oncall.rotation:
            return None
        start = oncall.rotation.index(person_id)
        for offset in range(1, len(oncall.rotation)):
            candidate = oncall.rotation[(start + offset) % len(oncall.rotation)]
            if candidate not in oncall.away and candidate in registry.people:
                return candidate
        return None

    def person(person_id: str, role: str) -> None:
        if person_id in oncall.away:
            cover = cover_for(person_id)
            skipped.append(f"{name_of(person_id)} ({role}) not paged: {oncall.away[person_id]}"
                           + (f"; {name_of(cover)} covers (next in rotation)" if cover else "; nobody in rotation can cover"))
            if cover is not None:
                person(cover, f"{role}, covering for {name_of(person_id)}")
            return
        if person_id in reached:
            return
        reached.add(person_id)
        p = registry.people[person_id]
        recipients.append(Recipient(p.id, "person", p.name, tuple(p.contact_methods()), role))

    def team(team_id: str, role: str) -> None:
        t = registry.teams[team_id]
        if t.contact:
            if f"team:{t.id}" not in reached:
                reached.add(f"team:{t.id}")
                recipients.append(Recipient(t.id, "team", t.name, tuple(t.contact), role))
        else:  # a team without its own channel is reached through its members
            for member in t.members:
                person(member, f"{role} ({t.name})")

    for target in step.notify:
        if target in ("oncall_primary", "oncall_secondary", "investor_watch"):
            who, label = {
                "oncall_primary": (oncall.primary, "on-call primary"),
                "oncall_secondary": (oncall.secondary, "on-call secondary"),
                "investor_watch": (oncall.investor_watch, "investor watch"),
            }[target]
            if target == "investor_watch" and not oncall.in_investor_period:
                continue  # the watch exists only in the investor-report period
            if who is None:
                gaps.append(f"{label}: nobody on call" + (f" ({oncall.problem})" if oncall.problem else ""))
            elif who not in registry.people:
                gaps.append(f"{label}: schedule names unknown person {who!r}")
            else:
                person(who, label)
        elif target == "rotation":
            for member in oncall.rotation:
                if member in registry.people and member not in oncall.away:
                    person(member, "on-call rotation (investor-report period)")
        elif target == "pipeline_owners":
            person(pipeline.owners.primary, "pipeline owner (primary)")
            person(pipeline.owners.secondary, "pipeline owner (secondary)")
        elif target == "pipeline_primary_owner":
            person(pipeline.owners.primary, "pipeline owner (primary)")
        elif target == "pipeline_secondary_owner":
            person(pipeline.owners.secondary, "pipeline owner (secondary)")
        elif target == "business_owner_team":
            team(pipeline.business_owner_team, "business owner team")
        elif target == "infrastructure":
            if failure_class in config.infrastructure.failure_classes:
                team(config.infrastructure.team, f"infrastructure ({failure_class.title})")
        elif target == "management":
            person(config.management.de_lead, "management: DE lead")
            person(config.management.ba_lead, "management: BA lead")
            if _cfo_applies(pipeline, config, severity):
                what = "financial pipeline" if pipeline.business_area in config.management.cfo_for.business_areas else "investor report"
                person(config.management.cfo, f"management: CFO ({severity} {what})")
        else:
            kind, _, ident = target.partition(":")
            (person if kind == "person" else team)(ident, target)
    return StepTargets(recipients, gaps, skipped)


def recipient_keys(recipients) -> frozenset[str]:
    """The ids `resolve_step(paged=...)` compares: a person's id, or `team:<id>`."""
    return frozenset(r.id if r.kind == "person" else f"team:{r.id}" for r in recipients)

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
from ..failures import FailureClass
from ..registry import ConfigError, ConfigProblem, ContactMethod, Registry, get_registry, load_model
from ..registry.models import Criticality, Duration, StrictModel, TimeZoneName
from ..reloading import ReloadingCache

POLICY_FILE = "escalation.yaml"

TARGET_KINDS = (
    "oncall_primary", "oncall_secondary", "pipeline_owners", "pipeline_primary_owner", "pipeline_secondary_owner",
    "business_owner_team", "infrastructure", "management",
)


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


class Infrastructure(StrictModel):
    team: str
    failure_classes: list[FailureClass]


class CfoFor(StrictModel):
    business_areas: list[str] = Field(min_length=1)
    min_criticality: Criticality


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


class EscalationConfig(StrictModel):
    policy: PolicySpec
    tiers: dict[Criticality, PolicyOverride] = Field(default_factory=dict)
    pipelines: dict[str, PolicyOverride] = Field(default_factory=dict)
    investor_period: InvestorPeriod
    infrastructure: Infrastructure
    management: Management
    notifications: Notifications
    resolution_sla: ResolutionSla = ResolutionSla()

    def policy_for(self, pipeline) -> PolicySpec:
        """Pipeline override, else tier override, else the default policy (field by field)."""
        repeat, steps = self.policy.repeat, self.policy.steps
        for override in (self.tiers.get(pipeline.criticality), self.pipelines.get(pipeline.id)):
            if override is None:
                continue
            repeat = override.repeat if override.repeat is not None else repeat
            steps = override.steps if override.steps is not None else steps
        return PolicySpec(repeat=repeat, steps=steps)


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
    check_targets(config.resolution_sla.notify, ("resolution_sla", "notify"), "resolution_sla.notify")
    for criticality, override in config.tiers.items():
        if override.steps:
            check_steps(override.steps, ("tiers", criticality.value, "steps"), f"tiers.{criticality.value}.steps")
    for pipeline_id, override in config.pipelines.items():
        if pipeline_id not in registry.pipelines:
            problem(("pipelines", pipeline_id), f"pipelines.{pipeline_id}", pipeline_id, "unknown pipeline")
        if override.steps:
            check_steps(override.steps, ("pipelines", pipeline_id, "steps"), f"pipelines.{pipeline_id}.steps")
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


@dataclass
class StepTargets:
    recipients: list[Recipient]
    gaps: list[str] = field(default_factory=list)  # targets that resolved to nobody, and why


def _person_id(value) -> str | None:
    if value is None:
        return None
    return getattr(value, "id", value)


def read_oncall(schedule, at: datetime) -> OnCallView:
    """The on-call primary/secondary at `at`; a broken or missing schedule becomes a recorded problem."""
    if schedule is None:
        return OnCallView(None, None, False, "no on-call schedule available")
    try:
        now = schedule.now(at)
    except Exception as exc:  # noqa: BLE001 - a schedule failure must not stop the page to the owners
        return OnCallView(None, None, False, f"on-call schedule failed: {type(exc).__name__}: {exc}")
    return OnCallView(
        primary=_person_id(getattr(now, "primary", None)),
        secondary=_person_id(getattr(now, "secondary", None)),
        in_investor_period=bool(getattr(now, "in_investor_period", False)),
    )


def effective_wait(step: Step, pipeline, oncall: OnCallView, config: EscalationConfig) -> timedelta:
    if pipeline.investor_facing and oncall.in_investor_period:
        return step.wait * config.investor_period.wait_factor
    return step.wait


def _cfo_applies(pipeline, config: EscalationConfig) -> bool:
    rule = config.management.cfo_for
    return pipeline.business_area in rule.business_areas and pipeline.criticality.tier <= rule.min_criticality.tier


def resolve_step(
    step: Step, pipeline, failure_class: FailureClass, oncall: OnCallView, registry: Registry, config: EscalationConfig
) -> StepTargets:
    recipients: list[Recipient] = []
    gaps: list[str] = []

    def person(person_id: str, role: str) -> None:
        p = registry.people[person_id]
        recipients.append(Recipient(p.id, "person", p.name, tuple(p.contact_methods()), role))

    def team(team_id: str, role: str) -> None:
        t = registry.teams[team_id]
        if t.contact:
            recipients.append(Recipient(t.id, "team", t.name, tuple(t.contact), role))
        else:  # a team without its own channel is reached through its members
            for member in t.members:
                person(member, f"{role} ({t.name})")

    for target in step.notify:
        if target in ("oncall_primary", "oncall_secondary"):
            who = oncall.primary if target == "oncall_primary" else oncall.secondary
            label = "on-call primary" if target == "oncall_primary" else "on-call secondary"
            if who is None:
                gaps.append(f"{label}: nobody on call" + (f" ({oncall.problem})" if oncall.problem else ""))
            elif who not in registry.people:
                gaps.append(f"{label}: schedule names unknown person {who!r}")
            else:
                person(who, label)
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
            if _cfo_applies(pipeline, config):
                person(config.management.cfo, "management: CFO (critical financial pipeline)")
        else:
            kind, _, ident = target.partition(":")
            (person if kind == "person" else team)(ident, target)

    unique: dict[str, Recipient] = {}
    for r in recipients:
        unique.setdefault(f"{r.kind}:{r.id}", r)
    return StepTargets(list(unique.values()), gaps)

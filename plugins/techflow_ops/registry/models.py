"""The source of truth's shapes: people, teams and pipelines, each validated on its own.

Cross-references (an owner that must be a known person, ...) are checked in registry.py,
where all files are known.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import Enum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .durations import format_duration, parse_duration

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SCHEDULE_PRESETS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly"}


def _identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError("ids are lower_snake_case: a letter, then letters, digits or '_'")
    return value


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown IANA timezone (e.g. 'America/New_York', 'Europe/Berlin', 'UTC')") from None
    return value


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value


def _schedule(value: str) -> str:
    if value in _SCHEDULE_PRESETS:
        return value
    from croniter import croniter  # ships with Airflow; only needed for cron strings

    if not croniter.is_valid(value):
        raise ValueError(f"not a cron expression or one of {sorted(_SCHEDULE_PRESETS)}")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
TimeZoneName = Annotated[str, AfterValidator(_timezone)]
Email = Annotated[str, AfterValidator(_email)]
Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContactMethod(StrictModel):
    """One way to reach a person or team; `connection_id` names the Airflow connection used."""

    type: Literal["email", "slack", "pagerduty"]
    target: str = Field(min_length=1, description="email address, Slack channel/handle or PagerDuty service")
    connection_id: str | None = None


class Person(StrictModel):
    id: Identifier
    name: str = Field(min_length=1)
    email: Email
    slack: str | None = None
    timezone: TimeZoneName
    # Where the person lives, for their public holidays (checked against the `holidays` library
    # by the on-call config, which is the one user, so loading the registry stays light).
    country: str | None = Field(None, pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. 'US', 'DE'")
    subdivision: str | None = Field(None, min_length=1, description="state or region, e.g. 'NY', 'BE'")
    title: str | None = None
    contact: list[ContactMethod] = Field(default_factory=list, description="paging preference, first first")

    def contact_methods(self) -> list[ContactMethod]:
        return self.contact or [ContactMethod(type="email", target=self.email)]


class Team(StrictModel):
    id: Identifier
    name: str = Field(min_length=1)
    description: str = ""
    kind: Literal["engineering", "business", "infrastructure", "management"]
    lead: str | None = None
    members: list[str] = Field(min_length=1)
    contact: list[ContactMethod] = Field(default_factory=list)


class Criticality(str, Enum):
    highest = "highest"
    high = "high"
    medium_high = "medium-high"
    medium = "medium"

    @property
    def tier(self) -> int:
        return {"highest": 0, "high": 1, "medium-high": 2, "medium": 3}[self.value]


class Output(StrictModel):
    table: Identifier
    description: str
    grain: Literal["daily", "weekly", "monthly"]
    consumers: list[str] = Field(default_factory=list)


class Owners(StrictModel):
    primary: str
    secondary: str


def _hours(hours: float) -> timedelta:
    return timedelta(hours=hours)


class Limits(StrictModel):
    """How long a pipeline's runs, tasks and warehouse queries may take, and how failed tasks
    are retried. The defaults are the brief's health targets: daily pipelines finish in under
    2 hours (`run`), Spark jobs in under 1 hour (`spark_job`: the transform of a pipeline with
    `infrastructure: [spark]`), warehouse queries in under 30 seconds (`query`). Only transient
    failures (a lost connection, a locked SQLite file) are retried (`pipelines.transient`)."""

    run: Duration = Field(default_factory=lambda: _hours(2), description="the DAG run's dagrun_timeout")
    # Defaults are validated too (`validate_default`): a run limit set below a default task
    # limit is as wrong as a task limit written above the run limit.
    task: Duration = Field(default_factory=lambda: _hours(1), validate_default=True,
                           description="each task's execution_timeout")
    spark_job: Duration = Field(default_factory=lambda: _hours(1), validate_default=True,
                                description="execution_timeout of the Spark join (transform) of spark pipelines")
    query: Duration = Field(default_factory=lambda: timedelta(seconds=30), validate_default=True,
                            description="one warehouse statement")
    retries: Annotated[int, Field(ge=0, le=10, strict=True)] = 2
    retry_delay: Duration = Field(default_factory=lambda: timedelta(minutes=1))
    max_retry_delay: Duration = Field(default_factory=lambda: timedelta(minutes=10), validate_default=True)

    @field_validator("task", "spark_job")
    @classmethod
    def _within_the_run(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        run = info.data.get("run")
        if run is not None and value > run:
            raise ValueError(f"a {info.field_name} limit of {format_duration(value)} is longer than the run "
                             f"limit ({format_duration(run)}): the run would time out first")
        return value

    @field_validator("query")
    @classmethod
    def _within_a_task(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        task = info.data.get("task")
        if task is not None and value > task:
            raise ValueError(f"a query limit of {format_duration(value)} is longer than the task limit "
                             f"({format_duration(task)})")
        return value

    @field_validator("max_retry_delay")
    @classmethod
    def _not_below_the_first_delay(cls, value: timedelta, info: ValidationInfo) -> timedelta:
        first = info.data.get("retry_delay")
        if first is not None and value < first:
            raise ValueError(f"max_retry_delay {format_duration(value)} is shorter than retry_delay "
                             f"{format_duration(first)}")
        return value


class Pipeline(StrictModel):
    id: Identifier
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    business_area: str = Field(min_length=1)
    sources: list[Identifier] = Field(default_factory=list)
    outputs: list[Output] = Field(min_length=1)
    consumers: list[str] = Field(default_factory=list)
    owners: Owners
    business_owner_team: str
    stakeholders: list[str] = Field(default_factory=list)
    criticality: Criticality
    investor_facing: bool
    schedule: Annotated[str, AfterValidator(_schedule)] | None = None
    upstream: list[str] = Field(default_factory=list, description="pipelines whose assets trigger this one")
    freshness_sla: Duration
    resolution_sla: Duration
    resolve_by_month_end: bool = False
    infrastructure: list[Literal["kafka", "spark", "warehouse"]] = Field(default_factory=list)
    targets: dict[str, float] = Field(default_factory=dict, description="quality targets, e.g. completeness: 1.0")
    limits: Limits = Field(default_factory=Limits, description="run, task and query time limits; retries")
    runbook: str

    @model_validator(mode="after")
    def _schedule_or_upstream(self) -> "Pipeline":
        if self.schedule is None and not self.upstream:
            raise ValueError("a pipeline needs a schedule or upstream pipelines that trigger it")
        if self.schedule is not None and self.upstream:
            raise ValueError("a pipeline is triggered by its upstream assets or by a schedule, not both")
        return self

    @property
    def dag_id(self) -> str:
        return self.id

    def task_limit(self, task_id: str) -> timedelta:
        """The execution_timeout of one of the pipeline's tasks: the Spark job limit for the
        transform (the large join) of a pipeline that runs on Spark, else the task limit."""
        if task_id == "transform" and "spark" in self.infrastructure:
            return self.limits.spark_job
        return self.limits.task


class PeopleFile(StrictModel):
    people: list[Person]


class TeamsFile(StrictModel):
    teams: list[Team]


class PipelinesFile(StrictModel):
    pipelines: list[Pipeline]

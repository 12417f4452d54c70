"""The registry: people, teams and pipelines loaded together and cross-checked.

Loading is all-or-nothing: every problem in every file is collected and raised in one
ConfigError, and no partially valid Registry is ever returned.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from .. import settings
from ..reloading import ReloadingCache
from .errors import ConfigError, ConfigProblem
from .loading import YamlLines, load_model
from .models import Limits, PeopleFile, Person, Pipeline, PipelinesFile, Team, TeamsFile

PEOPLE_FILE = "people.yaml"
TEAMS_FILE = "teams.yaml"
PIPELINES_FILE = "pipelines.yaml"


@dataclass(frozen=True)
class Registry:
    config_dir: Path
    project_root: Path
    people: dict[str, Person]
    teams: dict[str, Team]
    pipelines: dict[str, Pipeline]
    lines: dict[str, "YamlLines"] = field(default_factory=dict, repr=False, compare=False)

    def person(self, person_id: str) -> Person:
        return self.people[person_id]

    def team(self, team_id: str) -> Team:
        return self.teams[team_id]

    def pipeline(self, pipeline_id: str) -> Pipeline:
        return self.pipelines[pipeline_id]

    def runbook_path(self, pipeline: Pipeline | str) -> Path:
        pipeline = self.pipelines[pipeline] if isinstance(pipeline, str) else pipeline
        return resolve_runbook(pipeline.runbook, self.project_root, self.config_dir)

    def teams_of(self, person_id: str) -> list[Team]:
        return [t for t in self.teams.values() if person_id in t.members]

    def downstream_of(self, pipeline_id: str) -> list[Pipeline]:
        return [p for p in self.pipelines.values() if pipeline_id in p.upstream]

    def warehouse_query_limit(self) -> timedelta:
        """The statement limit of the shared warehouse engines: the longest `limits.query` of any
        pipeline. One engine serves every pipeline (and the checks, the UI), so a per-pipeline
        limit cannot be told apart per connection; the loosest one never cuts a query a
        pipeline allows, and with the shipped config every pipeline has the brief's 30 s."""
        return max((p.limits.query for p in self.pipelines.values()), default=Limits().query)


def resolve_runbook(runbook: str, project_root: Path, config_dir: Path) -> Path:
    path = Path(runbook)
    if path.is_absolute():
        return path
    # A deployment that mounts its runbooks elsewhere names that folder; a file there wins.
    if os.environ.get("TECHFLOW_RUNBOOKS_DIR"):
        mounted = settings.runbooks_dir() / path.name
        if mounted.exists():
            return mounted
    # Relative to the project root for the shipped config; relative to the config folder
    # for a config folder kept elsewhere (and for test fixtures).
    for base in (project_root, config_dir):
        if (base / path).exists():
            return base / path
    return project_root / path


def _duplicates(items, file: Path, section: str, lines_of) -> list[ConfigProblem]:
    seen: set[str] = set()
    problems = []
    for index, item in enumerate(items):
        if item.id in seen:
            problems.append(
                ConfigProblem(str(file), f"{section}[{index}].id", item.id, "duplicate id", lines_of((section, index, "id")))
            )
        seen.add(item.id)
    return problems


def _cross_check(people_file, teams_file, pipelines_file, files, lines, project_root, config_dir) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    people = {p.id: p for p in people_file.people}
    teams = {t.id: t for t in teams_file.teams}
    pipelines = {p.id: p for p in pipelines_file.pipelines}

    def line(kind: str, path: tuple) -> int | None:
        return lines[kind].get(path)

    def problem(kind: str, path: tuple, readable: str, value, message: str) -> None:
        problems.append(ConfigProblem(str(files[kind]), readable, value, message, line(kind, path)))

    problems += _duplicates(people_file.people, files["people"], "people", lambda p: line("people", p))
    problems += _duplicates(teams_file.teams, files["teams"], "teams", lambda p: line("teams", p))
    problems += _duplicates(pipelines_file.pipelines, files["pipelines"], "pipelines", lambda p: line("pipelines", p))

    for ti, team in enumerate(teams_file.teams):
        for mi, member in enumerate(team.members):
            if member not in people:
                problem("teams", ("teams", ti, "members", mi), f"teams[{team.id}].members[{mi}]", member, "unknown person")
        if team.lead is not None and team.lead not in people:
            problem("teams", ("teams", ti, "lead"), f"teams[{team.id}].lead", team.lead, "unknown person")

    for pi, pipe in enumerate(pipelines_file.pipelines):
        base = ("pipelines", pi)
        name = f"pipelines[{pipe.id}]"
        for role in ("primary", "secondary"):
            owner = getattr(pipe.owners, role)
            if owner not in people:
                problem("pipelines", base + ("owners", role), f"{name}.owners.{role}", owner, "unknown person")
        if pipe.owners.primary == pipe.owners.secondary:
            problem(
                "pipelines", base + ("owners", "secondary"), f"{name}.owners.secondary", pipe.owners.secondary,
                "secondary owner must differ from the primary owner",
            )
        if pipe.business_owner_team not in teams:
            problem("pipelines", base + ("business_owner_team",), f"{name}.business_owner_team", pipe.business_owner_team, "unknown team")
        for si, stakeholder in enumerate(pipe.stakeholders):
            if stakeholder not in people and stakeholder not in teams:
                problem("pipelines", base + ("stakeholders", si), f"{name}.stakeholders[{si}]", stakeholder, "unknown person or team")
        for ui, upstream in enumerate(pipe.upstream):
            if upstream not in pipelines:
                problem("pipelines", base + ("upstream", ui), f"{name}.upstream[{ui}]", upstream, "unknown pipeline")
            elif upstream == pipe.id:
                problem("pipelines", base + ("upstream", ui), f"{name}.upstream[{ui}]", upstream, "a pipeline cannot trigger itself")
        runbook = resolve_runbook(pipe.runbook, project_root, config_dir)
        if not runbook.is_file():
            problem("pipelines", base + ("runbook",), f"{name}.runbook", pipe.runbook, f"runbook file not found (looked at {runbook})")

    problems += _cycles(pipelines, files["pipelines"])
    return problems


def _cycles(pipelines: dict[str, Pipeline], file: Path) -> list[ConfigProblem]:
    state: dict[str, int] = {}
    problems = []

    def visit(pid: str, trail: list[str]) -> None:
        state[pid] = 1
        for up in pipelines[pid].upstream:
            if up not in pipelines:
                continue
            if state.get(up) == 1:
                cycle = trail[trail.index(up):] + [up] if up in trail else [pid, up]
                problems.append(ConfigProblem(str(file), f"pipelines[{pid}].upstream", " -> ".join(cycle), "upstream cycle"))
            elif state.get(up) is None:
                visit(up, trail + [up])
        state[pid] = 2

    for pid in pipelines:
        if pid not in state:
            visit(pid, [pid])
    return problems


def load_registry(config_dir: Path | str | None = None, project_root: Path | str | None = None) -> Registry:
    """Load and validate the registry in `config_dir`; raise ConfigError listing every problem."""
    config_dir = Path(config_dir) if config_dir else settings.config_dir()
    project_root = Path(project_root) if project_root else settings.project_root()
    files = dict(zip(("people", "teams", "pipelines"), _registry_files(config_dir)))
    problems: list[ConfigProblem] = []
    loaded = {}
    lines: dict[str, YamlLines] = {}
    for kind, model in (("people", PeopleFile), ("teams", TeamsFile), ("pipelines", PipelinesFile)):
        try:
            loaded[kind], lines[kind] = load_model(files[kind], model)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    problems = _cross_check(loaded["people"], loaded["teams"], loaded["pipelines"], files, lines, project_root, config_dir)
    if problems:
        raise ConfigError(problems)
    return Registry(
        config_dir=config_dir,
        project_root=project_root,
        people={p.id: p for p in loaded["people"].people},
        teams={t.id: t for t in loaded["teams"].teams},
        pipelines={p.id: p for p in loaded["pipelines"].pipelines},
        lines=lines,
    )


_cache: ReloadingCache[Registry] = ReloadingCache()


def _registry_files(config_dir: Path) -> tuple[Path, ...]:
    return (config_dir / PEOPLE_FILE, config_dir / TEAMS_FILE, config_dir / PIPELINES_FILE)


def get_registry(config_dir: Path | str | None = None) -> Registry:
    """The registry, loaded once per process and config folder, and again when one of its
    files changes on disk (a preloaded dag-processor or a running api-server sees an edit)."""
    key = settings.resolved_path(config_dir or settings.config_dir())
    return _cache.get(key, lambda: load_registry(key), files=_registry_files(key))


def clear_registry_cache() -> None:
    _cache.clear()

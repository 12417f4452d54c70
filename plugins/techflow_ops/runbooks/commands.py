"""Checks that every command a runbook tells someone to run exists, before they need it.

- `techflow-ops ...` is parsed by the real parser, `techflow_ops.cli.build_parser()`, which the
  caller passes in (the CLI that runs this check is itself built from that parser);
- `airflow ...` is matched against AIRFLOW_COMMANDS, a list of Airflow 3.3 CLI commands
  (tests hold that list against Airflow's own parser, so it cannot drift);
- `sqlite3 data/warehouse.db "SQL"` and ```sql blocks are prepared (EXPLAIN) against an
  empty in-memory copy of the warehouse schema from `techflow_ops.pipelines.warehouse`, so
  an unknown table or column is caught;
- shell variables (`$DAY`) must be assigned in a shell block of the same runbook, and their
  values are substituted before checking.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import sqlite3
from dataclasses import dataclass, field
from functools import lru_cache

from ..quality.suites import SUITES

#: Airflow 3.3 CLI commands a runbook may name: group -> sub-commands (empty: the group is the command).
AIRFLOW_COMMANDS: dict[str, frozenset[str]] = {
    "assets": frozenset({"details", "list", "materialize"}),
    "backfill": frozenset({"create"}),
    "config": frozenset({"get-value", "list"}),
    "connections": frozenset({"get", "list", "test"}),
    "dags": frozenset({
        "clear", "details", "list", "list-import-errors", "list-runs", "next-execution", "pause", "report",
        "reserialize", "show", "state", "test", "trigger", "unpause",
    }),
    "db": frozenset({"check", "migrate"}),
    "info": frozenset(),
    "jobs": frozenset({"check"}),
    "pools": frozenset({"get", "list", "set"}),
    "tasks": frozenset({"clear", "failed-deps", "list", "render", "state", "states-for-dag-run", "test"}),
    "variables": frozenset({"get", "list", "set"}),
    "version": frozenset(),
}

#: Programs a runbook may tell someone to run besides techflow-ops, airflow and sqlite3; their arguments are not checked.
PLAIN_PROGRAMS = frozenset({"cat", "ls", "head", "tail", "grep", "wc"})
WAREHOUSE_FILE = "data/warehouse.db"
_SQLITE_FLAGS = frozenset({"-header", "-noheader", "-column", "-box", "-csv", "-json", "-line", "-list", "-markdown", "-table", "-readonly"})
_ASSIGNMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_OPERATORS = frozenset({"|", "||", "&&", ";", "&"})
SHELL_LANGUAGES = frozenset({"bash", "sh", "shell", "console"})


@dataclass
class CommandChecker:
    """Checks commands of one runbook against `parser` (`techflow_ops.cli.build_parser()`);
    collects (line, message) problems."""

    parser: argparse.ArgumentParser
    variables: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[int, str]] = field(default_factory=list)
    tables_seen: set[str] = field(default_factory=set)

    def collect_assignments(self, shell_blocks) -> None:
        for code in shell_blocks:
            for line in code.text.splitlines():
                match = _ASSIGNMENT.match(line.split("#", 1)[0].strip())
                if match:  # earlier assignments expand in later ones, as in the shell
                    value = shlex.split(match.group(2))[0] if match.group(2).strip() else ""
                    self.variables[match.group(1)] = self._substitute(value, code.line)

    def _substitute(self, text: str, line: int) -> str:
        def value(match: re.Match) -> str:
            name = match.group(1) or match.group(2)
            if name not in self.variables:
                self.problems.append((line, f"shell variable ${name} is used but never assigned in this runbook"))
                return ""
            return self.variables[name]

        return _VARIABLE.sub(value, text)

    def check_shell_block(self, text: str, first_line: int) -> None:
        for command, line in _commands(text, first_line):
            self.check_command(command, line)

    def check_sql_block(self, text: str, first_line: int) -> None:
        self._check_sql(self._substitute(text, first_line), first_line)

    def check_command(self, command: str, line: int) -> None:
        try:
            lexer = shlex.shlex(self._substitute(command, line), posix=True, punctuation_chars=";&|")
            lexer.whitespace_split = True
            tokens = list(lexer)
        except ValueError as exc:
            self.problems.append((line, f"cannot parse shell command {command!r}: {exc}"))
            return
        stage: list[str] = []
        for token in tokens + [";"]:
            if token in _OPERATORS:
                if stage:
                    self._check_stage(stage, line)
                stage = []
            else:
                stage.append(token)

    def _check_stage(self, argv: list[str], line: int) -> None:
        while argv and _ASSIGNMENT.match(argv[0]):
            argv = argv[1:]
        if not argv:
            return
        program, args = argv[0], argv[1:]
        if program == "techflow-ops":
            error = techflow_ops_error(self.parser, args)
            if error:
                self.problems.append((line, f"unknown or invalid command `{shlex.join(argv)}`: {error}"))
        elif program == "airflow":
            error = airflow_error(args)
            if error:
                self.problems.append((line, f"unknown Airflow command `{shlex.join(argv)}`: {error}"))
        elif program == "sqlite3":
            self._check_sqlite3(args, line)
        elif program not in PLAIN_PROGRAMS:
            allowed = ", ".join(sorted({"techflow-ops", "airflow", "sqlite3"} | PLAIN_PROGRAMS))
            self.problems.append((line, f"unknown program {program!r} (runbooks may run: {allowed})"))

    def _check_sqlite3(self, args: list[str], line: int) -> None:
        positional = [a for a in args if a not in _SQLITE_FLAGS]
        unknown_flags = [a for a in args if a.startswith("-") and a not in _SQLITE_FLAGS]
        if unknown_flags:
            self.problems.append((line, f"sqlite3: unknown option(s) {unknown_flags}"))
            return
        if not positional or positional[0] != WAREHOUSE_FILE:
            self.problems.append((line, f"sqlite3 must open the warehouse file {WAREHOUSE_FILE!r}, not {positional[:1]}"))
            return
        if len(positional) < 2:
            self.problems.append((line, "sqlite3: no SQL given (runbook commands must run a query, not open a prompt)"))
            return
        for statement in positional[1:]:
            self._check_sql(statement, line)

    def _check_sql(self, sql: str, line: int) -> None:
        if sql.strip().startswith("."):
            parts = sql.split()
            if parts[0] in (".schema", ".indexes") and len(parts) > 1:
                self._check_table(parts[1], line)
            elif parts[0] not in (".tables", ".schema", ".indexes"):
                self.problems.append((line, f"sqlite3 dot-command {parts[0]!r} is not allowed in runbooks"))
            return
        for statement in _statements(sql):
            try:
                warehouse_schema().execute(f"EXPLAIN {statement}")
            except sqlite3.Error as exc:
                self.problems.append((line, f"SQL does not run against the warehouse schema ({exc}): {_short(statement)}"))
            else:
                self.tables_seen.update(_tables_in(statement))

    def _check_table(self, name: str, line: int) -> None:
        if name not in warehouse_tables():
            self.problems.append((line, f"unknown warehouse table `{name}` (not defined in techflow_ops.pipelines.warehouse)"))


def _short(sql: str) -> str:
    flat = " ".join(sql.split())
    return flat if len(flat) <= 90 else flat[:87] + "..."


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]


def _tables_in(statement: str) -> set[str]:
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", statement))
    return words & warehouse_tables()


def _commands(text: str, first_line: int):
    """(command, line) for each shell command of a block: comments dropped, continuations and open quotes joined."""
    pending: list[str] = []
    start = first_line
    for offset, raw in enumerate(text.splitlines()):
        line = raw.rstrip()
        if not pending:
            start = first_line + offset
            stripped = line.lstrip()
            if stripped.startswith("$ "):  # console-style prompt
                line = stripped[2:]
            if not line.strip() or line.lstrip().startswith("#"):
                continue
        pending.append(line)
        joined = "\n".join(pending)
        if joined.endswith("\\"):
            pending[-1] = line[:-1]
            continue
        try:
            shlex.split(joined, comments=True)
        except ValueError:  # a quote still open: the command goes on
            continue
        yield joined, start
        pending = []
    if pending:
        yield "\n".join(pending), start


def techflow_ops_error(parser: argparse.ArgumentParser, args: list[str]) -> str | None:
    """None when `techflow-ops ARGS` parses with the real parser; else argparse's complaint."""
    stderr, stdout = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            parser.parse_args(args)
    except SystemExit as exc:
        if exc.code in (0, None):  # --help
            return None
        lines = [ln for ln in stderr.getvalue().splitlines() if ln.strip()]
        return lines[-1].split("error: ", 1)[-1] if lines else f"exit code {exc.code}"
    return None


def airflow_error(args: list[str]) -> str | None:
    words = [a for a in args if not a.startswith("-")]
    if not words:
        return "no command given"
    group = words[0]
    if group not in AIRFLOW_COMMANDS:
        return f"'{group}' is not one of {sorted(AIRFLOW_COMMANDS)}"
    subcommands = AIRFLOW_COMMANDS[group]
    if subcommands and (len(words) < 2 or words[1] not in subcommands):
        got = words[1] if len(words) > 1 else "nothing"
        return f"'airflow {group}' takes one of {sorted(subcommands)}, not {got}"
    return None


@lru_cache(maxsize=1)
def warehouse_tables() -> frozenset[str]:
    from ..pipelines.warehouse import metadata

    return frozenset(metadata.tables)


def warehouse_columns(table: str) -> frozenset[str]:
    from ..pipelines.warehouse import metadata

    return frozenset(metadata.tables[table].columns.keys())


@lru_cache(maxsize=1)
def quality_checks() -> dict[str, frozenset[str]]:
    """Dataset -> names of its quality checks."""
    return {dataset: frozenset(check.name for check in suite.checks) for dataset, suite in SUITES.items()}


@lru_cache(maxsize=1)
def warehouse_schema() -> sqlite3.Connection:
    """An empty in-memory SQLite database with the warehouse's tables, to prepare runbook SQL against."""
    from sqlalchemy import create_engine

    from ..pipelines.warehouse import metadata

    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        metadata.create_all(connection)
        ddl = [row[0] for row in connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL")]
    schema = sqlite3.connect(":memory:", check_same_thread=False)
    for statement in ddl:
        schema.execute(statement)
    return schema

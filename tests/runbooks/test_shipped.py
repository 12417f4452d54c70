"""The five shipped runbooks pass the check, and every Airflow command in them parses with
Airflow's own CLI parser (which also holds the checker's list of Airflow commands)."""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex

import pytest

from techflow_ops.cli import build_parser
from techflow_ops.registry import get_registry
from techflow_ops.runbooks.catalogue import required_issues
from techflow_ops.runbooks.check import check_all
from techflow_ops.runbooks.commands import AIRFLOW_COMMANDS, SHELL_LANGUAGES, CommandChecker, _commands
from techflow_ops.runbooks.document import parse_file


def test_shipped_runbooks_pass_the_check():
    registry = get_registry()
    assert set(registry.pipelines) == {"profit", "growth", "engagement", "executive_investor", "experiment_team"}
    assert [str(p) for p in check_all(registry, parser=build_parser())] == []


@pytest.mark.parametrize("pipeline_id", ["profit", "growth", "engagement", "executive_investor", "experiment_team"])
def test_every_required_issue_has_its_anchor(pipeline_id):
    registry = get_registry()
    doc = parse_file(registry.runbook_path(pipeline_id))
    missing = [anchor for anchor, _ in required_issues(registry.pipelines[pipeline_id]) if anchor not in doc.anchors]
    assert missing == []


def _airflow_parser():
    from airflow.cli.cli_parser import get_parser

    return get_parser()


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_known_airflow_commands_exist_in_airflow():
    groups = _subcommands(_airflow_parser())
    for group, subcommands in AIRFLOW_COMMANDS.items():
        assert group in groups, group
        assert subcommands <= set(_subcommands(groups[group])), (group, subcommands - set(_subcommands(groups[group])))


def test_airflow_commands_in_runbooks_parse_with_airflow():
    parser = _airflow_parser()
    registry = get_registry()
    seen = 0
    for pipeline_id in registry.pipelines:
        doc = parse_file(registry.runbook_path(pipeline_id))
        checker = CommandChecker(build_parser())
        checker.collect_assignments([c for c in doc.fences if c.language in SHELL_LANGUAGES])
        commands = [(text, code.line) for code in doc.fences if code.language in SHELL_LANGUAGES for text, _ in _commands(code.text, code.line)]
        commands += [(code.text, code.line) for code in doc.inline_code if code.text.startswith("airflow ")]
        for text, line in commands:
            argv = shlex.split(checker._substitute(text, line), comments=True)
            if not argv or argv[0] != "airflow":
                continue
            seen += 1
            with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
                try:
                    parser.parse_args(argv[1:])
                except SystemExit:
                    pytest.fail(f"{doc.path.name}:{line}: `{text}` does not parse with Airflow's CLI: {err.getvalue().strip()}")
    assert seen > 20

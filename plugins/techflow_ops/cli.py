"""`techflow-ops`: the project's command line.

Each area owns its sub-commands in `<area>/cli.py` with a `register(subparsers)` function,
so this file only dispatches and never grows logic of its own, apart from keeping every
command's logs on stderr (stdout carries the result, e.g. the `--json` document).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.abc
import importlib.util
import os
import sys

from . import config_check, settings
from .digests import cli as digests_cli
from .drills import cli as drills_cli
from .escalation import cli as escalation_cli
from .inbox import cli as inbox_cli
from .kpi import cli as kpi_cli
from .lineage import cli as lineage_cli
from .oncall import cli as oncall_cli
from .opsdb import cli as opsdb_cli
from .pipelines import cli as pipelines_cli
from .quality import cli as quality_cli
from .reports import cli as reports_cli
from .runbooks import cli as runbooks_cli
from .watchdog import cli as watchdog_cli

AREA_CLIS = (config_check, pipelines_cli, oncall_cli, escalation_cli, opsdb_cli, drills_cli, quality_cli, runbooks_cli,
             inbox_cli, reports_cli, lineage_cli, watchdog_cli, kpi_cli,
             digests_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="techflow-ops", description=__doc__.splitlines()[0])
    # Commands that check other commands (`runbooks check`) read the whole parser from here.
    parser.set_defaults(command_parser=parser)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for area_cli in AREA_CLIS:
        area_cli.register(subparsers)
    return parser


class _Stderr:
    """Whatever sys.stderr is at each write, for log sinks that keep the stream they were given
    (a caller or test may swap sys.stderr later, as the stdlib's last-resort handler allows)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def __getattr__(self, name: str):
        return getattr(sys.stderr, name)


class _AirflowLogsToStderr(importlib.abc.MetaPathFinder):
    """Imports `airflow` (which configures logging on its first import) with stdout pointed at
    stderr, then points Airflow's structlog logger factory at stderr too, so that no log line,
    such as a provider's HTTP warning, lands in a command's stdout (its JSON document)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "airflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)  # the ordinary finders, this one removed
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module  # a loader instance of this spec alone

            def exec_module_logging_to_stderr(module) -> None:
                with contextlib.redirect_stdout(_Stderr()):  # the stdlib handler binds sys.stdout here
                    exec_module(module)
                _structlog_to_stderr()

            spec.loader.exec_module = exec_module_logging_to_stderr
        return spec


def _structlog_to_stderr() -> None:
    import structlog

    factory = structlog.get_config()["logger_factory"]
    # Airflow's LoggerFactory has io=None: each logger would bind sys.stdout when first used.
    if getattr(factory, "io", False) is None:
        factory.io = sys.stderr.buffer if issubclass(getattr(factory, "cls", object), structlog.BytesLogger) else _Stderr()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Logs go to stderr, results to stdout: Airflow's log sinks, bound to sys.stdout on its lazy
    # first import, are moved rather than every command's printing. A process that imported
    # Airflow before calling main (tests, embedding) keeps its own logging setup.
    hook = None if "airflow" in sys.modules else _AirflowLogsToStderr()
    if hook is not None:
        sys.meta_path.insert(0, hook)
        # Airflow's own default is ~/airflow; this project's (`make start`, the ops DB) is .airflow
        # beside it, so a command that reads Airflow's config (the metadata DB of `kpi`, the
        # watchdog) looks where `make start` runs Airflow.
        os.environ.setdefault("AIRFLOW_HOME", str(settings.airflow_home()))
    try:
        result = args.handler(args)
    finally:
        if hook in sys.meta_path:
            sys.meta_path.remove(hook)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

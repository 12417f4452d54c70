"""`techflow-ops`: the project's command line.

Each area owns its sub-commands in `<area>/cli.py` with a `register(subparsers)` function,
so this file only dispatches and never grows logic of its own.
"""

from __future__ import annotations

import argparse
import sys

from . import config_check
from .drills import cli as drills_cli
from .escalation import cli as escalation_cli
from .oncall import cli as oncall_cli
from .opsdb import cli as opsdb_cli
from .pipelines import cli as pipelines_cli
from .quality import cli as quality_cli
from .runbooks import cli as runbooks_cli

AREA_CLIS = (config_check, pipelines_cli, oncall_cli, escalation_cli, opsdb_cli, drills_cli, quality_cli, runbooks_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="techflow-ops", description=__doc__.splitlines()[0])
    # Commands that check other commands (`runbooks check`) read the whole parser from here.
    parser.set_defaults(command_parser=parser)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for area_cli in AREA_CLIS:
        area_cli.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result = args.handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

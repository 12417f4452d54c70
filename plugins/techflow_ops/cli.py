"""`techflow-ops`: the project's command line.

Each area owns its sub-commands in `<area>/cli.py` with a `register(subparsers)` function,
so this file only dispatches and never grows logic of its own.
"""

from __future__ import annotations

import argparse
import importlib
import sys

AREA_CLI_MODULES = (
    "techflow_ops.registry.cli",
    "techflow_ops.pipelines.cli",
    "techflow_ops.oncall.cli",
    "techflow_ops.escalation.cli",
    "techflow_ops.quality.cli",
    "techflow_ops.runbooks.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="techflow-ops", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in AREA_CLI_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):  # that area has no commands yet
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result = args.handler(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())

"""`techflow-ops config check [DIR]`."""

from __future__ import annotations

import sys

from .errors import ConfigError
from .registry import load_registry

#: Further checks other areas run on the same folder (rotation, escalation policy), each
#: `callable(config_dir, registry) -> None` raising ConfigError. Areas append to this.
EXTRA_CHECKS: list[str] = [
    "techflow_ops.oncall.config:check_config_dir",
    "techflow_ops.escalation.policy:check_config_dir",
]


def _run_extra_checks(config_dir, registry) -> list:
    import importlib

    problems = []
    for spec in EXTRA_CHECKS:
        module_name, func_name = spec.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        try:
            getattr(module, func_name)(config_dir, registry)
        except ConfigError as exc:
            problems += exc.problems
    return problems


def _check(args) -> int:
    try:
        registry = load_registry(args.dir)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    problems = _run_extra_checks(registry.config_dir, registry)
    if problems:
        print(ConfigError(problems), file=sys.stderr)
        return 1
    print(
        f"{registry.config_dir}: OK ({len(registry.people)} people, {len(registry.teams)} teams, "
        f"{len(registry.pipelines)} pipelines)"
    )
    return 0


def register(subparsers) -> None:
    config = subparsers.add_parser("config", help="validate the source-of-truth configuration")
    sub = config.add_subparsers(dest="config_command", required=True)
    check = sub.add_parser("check", help="validate a config folder; exit 1 on any problem")
    check.add_argument("dir", nargs="?", default=None, help="config folder (default: include/config)")
    check.set_defaults(handler=_check)

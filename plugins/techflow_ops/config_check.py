"""`techflow-ops config check [DIR]`: the registry, the on-call rotation and the escalation
policy of one config folder, validated together; every problem names file, field and value."""

from __future__ import annotations

import sys

from .escalation.policy import check_config_dir as check_escalation_policy
from .oncall import check_config_dir as check_oncall
from .registry import ConfigError, load_registry

AREA_CHECKS = (check_oncall, check_escalation_policy)


def _check(args) -> int:
    try:
        registry = load_registry(args.dir)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    problems = []
    for check in AREA_CHECKS:
        try:
            check(registry.config_dir, registry)
        except ConfigError as exc:
            problems += exc.problems
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

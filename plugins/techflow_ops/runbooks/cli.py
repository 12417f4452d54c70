"""`techflow-ops runbooks generate|check|show`."""

from __future__ import annotations

import sys
from pathlib import Path

from ..registry import ConfigError, load_registry


def _registry(args):
    return load_registry(args.config_dir, project_root=args.root)


def _pipelines(args, registry) -> list[str] | None:
    unknown = [p for p in args.pipeline or [] if p not in registry.pipelines]
    if unknown:
        raise ConfigError.single(registry.config_dir / "pipelines.yaml", "pipelines", unknown, "unknown pipeline id(s) given with --pipeline")
    return args.pipeline or None


def _generate(args) -> int:
    from .check import generate_all

    try:
        registry = _registry(args)
        changed = generate_all(registry, _pipelines(args, registry))
    except (ConfigError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    for path in changed:
        print(f"regenerated {path}")
    if not changed:
        print("runbooks: generated blocks already up to date")
    return 0


def _check(args) -> int:
    from .check import check_all

    try:
        registry = _registry(args)
        problems = check_all(registry, _pipelines(args, registry), parser=args.command_parser)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    for problem in problems:
        print(problem, file=sys.stderr)
    checked = args.pipeline or list(registry.pipelines)
    if problems:
        print(f"runbooks: {len(problems)} problem(s) in {len({p.file for p in problems})} file(s)", file=sys.stderr)
        return 1
    print(f"runbooks: OK ({len(checked)} checked: {', '.join(checked)})")
    return 0


def _show(args) -> int:
    from .document import parse_file

    registry = _registry(args)
    if args.pipeline_id not in registry.pipelines:
        print(f"unknown pipeline {args.pipeline_id!r} (known: {', '.join(registry.pipelines)})", file=sys.stderr)
        return 1
    doc = parse_file(registry.runbook_path(args.pipeline_id))
    if args.anchor is None:
        print("\n".join(doc.lines))
        return 0
    heading = next((h for h in doc.headings if h.anchor == args.anchor), None)
    if heading is None:
        print(f"{doc.path}: no section #{args.anchor} (anchors: {', '.join(h.anchor for h in doc.headings)})", file=sys.stderr)
        return 1
    section = next(s for s in doc.sections(heading.level) if s.heading == heading)
    print("\n".join(doc.lines[section.heading.line - 1 : section.end_line]).rstrip())
    return 0


def register(subparsers) -> None:
    runbooks = subparsers.add_parser("runbooks", help="generate, check and show the pipeline runbooks")
    sub = runbooks.add_subparsers(dest="runbooks_command", required=True)

    def common(parser, with_pipeline_filter: bool = True) -> None:
        parser.add_argument("--config-dir", type=Path, default=None, help="config folder (default: include/config)")
        parser.add_argument("--root", type=Path, default=None, help="project root the runbook paths are relative to")
        if with_pipeline_filter:
            parser.add_argument("--pipeline", action="append", help="only this pipeline (repeatable)")

    generate = sub.add_parser("generate", help="re-render the generated blocks (owners, SLAs, checks, escalation) from the code")
    common(generate)
    generate.set_defaults(handler=_generate)
    check = sub.add_parser("check", help="exit 1 naming file and line for every missing section, stale block, unknown command/table or broken link")
    common(check)
    check.set_defaults(handler=_check)
    show = sub.add_parser("show", help="print a runbook, or one section of it by anchor")
    show.add_argument("pipeline_id")
    show.add_argument("anchor", nargs="?", default=None, help="e.g. kafka-outage")
    common(show, with_pipeline_filter=False)
    show.set_defaults(handler=_show)

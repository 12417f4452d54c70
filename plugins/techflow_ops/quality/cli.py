"""`techflow-ops dq report|validate`: the latest quality results, and validating on demand."""

from __future__ import annotations

import json
from datetime import date


def _report(args) -> int:
    from .results import latest

    found = latest(pipeline_id=args.pipeline)
    if args.format == "json":
        print(json.dumps([r.as_dict() for r in found], indent=2, default=str))
        return 0
    if not found:
        print("no quality results yet" + (f" for {args.pipeline}" if args.pipeline else ""))
        return 0
    print(f"{'pipeline':<20} {'dataset':<28} {'partition':<11} {'status':<7} {'rows':>8}  validated (UTC)")
    for result in found:
        rows = "" if result.row_count is None else str(result.row_count)
        print(f"{result.pipeline_id:<20} {result.dataset:<28} {result.partition_key:<11} {result.status:<7} "
              f"{rows:>8}  {result.validated_at:%Y-%m-%d %H:%M}")
        for outcome in result.failed:
            print(f"    [{outcome.severity}] {outcome.check}: {json.dumps(outcome.observed, default=str)[:200]}")
        if result.data_docs_url:
            print(f"    {result.data_docs_url}")
    return 0


def _validate(args) -> int:
    from ..registry import get_registry
    from .suites import SUITES, suites_for
    from .validation import get_runner

    if args.pipeline and args.pipeline not in get_registry().pipelines:
        raise SystemExit(f"dq validate: unknown pipeline {args.pipeline!r} (known: {', '.join(get_registry().pipelines)})")
    suites = [SUITES[args.dataset]] if args.dataset else suites_for(args.pipeline)
    runner = get_runner()
    exit_code = 0
    for suite in suites:
        result = runner.validate(suite, args.date, args.run_id)
        print(result.summary())
        exit_code = exit_code or (1 if result.failed_critical else 0)
    return exit_code


def register(subparsers) -> None:
    from .suites import SUITES

    dq = subparsers.add_parser("dq", help="data quality: latest results, validate a dataset")
    commands = dq.add_subparsers(dest="dq_command", required=True)
    report = commands.add_parser("report", help="the latest validation of every dataset")
    report.add_argument("--pipeline", help="only this pipeline's datasets")
    report.add_argument("--format", choices=("text", "json"), default="text")
    report.set_defaults(handler=_report)
    validate = commands.add_parser("validate", help="validate a dataset (or a pipeline's datasets) for a date")
    target = validate.add_mutually_exclusive_group(required=True)
    target.add_argument("--dataset", choices=sorted(SUITES))
    target.add_argument("--pipeline")
    validate.add_argument("--date", type=date.fromisoformat, required=True, help="YYYY-MM-DD in the partition")
    validate.add_argument("--run-id", default="manual")
    validate.set_defaults(handler=_validate)

"""`techflow-ops data generate|faults|check-records|contracts` and `techflow-ops demo`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

DEFAULT_DAYS = 14


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _range(args) -> tuple[date, date]:
    end = args.end or date.today() - timedelta(days=1)
    start = args.start or end - timedelta(days=DEFAULT_DAYS - 1)
    if end < start:
        raise SystemExit(f"error: --end {end} is before --start {start}")
    return start, end


def _generator_config(args, start: date, end: date):
    from .synthetic import FaultSpec, GeneratorConfig

    try:
        faults = tuple(FaultSpec.parse(text) for text in args.fault or [])
        return GeneratorConfig(start=start, end=end, accounts=args.accounts, events_per_day=args.events_per_day,
                               seed=args.seed, faults=faults)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None


def _generate(args) -> int:
    from .synthetic import generate

    start, end = _range(args)
    config = _generator_config(args, start, end)
    started = time.perf_counter()
    result = generate(config, Path(args.data_dir) if args.data_dir else None)
    print(f"landed {sum(result.records.values())} records in {result.files} files under {result.landing_dir} "
          f"({start}..{end}, {time.perf_counter() - started:.1f} s)")
    for source, count in sorted(result.records.items()):
        print(f"  {source:<24} {count:>10}")
    for fault in config.faults:
        print(f"  fault injected: {fault}")
    return 0


def _faults(args) -> int:
    from .synthetic import fault_catalogue

    catalogue = fault_catalogue()
    if args.json:
        print(json.dumps(catalogue, indent=2))
        return 0
    for entry in catalogue:
        print(f"{entry['fault']}: {entry['description']}\n    sources: {', '.join(entry['sources'])}\n"
              f"    visible in: {entry['visible_in']}")
    return 0


def _check_records(args) -> int:
    from .contracts import check_file

    path = Path(args.file)
    if not path.is_file():
        why = "is a directory, not a file" if path.is_dir() else "no such file"
        print(f"error: FILE {args.file!r}: {why}", file=sys.stderr)
        return 2
    result = check_file(args.source, path)
    if args.format == "json":
        print(json.dumps(result.as_dict(), indent=2, default=str))
    else:
        print(f"{result.source} {path}: {result.loaded} loaded, {result.rejected} rejected "
              f"(contract v{result.as_dict()['contract_version']})")
        for reason, count in result.by_reason().items():
            print(f"  {count:>7}  {reason}")
        for reject in result.rejects[: args.limit]:
            print(f"  line {reject['line']}: {reject['message']}")
        if result.rejected > args.limit:
            print(f"  ... {result.rejected - args.limit} more (--limit, or --format json for all)")
    return 1 if result.rejected else 0


def _contracts(args) -> int:
    from .contracts import CONTRACT_VERSION, CONTRACTS, contract_for

    chosen = [contract_for(args.source)] if args.source else list(CONTRACTS.values())
    if args.format == "json":
        print(json.dumps({"contract_version": CONTRACT_VERSION,
                          "sources": {c.source.value: c.json_schema() for c in chosen}}, indent=2))
        return 0
    for contract in chosen:
        print(f"{contract.source.value} (v{CONTRACT_VERSION}): {contract.description}")
        for name, spec in contract.fields().items():
            kind = spec["schema"].get("format") or spec["schema"].get("type") or "text or null"
            column = f" -> {spec['column']}" if spec["column"] != name else ""
            print(f"  {name:<28} {kind:<12} {'required' if spec['required'] else 'optional'}{column}")
        key = f", stored as {contract.key_column}" if contract.key_column else ""
        print(f"  identity: ({', '.join(contract.identity)}){key}; other fields are kept in `raw`")
    return 0


def _demo(args) -> int:
    from .steps import pipeline_order, run_pipeline
    from .synthetic import generate
    from .warehouse import get_engine, warehouse_url

    start, end = _range(args)
    data_dir = Path(args.data_dir).resolve() if args.data_dir else None
    if data_dir:  # the default warehouse lives in the data folder too
        os.environ["TECHFLOW_DATA_DIR"] = str(data_dir)
    if not args.no_generate:
        config = _generator_config(args, start, end)
        result = generate(config, data_dir)
        print(f"generated {sum(result.records.values())} landing records for {start}..{end} under {result.landing_dir}",
              file=sys.stderr if args.json else sys.stdout)  # with --json, stdout carries only the JSON document
    engine = get_engine()
    totals: dict[str, dict] = {}
    started = time.perf_counter()
    day = start
    while day <= end:
        for pipeline_id in pipeline_order():
            summary = run_pipeline(engine, pipeline_id, day, f"demo__{day.isoformat()}", data_dir)
            total = totals.setdefault(pipeline_id, {"runs": 0, "rows": 0, "rejects": 0, "late": 0, "missing": 0, "seconds": 0.0})
            as_dict = summary.as_dict()
            total["runs"] += 1
            total["rows"] += summary.rows_written
            total["rejects"] += summary.rows_rejected
            total["late"] += as_dict["late_rows"]
            total["missing"] += len(summary.missing_partitions)
            total["seconds"] += summary.seconds
        day += timedelta(days=1)
    if args.json:
        print(json.dumps({"start": start.isoformat(), "end": end.isoformat(), "warehouse": warehouse_url(),
                          "pipelines": totals}, indent=2))
        return 0
    print(f"\nwarehouse: {warehouse_url()}   dates: {start}..{end}")
    header = f"{'pipeline':<20} {'runs':>5} {'rows written':>13} {'rejects':>8} {'late':>6} {'missing':>8} {'duration':>9}"
    print(header)
    print("-" * len(header))
    for pipeline_id, t in totals.items():
        print(f"{pipeline_id:<20} {t['runs']:>5} {t['rows']:>13} {t['rejects']:>8} {t['late']:>6} {t['missing']:>8} "
              f"{t['seconds']:>8.2f}s")
    print(f"total {time.perf_counter() - started:.2f} s")
    return 0


def _add_generation_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=_date, help=f"first date (default: the {DEFAULT_DAYS} days ending with --end)")
    parser.add_argument("--end", type=_date, help="last date (default: yesterday)")
    parser.add_argument("--accounts", type=int, default=40, help="customer accounts (default 40)")
    parser.add_argument("--events-per-day", type=int, default=5000, help="click events per day (default 5000)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--fault", action="append", metavar="SOURCE:DATE:FAULT",
                        help="inject a fault, e.g. click_events:2026-11-20:late_events (repeatable)")
    parser.add_argument("--data-dir", help="data folder for landing files and the default SQLite warehouse "
                                           "(default: $TECHFLOW_DATA_DIR or <project>/data)")


def register(subparsers) -> None:
    data = subparsers.add_parser("data", help="synthetic TechFlow landing data")
    sub = data.add_subparsers(dest="data_command", required=True)
    generate = sub.add_parser("generate", help="land deterministic synthetic data for a date range")
    _add_generation_options(generate)
    generate.set_defaults(handler=_generate)
    faults = sub.add_parser("faults", help="list the faults the generator can inject")
    faults.add_argument("--json", action="store_true")
    faults.set_defaults(handler=_faults)

    from .sources import Source

    sources = [s.value for s in Source]
    check = sub.add_parser("check-records", help="type a JSON-lines file against a source's contract without loading it "
                                                 "(exit 1 when any line is rejected)")
    check.add_argument("source", metavar="SOURCE", choices=sources, help=f"one of {', '.join(sources)}")
    check.add_argument("file", metavar="FILE", help="a JSON-lines file, one record a line")
    check.add_argument("--format", choices=("table", "json"), default="table")
    check.add_argument("--limit", type=int, default=20, help="rejected lines to list in the table (default 20)")
    check.set_defaults(handler=_check_records)
    contracts = sub.add_parser("contracts", help="show each source's record contract (fields, types, required)")
    contracts.add_argument("source", metavar="SOURCE", nargs="?", choices=sources)
    contracts.add_argument("--format", choices=("table", "json"), default="table")
    contracts.set_defaults(handler=_contracts)

    demo = subparsers.add_parser("demo", help="run the five pipelines headless over a date range and print a summary")
    _add_generation_options(demo)
    demo.add_argument("--no-generate", action="store_true", help="use the landing data already there")
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.set_defaults(handler=_demo)

"""`techflow-ops kpi`: KPIs per pipeline, per person and in total for a window of days."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, timedelta, timezone

DEFAULT_DAYS = 7


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not a date (YYYY-MM-DD): {value!r}") from None


_date.__name__ = "date"  # argparse names the type in "invalid date value: ..."


def _instant(value: str) -> datetime:
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return at.astimezone(timezone.utc)


_instant.__name__ = "ISO 8601 instant"


def _team_tz(registry) -> str:
    """The on-call rotation's time zone (oncall.yaml `handoff.timezone`): whose days the window names."""
    from ..oncall.config import load_oncall_config

    return load_oncall_config(registry.config_dir, registry).rotation.tz.key


def _fail(message: str) -> int:
    print(f"kpi: {message}", file=sys.stderr)
    return 2


def _run(args) -> int:
    from ..registry import get_registry
    from . import Window, compute_kpis, load_history

    registry = get_registry()
    if args.pipeline is not None and args.pipeline not in registry.pipelines:
        return _fail(f"--pipeline {args.pipeline!r}: unknown pipeline (known: {', '.join(sorted(registry.pipelines))})")
    if args.person is not None and args.person not in registry.people:
        return _fail(f"--person {args.person!r}: unknown person (known: {', '.join(sorted(registry.people))})")
    now = args.at or datetime.now(timezone.utc)
    tz = _team_tz(registry)
    from zoneinfo import ZoneInfo

    today = now.astimezone(ZoneInfo(tz)).date()
    to_date = args.to_date or today
    from_date = args.from_date or to_date - timedelta(days=DEFAULT_DAYS - 1)
    if from_date > to_date:
        return _fail(f"--from {from_date.isoformat()} is after --to {to_date.isoformat()}")
    window = Window.from_dates(from_date, to_date, tz)
    try:
        history = load_history(window, registry=registry)
    except RuntimeError as exc:  # a source that cannot be read: say which, without a traceback
        print(f"kpi: {exc}", file=sys.stderr)
        return 1
    kpis = compute_kpis(window, history, registry=registry, pipeline=args.pipeline, person=args.person, now=now)
    if args.format == "json":
        print(json.dumps(kpis, indent=2, default=str))
    else:
        print(format_table(kpis))
    return 0


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _duration(seconds) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f}m" if seconds < 3600 else f"{seconds / 3600:.1f}h"


def format_table(kpis: dict) -> str:
    lines = [f"KPIs {kpis['from']} .. {kpis['to']}", ""]
    lines.append(f"{'pipeline':<22} {'health':<9} {'runs':>5} {'success':>8} {'fresh':>7} {'misses':>6} {'inc':>4} "
                 f"{'open':>4} {'MTTA p50':>8} {'MTTR p50':>8} {'down h':>7} {'DQ val':>7} {'uptime':>8}")
    rows = list(kpis["pipelines"].items()) + [("TOTAL", kpis["totals"])]
    for name, k in rows:
        health = k.get("health", {}).get("state", "")
        lines.append(f"{name:<22} {health:<9} {k['runs']:>5} {_pct(k['run_success_rate']):>8} "
                     f"{_pct(k['freshness_sla_attainment']):>7} {k['deadline_misses']:>6} {k['incidents']:>4} "
                     f"{k['open_incidents']:>4} {_duration(k['mtta_seconds']['median']):>8} "
                     f"{_duration(k['mttr_seconds']['median']):>8} {k['data_downtime_hours']:>7.1f} "
                     f"{_pct(k['dq_pass_rate']['validations']):>7} {_pct(k['uptime']):>8}")
    for name, k in kpis["pipelines"].items():
        for reason in k["health"]["reasons"]:
            lines.append(f"  {name}: {reason}")
    if kpis["people"]:
        lines += ["", f"{'person':<12} {'primary h':>9} {'second h':>9} {'watch h':>8} {'pages':>5} {'business':>8} "
                      f"{'off':>4} {'sleep':>5} {'acks':>4} {'MTTA p50':>8} {'esc past':>8}"]
        for name, p in kpis["people"].items():
            hours, interruptions = p["oncall_hours"], p["interruptions"]
            lines.append(f"{name:<12} {hours['primary']:>9.1f} {hours['secondary']:>9.1f} {hours['watch']:>8.1f} "
                         f"{p['pages']:>5} {interruptions['business']:>8} {interruptions['off_hours']:>4} "
                         f"{interruptions['sleep']:>5} {p['acks']:>4} {_duration(p['mtta_seconds']['median']):>8} "
                         f"{p['escalated_past']:>8}")
    lines += ["", "targets:"]
    for name, t in kpis["totals"]["targets"].items():
        verdict = "n/a" if t["met"] is None else "met" if t["met"] else "MISSED"
        lines.append(f"  {name:<30} target {_pct(t['target']):>7}  value {_pct(t['value']):>7}  {verdict}")
    return "\n".join(lines)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "kpi", help="KPIs per pipeline, per person and in total, with each pipeline's health",
        description="KPIs over whole days --from..--to (both inclusive, in the on-call rotation's time zone; "
                    f"default: the last {DEFAULT_DAYS} days up to today). Definitions: README 'KPIs and health'.")
    parser.add_argument("--from", dest="from_date", type=_date, default=None, help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="to_date", type=_date, default=None, help="last day, YYYY-MM-DD (default: today)")
    parser.add_argument("--pipeline", default=None, help="only this pipeline (and pages, acks of its incidents)")
    parser.add_argument("--person", default=None, help="only this person")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--at", type=_instant, default=None, help="compute as of this instant (ISO 8601; default: now)")
    parser.set_defaults(handler=_run)

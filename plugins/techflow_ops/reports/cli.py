"""`techflow-ops reports sign-off|status`: Business Analytics sign-off of a frozen snapshot,
and each period's readiness (complete, validated, signed off)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, timezone

from .snapshots import CADENCES


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _engine():
    from ..pipelines.warehouse import get_engine

    return get_engine()


def _sign_off(args) -> int:
    from .snapshots import ReportsError, sign_off

    try:
        result = sign_off(_engine(), args.report, args.period, args.user)
    except ReportsError as exc:
        print(f"reports sign-off: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(json.dumps(result, indent=2, default=str))
        return 0
    snapshot, signed = result["snapshot"], result["signed_off"]
    what = f"{snapshot['report']} {snapshot['period']} version {snapshot['version']}"
    if result["already_signed_off"]:
        print(f"{what} was already signed off by {signed['name']} ({signed['by']}) at {signed['at']}; nothing changed")
    else:
        print(f"{what} signed off by {signed['name']} ({signed['by']}, {signed['team']}) at {signed['at']}")
    if not snapshot["complete"]:
        coverage = ", ".join(f"{name} {days}/{snapshot['days_in_period']}" for name, days in snapshot["coverage"].items())
        print(f"note: the snapshot is not complete ({coverage} days)")
    return 0


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def _status(args) -> int:
    from .snapshots import status

    periods = status(_engine(), args.at or datetime.now(timezone.utc).date())
    if args.format == "json":
        print(json.dumps({"periods": periods}, indent=2, default=str))
        return 0
    header = f"{'report':<17} {'period':<11} {'frozen':<8} {'complete':<22} {'validated':<19} {'signed off':<30} ready"
    print(header)
    print("-" * len(header))
    for p in periods:
        frozen = f"v{p['version']}" if p["frozen"] else ("open" if not p["ended"] else "no")
        if p["coverage"] is None:
            complete = "not built"
        else:
            days = "/".join(str(d) for d in p["coverage"].values())
            complete = f"{_yes_no(p['complete'])} ({days} of {p['days_in_period']})"
        validated = f"{_yes_no(p['validated'])} ({p['dq_status']})" if p["dq_status"] else "-"
        signed = p["signed_off"]
        signed_text = f"{signed['by']} {signed['at'][:16].replace('T', ' ')}" if signed else "-"
        print(f"{p['report']:<17} {p['period']:<11} {frozen:<8} {complete:<22} {validated:<19} {signed_text:<30} "
              f"{_yes_no(p['ready'])}")
    print("complete: profit/growth/engagement days covered of the days in the period")
    return 0


def register(subparsers) -> None:
    reports = subparsers.add_parser("reports", help="investor/executive snapshots: sign-off and readiness")
    commands = reports.add_subparsers(dest="reports_command", required=True)
    sign_off = commands.add_parser("sign-off", help="record the Business Analytics sign-off of a period's latest snapshot")
    sign_off.add_argument("report", choices=CADENCES, help="monthly (investor report) or weekly (executive report)")
    sign_off.add_argument("period", help="monthly: YYYY-MM (2026-11); weekly: the week's Monday (2026-11-23) or ISO week (2026-W48)")
    sign_off.add_argument("--user", required=True, help="who signs (a Business Analytics person id, e.g. ravi)")
    sign_off.add_argument("--format", choices=("text", "json"), default="text")
    sign_off.set_defaults(handler=_sign_off)
    status = commands.add_parser("status", help="each period's readiness: frozen, complete, validated, signed off")
    status.add_argument("--at", type=_date, help="the day whose current and previous periods to show (default: today, UTC)")
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.set_defaults(handler=_status)

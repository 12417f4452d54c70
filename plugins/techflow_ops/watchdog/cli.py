"""`techflow-ops watchdog`: the dead-man's switch beside Airflow (README "Watchdog")."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta, timezone


def _duration(value: str) -> timedelta:
    from ..registry import parse_duration

    text = value.strip()
    try:
        return timedelta(seconds=float(text))  # bare seconds
    except ValueError:
        pass
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r}: {exc}") from None


def _grace(value: str) -> timedelta:
    return timedelta(0) if value.strip() in ("0", "0s") else _duration(value)


def _instant(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 instant") from None
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)


def _logging() -> None:
    import logging

    logger = logging.getLogger("techflow_ops.watchdog")
    if not logger.handlers:  # its own handler: Airflow's logging setup (on first import) keeps it
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _run(args) -> int:
    from pathlib import Path

    from . import checks
    from .service import Watchdog, run_forever, utcnow

    _logging()
    include = tuple(args.only) if args.only else (checks.PLATFORM, checks.DATA)
    if args.once:
        watchdog = Watchdog(api_url=args.api_url, startup_grace=timedelta(0), started_at=None, include=include,
                            dry_run=args.dry_run)
        results = watchdog.run_once(args.at)
        if args.format == "json":
            print(json.dumps({"at": (args.at or utcnow()).isoformat(), "checks": [r.to_dict() for r in results],
                              "stale": sum(r.status == checks.STALE for r in results)}, indent=2))
        else:
            print(checks.format_table(results))
        return checks.exit_code(results)
    if args.at is not None:
        raise SystemExit("--at is for --once (a check at a fake instant)")
    watchdog = Watchdog(api_url=args.api_url, startup_grace=args.startup_grace, started_at=utcnow(), include=include,
                        dry_run=args.dry_run)
    interval = args.interval or watchdog.escalation.policy.watchdog.interval
    run_forever(watchdog, interval, heartbeat_file=Path(args.heartbeat_file) if args.heartbeat_file else None)
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "watchdog", help="dead-man's switch: page when the scheduler, triggerer or escalation engine stops, "
                         "or a pipeline's data goes stale",
        description="Every --interval: the scheduler's and triggerer's heartbeats (Airflow's /api/v2/monitor/health, "
                    "else the metadata DB's job table), the escalation engine's last successful tick and each "
                    "pipeline's newest published day against its freshness SLA. A stale check opens one incident "
                    "(dedup key watchdog:<check>) and pages its first step from this process; it is resolved when "
                    "the check is ok again. While the engine is stale it also runs the escalation tick in its place "
                    "(recorded as watchdog_last_tick, not as the engine's). Stops on SIGTERM/SIGINT.")
    parser.add_argument("--once", action="store_true", help="check once, print, exit 1 when any check is stale")
    parser.add_argument("--format", choices=("json", "table"), default="table", help="with --once (default: table)")
    parser.add_argument("--interval", type=_duration, default=None,
                        help="seconds or a duration (default: watchdog.interval in escalation.yaml, 60s)")
    parser.add_argument("--startup-grace", type=_grace, default=None,
                        help="no platform page this long after starting (default: watchdog.startup_grace, 3m)")
    parser.add_argument("--api-url", default=None,
                        help="Airflow's API base URL (default: TECHFLOW_AIRFLOW_BASE_URL / AIRFLOW__API__BASE_URL)")
    parser.add_argument("--only", action="append", choices=("platform", "data"), default=None,
                        help="only these checks (repeatable)")
    parser.add_argument("--at", type=_instant, default=None, help="with --once: check at this instant (ISO 8601)")
    parser.add_argument("--dry-run", action="store_true", help="check and print; open, page and resolve nothing")
    parser.add_argument("--heartbeat-file", default=None,
                        help="touch this file after every pass (a container healthcheck reads its age)")
    parser.set_defaults(handler=_run)

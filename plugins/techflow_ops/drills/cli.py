"""`techflow-ops drill NAME`: run a fire drill from the command line."""

from __future__ import annotations

import contextlib
import sys
from datetime import date
from pathlib import Path

from .catalogue import DRILLS
from .run import run_drill


def _drill_command(args) -> int:
    import json

    day = date.fromisoformat(args.day) if args.day else None
    # With --json, stdout carries only the JSON document: the run's own output goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        result = run_drill(args.drill, day=day, shared_ops_db=args.shared_ops_db,
                           workspace=Path(args.workspace) if args.workspace else None,
                           out=(lambda *_: None) if args.json else print)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    on_call_paged = result["on_call"] in result["paged"]
    if not args.json:
        print(f"drill {args.drill}: " + ("the on-call primary was paged" if on_call_paged
                                           else "the on-call primary was NOT reached (see the timeline above)"))
    return 0 if on_call_paged else 1


def register(subparsers) -> None:
    parser = subparsers.add_parser("drill", help="fire drill: inject a fault, run the DAG, watch the page go out")
    parser.add_argument("drill", choices=sorted(DRILLS))
    parser.add_argument("--day", help="the data day to break (default: yesterday, UTC)")
    parser.add_argument("--workspace", help="drill data folder (default: $TECHFLOW_DATA_DIR/drills/<drill>)")
    parser.add_argument("--shared-ops-db", action="store_true", help="open the incident in the configured ops DB")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=_drill_command)

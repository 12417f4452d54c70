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

    from .. import settings
    from .live import airflow_answers, run_live

    day = date.fromisoformat(args.day) if args.day else None
    injectable = bool(DRILLS[args.drill].fault_specs)  # the others break the run itself: local only
    base_url = settings.airflow_base_url()
    live = injectable and not args.local and (args.live or airflow_answers(base_url))
    if not live:
        print(f"drill {args.drill}: running locally (dag.test in this process, its own workspace)"
              + (f"; no Airflow answers at {base_url} (start one with `make start`, or pass --live)"
                 if injectable and not args.local else ""), file=sys.stderr)
    out = (lambda *_: None) if args.json else print
    # With --json, stdout carries only the JSON document: the run's own output goes to stderr.
    with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
        if live:
            result = run_live(args.drill, day=day, base_url=base_url, airflow_home=settings.airflow_home(),
                              data_dir=settings.data_dir(), out=out)
            reached = result["page_seconds"] is not None
        else:
            result = run_drill(args.drill, day=day, shared_ops_db=args.shared_ops_db,
                               workspace=Path(args.workspace) if args.workspace else None, out=out)
            reached = result["on_call"] in result["paged"]
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    elif live:
        print(f"drill {args.drill} (live): " + ("the on-call primary was paged" if reached
                                                 else "no page to the on-call primary reached the local inbox"))
    else:
        print(f"drill {args.drill}: " + ("the on-call primary was paged" if reached
                                           else "the on-call primary was NOT reached (see the timeline above)"))
    return 0 if reached else 1


def register(subparsers) -> None:
    parser = subparsers.add_parser("drill", help="fire drill: inject a fault, run the DAG, watch the page go out")
    parser.add_argument("drill", choices=sorted(DRILLS))
    parser.add_argument("--day", help="the data day to break (default: yesterday, UTC)")
    parser.add_argument("--workspace", help="drill data folder (default: $TECHFLOW_DATA_DIR/drills/<drill>)")
    parser.add_argument("--shared-ops-db", action="store_true", help="open the incident in the configured ops DB")
    parser.add_argument("--json", action="store_true")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--live", action="store_true",
                      help="against the running Airflow of `make start` (the default when it answers): fault in its "
                           "landing data, the real DAG triggered through the REST API, the page in the local inbox")
    mode.add_argument("--local", action="store_true", help="dag.test() in this process, in the drill's own workspace")
    parser.set_defaults(handler=_drill_command)

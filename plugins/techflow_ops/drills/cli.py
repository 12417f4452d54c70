"""`techflow-ops drill NAME`: run a fire drill from the command line."""

from __future__ import annotations

import contextlib
import sys
from datetime import date
from pathlib import Path

from .catalogue import DRILLS
from .run import run_drill


def _live_target(args):
    """(base URL, AIRFLOW_HOME) of the running Airflow to drill against, or None for a local drill."""
    from .. import settings
    from .catalogue import DRILLS
    from .live import airflow_answers

    if args.local or not DRILLS[args.drill].fault_specs:
        return None
    base_url = settings.airflow_base_url()
    if args.live or airflow_answers(base_url):
        return base_url, settings.airflow_home()
    return None


def _drill_command(args) -> int:
    import json

    day = date.fromisoformat(args.day) if args.day else None
    target = _live_target(args)
    if target is not None:
        from .. import settings
        from .live import run_live

        with contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext():
            result = run_live(args.drill, day=day, base_url=target[0], airflow_home=target[1],
                              data_dir=settings.data_dir(), out=(lambda *_: None) if args.json else print)
        if args.json:
            print(json.dumps(result, indent=2, default=str))
        paged = result["page_seconds"] is not None
        if not args.json:
            print(f"drill {args.drill} (live): " + ("the on-call primary was paged" if paged
                                                     else "no page to the on-call primary reached the local inbox"))
        return 0 if paged else 1
    print(f"drill {args.drill}: running locally (dag.test in this process, its own workspace)"
          + ("" if not DRILLS[args.drill].fault_specs else "; no Airflow answers at "
             + _base_url() + " (start one with `make start`, or pass --live)"), file=sys.stderr)
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


def _base_url() -> str:
    from .. import settings

    return settings.airflow_base_url()


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

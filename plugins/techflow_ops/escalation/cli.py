"""`techflow-ops incidents list|show|ack|resolve|escalate|reassign` and `techflow-ops escalation tick|deliver|policy`."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import datetime, timezone


def _at(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _print_json(data) -> None:
    print(json.dumps(data, indent=2, default=str))


def _summary_line(incident) -> str:
    where = incident.task_id or "(run)"
    ack = f" ack:{incident.acknowledged_by}" if incident.acknowledged_by else ""
    assigned = f" assigned:{incident.assigned_to}" if incident.assigned_to else ""
    return (f"#{incident.id:<5} {incident.status:<12} {incident.severity or 'major':<8} L{incident.level} "
            f"{incident.pipeline_id:<20} {where:<24} {incident.failure_mode or incident.failure_class:<20} "
            f"{incident.opened_at:%Y-%m-%d %H:%M}Z {incident.run_id or '-'}{ack}{assigned}")


def _list(args) -> int:
    from . import list_incidents

    found = list_incidents(status=args.status, pipeline_id=args.pipeline, limit=args.limit)
    if args.json:
        _print_json([i.to_dict() for i in found])
    else:
        for incident in found:
            print(_summary_line(incident))
        if not found:
            print("no incidents")
    return 0


def _show(args) -> int:
    from . import IncidentNotFound, get_incident

    try:
        incident = get_incident(args.id)
    except IncidentNotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.json:
        _print_json(incident.to_dict())
        return 0
    print(_summary_line(incident))
    print(f"error: {incident.error.splitlines()[0] if incident.error else '-'}")
    if incident.next_step_at:
        print(f"next escalation step at {incident.next_step_at.isoformat()}")
    print("timeline:")
    for event in incident.timeline:
        actor = f" [{event['actor']}]" if event["actor"] else ""
        print(f"  {event['at']:%Y-%m-%d %H:%M:%S}Z {event['kind']:<20}{actor} {event['message']}")
    print("notifications:")
    for n in incident.notifications:
        print(f"  {n['channel']:<9} {n['recipient']:<18} {n['target']:<40} {n['status']} "
              f"(attempts {n['attempts']}){' ' + n['last_error'] if n['last_error'] and n['status'] != 'delivered' else ''}")
    return 0


def _act(action: str):
    """The handler of `incidents ack|resolve|escalate|reassign`."""

    def handler(args) -> int:
        from . import IncidentNotFound, IncidentStateError, acknowledge, escalate, reassign, resolve

        func = {"ack": acknowledge, "resolve": resolve, "escalate": escalate, "reassign": reassign}[action]
        target = (args.to,) if action in ("escalate", "reassign") else ()
        try:
            incident = func(args.id, *target, args.user, args.note)
        except (IncidentNotFound, IncidentStateError, ValueError) as exc:
            print(exc, file=sys.stderr)
            return 1
        if args.json:
            _print_json(incident.to_dict())
            return 0
        print(_summary_line(incident))
        if target:
            print(incident.timeline[-1]["message"] if incident.timeline else "")
        for event in incident.timeline:
            if event["kind"] == "handover_offered" and action == "ack":
                print(f"hand over: {event['data']['command']}  ({event['data']['team_name']})")
        return 0

    return handler


def _tick(args) -> int:
    from . import service

    report = service().tick(_at(args.at))
    _print_json(report.to_dict())
    return 1 if report.errors else 0


def _deliver(args) -> int:
    from . import service

    report = service().deliver(at=_at(args.at))
    print(f"delivered {report.delivered}, failed {report.failed} (failed ones are retried with backoff)")
    return 0


def _policy(args) -> int:
    from ..registry import get_registry
    from .policy import get_policy

    registry = get_registry()
    config = get_policy()
    for pipeline in registry.pipelines.values():
        spec = config.policy_for(pipeline)
        print(f"{pipeline.id} ({pipeline.criticality.value}{', investor-facing' if pipeline.investor_facing else ''}): "
              f"repeat {spec.repeat}")
        for index, step in enumerate(spec.steps, 1):
            print(f"  {index}. level {step.level}: {', '.join(step.notify)}; wait {step.wait}")
    return 0


def register(subparsers) -> None:
    incidents = subparsers.add_parser("incidents", help="list, show, acknowledge and resolve incidents")
    sub = incidents.add_subparsers(dest="incidents_command", required=True)
    listing = sub.add_parser("list", help="incidents, newest first")
    listing.add_argument("--status", choices=["open", "acknowledged", "resolved", "unresolved"])
    listing.add_argument("--pipeline")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    show = sub.add_parser("show", help="one incident with its timeline and notifications")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_show)
    for name, help_text in (("ack", "acknowledge: stops escalation"), ("resolve", "resolve the incident")):
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("id", type=int)
        parser.add_argument("--user", default=getpass.getuser(), help="who (default: the OS user)")
        parser.add_argument("--note")
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(handler=_act(name))
    for name, help_text, to_help in (
        ("escalate", "page a team, a person or a failure mode's route now, by hand",
         "team:<id>, person:<id>, or a failure mode with a route in escalation.yaml (its team)"),
        ("reassign", "make a person the incident's assignee and page them", "person:<id>"),
    ):
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("id", type=int)
        parser.add_argument("--to", required=True, help=to_help)
        parser.add_argument("--user", default=getpass.getuser(), help="who (default: the OS user)")
        parser.add_argument("--note")
        parser.add_argument("--json", action="store_true")
        parser.set_defaults(handler=_act(name))

    escalation = subparsers.add_parser("escalation", help="the escalation engine")
    esub = escalation.add_subparsers(dest="escalation_command", required=True)
    tick = esub.add_parser("tick", help="advance due incidents, send shift notices, deliver the outbox (JSON report)")
    tick.add_argument("--at", help="act at this instant (ISO 8601, default now; naive = UTC)")
    tick.set_defaults(handler=_tick)
    deliver = esub.add_parser("deliver", help="retry pending notifications whose backoff passed")
    deliver.add_argument("--at")
    deliver.set_defaults(handler=_deliver)
    esub.add_parser("policy", help="print each pipeline's effective policy").set_defaults(handler=_policy)

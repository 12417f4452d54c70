"""`techflow-ops oncall now|schedule|publish|fairness|ics|override|swap|take|gaps|export|import`.

The schedule state (published schedule, overrides) lives in the ops DB; `export` writes it as
the YAML files for teams that keep config-as-code, `import` moves such files into the DB.

JSON output (`--format json`) is stable and documented in the README's On-call section.
"""

from __future__ import annotations

import json
import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import yaml

from ..registry import ConfigError
from .config import OVERRIDES_FILE
from .fairness import METRICS, fairness_report
from .model import Override, iso
from .service import (
    accept_swap,
    add_override,
    add_vacation,
    approve_swap,
    cancel_swap,
    decline_swap,
    import_yaml_state,
    list_swaps,
    list_vacations,
    load_schedule_service,
    publish_schedule,
    remove_override,
    remove_vacation,
    request_swap,
    take_shift,
)


def _instant(text: str, tz) -> datetime:
    """ISO 8601 with an offset or Z; a bare date means midnight in the rotation's timezone."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(0), tz).astimezone(timezone.utc)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SystemExit(f"error: {text!r} is not an ISO 8601 date or date-time (e.g. 2026-12-01T09:00:00Z)") from None
    if value.tzinfo is None:
        raise SystemExit(f"error: {text!r} has no UTC offset; add 'Z' or e.g. '-05:00'")
    return value.astimezone(timezone.utc)


def _service(args):
    try:
        return load_schedule_service(args.config_dir)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        raise SystemExit(1) from None


def _print_json(payload) -> None:
    print(json.dumps(payload, indent=2, sort_keys=False))


def page_order(service, pipeline_id: str, at: datetime) -> list[str]:
    """Who the escalation policy's level-1 steps page for `pipeline_id` at `at`, in order (the
    engine's own resolution: investor-period steps, vacations and cover, nobody twice)."""
    from ..escalation.planning import level_one_order
    from ..escalation.policy import get_policy, read_oncall

    registry = service.registry
    if pipeline_id not in registry.pipelines:
        raise KeyError(f"unknown pipeline {pipeline_id!r} (known: {', '.join(sorted(registry.pipelines))})")
    return level_one_order(registry.pipelines[pipeline_id], get_policy(registry.config_dir), registry,
                           read_oncall(service, at))


def _now(args) -> int:
    service = _service(args)
    at = _instant(args.at, service.rotation.tz) if args.at else datetime.now(timezone.utc)
    now = service.now(at)
    payload = now.to_json()
    if args.pipeline:
        try:
            payload["pipeline"] = args.pipeline
            payload["page_order"] = page_order(service, args.pipeline, at)
        except KeyError as exc:
            print(f"error: {exc.args[0]}", file=sys.stderr)
            return 2
    if args.format == "json":
        _print_json(payload)
    else:
        print(f"at {iso(now.at)}" + (" (investor-report period)" if now.in_investor_period else ""))
        for role in ("primary", "secondary", "investor_watch"):
            if payload[role] or role != "investor_watch":
                print(f"  {role:<15} {payload[role] or '-':<10} {now.sources.get(role, '')}")
        print(f"  next hand-off   {iso(now.next_handoff) or '-'}")
        if args.pipeline:
            print(f"  page {args.pipeline}: {' -> '.join(payload['page_order']) or '(nobody)'}")
        for gap in now.gaps:
            print(f"  GAP: {gap}")
    return 1 if now.gaps and not now.off_hours else 0


def _range(args, service) -> tuple[datetime, datetime]:
    start = _instant(args.start, service.rotation.tz) if args.start else datetime.now(timezone.utc)
    return start, start + timedelta(weeks=args.weeks)


def _schedule(args) -> int:
    service = _service(args)
    start, end = _range(args, service)
    shifts = service.shifts(start, end)
    if args.format == "json":
        _print_json({"from": iso(start), "until": iso(end), "shifts": [s.to_json() for s in shifts]})
        return 0
    for s in shifts:
        local = s.start.astimezone(service.rotation.tz)
        note = f"  ({s.reason})" if s.reason else ""
        print(f"{iso(s.start)} .. {iso(s.end)}  {local:%a %d %b %H:%M %Z}  {s.role:<15} {s.person:<10} {s.source}{note}")
    return 0


def _user() -> str:
    """Who ran the command, for the audit columns (created_by, removed_by)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli"


def _publish(args) -> int:
    service = _service(args)
    at = _instant(args.at, service.rotation.tz) if args.at else datetime.now(timezone.utc)
    result = publish_schedule(args.config_dir, at, weeks=args.weeks, by=_user())
    payload = {
        "stored_in": "ops DB",
        "written": result.written,
        "published_at": iso(result.published.published_at),
        "frozen_until": iso(result.frozen_until),
        "until": iso(result.published.until),
        "shifts": len(result.published.shifts),
        "gaps": [g.to_json() for g in result.published.gaps if g.end > at],
        "moved": [c.to_json() for c in result.moved],
        "notes": result.notes,
    }
    if args.format == "json":
        _print_json(payload)
    else:
        state = "published" if result.written else "unchanged (nothing to publish)"
        print(f"ops DB: {state}; frozen until {payload['frozen_until']}, published until {payload['until']}")
        for change in result.moved:
            print(f"  moved {change.role} {iso(change.start)} .. {iso(change.end)}: {change.previous or '-'} -> "
                  f"{change.current or '-'} (tell {', '.join(change.affected)})")
        for gap in payload["gaps"]:
            print(f"  GAP {gap['role']} {gap['start']} .. {gap['end']}: {gap['reason']}")
        for note in result.notes:
            print(f"  note: {note}")
    return 1 if payload["gaps"] else 0


def _fairness(args) -> int:
    from .fairness import window_shifts

    service = _service(args)
    start = _instant(args.start, service.rotation.tz) if args.start else service.covered_from
    end = start + timedelta(weeks=args.weeks) if args.weeks else service.covered_until
    shifts, timeline, notes = window_shifts(service, start, end)
    report = fairness_report(service.rotation, shifts, timeline, max(start, service.covered_from), end, notes)
    if args.format == "json":
        _print_json(report)
        return 0
    print(f"rotation {report['rotation']}  {report['from']} .. {report['until']}")
    for note in report["notes"]:
        print(f"note: {note}")
    units = report["units"]
    print("weights per hour: " + ", ".join(f"{k} {v:g}" for k, v in report["weights"].items())
          + f"; one plain shift = {units['shift_hours']:g} h, burden {units['shift_burden']:g}"
          + f" (heaviest in window {units['heaviest_shift_burden']:g})")
    short = {"shifts": "shifts", "hours": "hours", "business_hours": "business", "off_hours": "off-hrs",
             "sleep_hours": "sleep", "weekend_hours": "weekend", "holiday_hours": "holiday",
             "investor_hours": "investor", "burden": "burden"}
    for role, spread in report["fair"]["spread"].items():
        print(f"\n{role}")
        print(f"  {'person':<12}" + "".join(f"{short[m]:>10}" for m in METRICS))
        for person, row in report["fair"]["per_person"][role].items():
            print(f"  {person:<12}" + "".join(f"{row[m]:>10g}" for m in METRICS))
        rr = report["round_robin"]
        print(f"  {'spread':<12}" + "".join(f"{spread[m]:>10g}" for m in METRICS))
        print(f"  {'rr spread':<12}" + "".join(f"{rr['spread'].get(role, {}).get(m, 0):>10g}" for m in METRICS))
        print(f"  {'gini':<12}" + "".join(f"{report['fair']['gini'][role][m]:>10.3f}" for m in METRICS))
        print(f"  {'rr gini':<12}" + "".join(f"{rr['gini'].get(role, {}).get(m, 0):>10.3f}" for m in METRICS))
    return 0


def _ics(args) -> int:
    from .ical import ics_for_person, ics_for_team

    _service(args)
    try:
        data = ics_for_person(args.person, args.config_dir) if args.person else ics_for_team(args.team, args.config_dir)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.output:
        Path(args.output).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


def _override_add(args) -> int:
    service = _service(args)
    tz = service.rotation.tz
    start, end = _instant(args.start, tz), _instant(args.end, tz)
    override = Override(args.id or f"{args.person}-{args.role}-{start:%Y%m%dT%H%M}", args.person, args.role, start, end, args.reason)
    try:
        add_override(args.config_dir, override, by=_user())
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    entry = {"id": override.id, "person": override.person, "role": override.role, "start": iso(start), "end": iso(end),
             "reason": override.reason}
    print(json.dumps(entry) if args.format == "json" else f"added override {entry['id']}")
    return 0


def _override_rows(overrides) -> list[dict]:
    return [{"id": o.id, "person": o.person, "role": o.role, "start": iso(o.start), "end": iso(o.end), "reason": o.reason}
            for o in overrides]


def _override_list(args) -> int:
    service = _service(args)
    rows = _override_rows(service.config.overrides)
    if args.format == "json":
        _print_json({"overrides": rows})
    else:
        for r in rows:
            print(f"{r['id']:<32} {r['role']:<15} {r['person']:<10} {r['start']} .. {r['end']}  {r['reason']}")
    return 0


def _override_remove(args) -> int:
    _service(args)
    if not remove_override(args.config_dir, args.id, by=_user()):
        print(f"error: no active override with id {args.id!r} in the ops DB (see `techflow-ops oncall override list`)",
              file=sys.stderr)
        return 2
    print(json.dumps({"removed": args.id}) if args.format == "json" else f"removed override {args.id}")
    return 0


def _write_overrides(path: Path, rows: list[dict]) -> None:
    header = ("# On-call overrides exported from the ops DB by `techflow-ops oncall export` (config-as-code copy).\n"
              "# The ops DB is the state: change overrides with `techflow-ops oncall override add|remove`.\n")
    body = yaml.safe_dump({"overrides": rows}, sort_keys=False, allow_unicode=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + body, encoding="utf-8")


def _export(args) -> int:
    from .published import write_published

    service = _service(args)
    published_path = Path(args.file) if args.file else service.config.published_file
    overrides_path = Path(args.overrides_file) if args.overrides_file else service.config.overrides_file
    if service.published is None:
        print("error: nothing published in the ops DB yet; run `techflow-ops oncall publish` first", file=sys.stderr)
        return 1
    write_published(published_path, service.published)
    _write_overrides(overrides_path, _override_rows(service.config.overrides))
    payload = {"published_file": str(published_path), "shifts": len(service.published.shifts),
               "overrides_file": str(overrides_path), "overrides": len(service.config.overrides)}
    if args.format == "json":
        _print_json(payload)
    else:
        print(f"wrote {published_path} ({payload['shifts']} shifts, published until {iso(service.published.until)}) "
              f"and {overrides_path} ({payload['overrides']} overrides)")
    return 0


def _import(args) -> int:
    from .. import settings
    from ..registry import get_registry
    from .config import load_oncall_config
    from .store import StateConflict

    config_dir = Path(args.config_dir or settings.config_dir())
    try:
        # Not through `_service`: loading the service would run the first-use import itself.
        config = load_oncall_config(config_dir, get_registry(config_dir))
        report = import_yaml_state(config_dir, force=args.force, by=_user())
    except StateConflict as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    text = report.describe(config.published_file, config.overrides_file)
    if args.format == "json":
        _print_json({"rotation": report.rotation, "published": report.published, "shifts": report.shifts, "gaps": report.gaps,
                     "changes": report.changes, "overrides_added": report.overrides_added,
                     "overrides_replaced": report.overrides_replaced, "overrides_unchanged": report.overrides_unchanged})
    else:
        print(text)
    return 0


# --- swaps and takes ------------------------------------------------------------------------

# SwapError.field -> the flag (or argument) that gave the value
SWAP_FLAGS = {"by": "--by", "with": "--with", "from": "--from", "role": "--role", "start": "--start", "end": "--end",
              "give_back": "--give-back", "id": "request id"}


def _swap_row(request) -> dict:
    return request.to_json()


def _print_swap(request) -> None:
    give = request.give_back
    print(f"#{request.id:<4} {request.kind:<4} {request.status:<9}{' (in effect)' if request.in_effect else '':<12} "
          f"{request.role:<14} {iso(request.start)} .. {iso(request.end)}  "
          + (f"{request.requester} covers {request.counterpart}" if request.kind == "take" else
             f"{request.requester} -> {request.accepted_by or request.counterpart or 'anyone eligible'}")
          + (f", back {iso(give.start)} .. {iso(give.end)}" if give else "")
          + (f"  ({request.reason})" if request.reason else ""))


def _swap_action(args, action) -> int:
    """Run one swap API call; a refusal prints the flag and value at fault and exits 2."""
    from .swaps import SwapError

    service = _service(args)  # a config error exits 1 here, before the action
    tz = service.rotation.tz
    try:
        request = action(tz)
    except SwapError as exc:
        print(f"error: {SWAP_FLAGS.get(exc.field, exc.field)} {exc.value!r}: {exc.message}", file=sys.stderr)
        return 2
    if args.format == "json":
        _print_json(_swap_row(request))
    else:
        _print_swap(request)
        if request.status == "accepted" and not request.in_effect:
            print("  waiting for the team lead's approval (rules.swap_approval: lead)")
    return 0


def _swap_request(args) -> int:
    def act(tz):
        return request_swap(args.config_dir, by=args.by, role=args.role, start=_instant(args.start, tz),
                            end=_instant(args.end, tz) if args.end else None, with_person=args.with_person, reason=args.reason)
    return _swap_action(args, act)


def _swap_accept(args) -> int:
    def act(tz):
        return accept_swap(args.config_dir, args.id, by=args.by,
                           give_back_start=_instant(args.give_back, tz) if args.give_back else None,
                           give_back_end=_instant(args.give_back_end, tz) if args.give_back_end else None)
    return _swap_action(args, act)


def _swap_decline(args) -> int:
    return _swap_action(args, lambda tz: decline_swap(args.config_dir, args.id, by=args.by, reason=args.reason))


def _swap_approve(args) -> int:
    return _swap_action(args, lambda tz: approve_swap(args.config_dir, args.id, by=args.by))


def _swap_cancel(args) -> int:
    return _swap_action(args, lambda tz: cancel_swap(args.config_dir, args.id, by=args.by))


def _take(args) -> int:
    def act(tz):
        return take_shift(args.config_dir, by=args.by, holder=args.holder, role=args.role, start=_instant(args.start, tz),
                          end=_instant(args.end, tz) if args.end else None, reason=args.reason)
    return _swap_action(args, act)


def _swap_list(args) -> int:
    from .swaps import OPEN

    _service(args)
    requests = list_swaps(args.config_dir, statuses=OPEN if args.open else None)
    if args.format == "json":
        _print_json({"requests": [_swap_row(r) for r in requests]})
        return 0
    for request in requests:
        _print_swap(request)
        for event in request.events:  # the audit trail
            what = f" {event.role} {iso(event.start)} .. {iso(event.end)} {event.from_person} -> " \
                f"{event.to_person or 'anyone eligible'}" if event.start else ""
            print(f"      {iso(event.at)} {event.action:<9} by {event.actor}{what}"
                  + (f" [override {event.override_id}]" if event.override_id else "") + (f": {event.note}" if event.note else ""))
    if not requests:
        print("no swap or take requests" + (" open" if args.open else ""))
    return 0


# --- vacations -------------------------------------------------------------------------------

VACATION_FLAGS = {"person": "--person", "start": "--start", "end": "--end", "id": "--id", "by": "--by", "with": "--person"}


def _day(text: str, field: str) -> date:
    from .vacations import VacationError

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise VacationError(field, text, "not a date (YYYY-MM-DD, a whole day in the person's own time zone)") from None


def _vacation_refused(exc) -> int:
    print(f"error: {VACATION_FLAGS.get(exc.field, exc.field)} {exc.value!r}: {exc.message}", file=sys.stderr)
    return 2


def _vacation_add(args) -> int:
    from .swaps import SwapError

    _service(args)  # a config error exits 1 here, before the action
    try:
        first, last = _day(args.start, "start"), _day(args.end, "end")
        added = add_vacation(args.config_dir, person=args.person, first_day=first, last_day=last, note=args.note,
                             by=args.by)
    except SwapError as exc:
        return _vacation_refused(exc)
    if args.format == "json":
        _print_json(added.to_json())
        return 0
    v = added.vacation
    print(f"added vacation #{v.id}: {v.person} {v.first_day} .. {v.last_day}" + (f" ({v.note})" if v.note else ""))
    for request in added.requests:
        print("  hits a published shift: swap request opened (the schedule changes once it is accepted)")
        _print_swap(request)
    return 0


def _vacation_list(args) -> int:
    _service(args)
    listed = list_vacations(args.config_dir, person=args.person)
    if args.format == "json":
        _print_json({"vacations": [v.to_json() for v in listed]})
        return 0
    for v in listed:
        print(f"{'#' + str(v.id) if v.id is not None else '-':<6} {v.person:<10} {v.first_day} .. {v.last_day}  {v.source:<11}"
              + (f"  {v.note}" if v.note else ""))
    if not listed:
        print("no vacations")
    return 0


def _vacation_remove(args) -> int:
    from .swaps import SwapError

    _service(args)
    try:
        cancelled = remove_vacation(args.config_dir, args.id, by=args.by)
    except SwapError as exc:
        return _vacation_refused(exc)
    if args.format == "json":
        _print_json({"removed": args.id, "cancelled_swap_requests": [r.id for r in cancelled]})
    else:
        print(f"removed vacation #{args.id}" + (f"; cancelled swap request(s) {', '.join(f'#{r.id}' for r in cancelled)}"
                                                if cancelled else ""))
    return 0


def _gaps(args) -> int:
    service = _service(args)
    start, end = _range(args, service)
    gaps = service.gaps(start, end)
    if args.format == "json":
        _print_json({"from": iso(start), "until": iso(end), "gaps": [g.to_json() for g in gaps]})
    else:
        for g in gaps:
            print(g.describe())
        print(f"{len(gaps)} gap(s) or conflict(s) between {iso(start)} and {iso(end)}")
    return 1 if gaps else 0


def register(subparsers) -> None:
    oncall = subparsers.add_parser("oncall", help="fair on-call schedule: who is on call, publish, iCal, overrides")
    sub = oncall.add_subparsers(dest="oncall_command", required=True)

    def command(name: str, handler, help_text: str, formats: bool = True):
        parser = sub.add_parser(name, help=help_text)
        parser.add_argument("--config-dir", default=None, help="config folder (default: include/config)")
        if formats:
            parser.add_argument("--format", choices=("table", "json"), default="table")
        parser.set_defaults(handler=handler)
        return parser

    now = command("now", _now, "who is on call at an instant (exit 1 on a gap)")
    now.add_argument("--at", help="ISO 8601 instant (default: now)")
    now.add_argument("--pipeline", help="also print the level-1 page order for this pipeline")

    schedule = command("schedule", _schedule, "effective shifts (overrides applied)")
    schedule.add_argument("--from", dest="start", help="ISO date or date-time (default: now)")
    schedule.add_argument("--weeks", type=int, default=4)

    pub = command("publish", _publish, "freeze the past, regenerate the future, record a publish in the ops DB")
    pub.add_argument("--at", help="publish as of this instant (default: now)")
    pub.add_argument("--weeks", type=int, default=None, help="horizon (default: publish.horizon_weeks)")

    fair = command("fairness", _fairness, "per-person load and spread vs strict round-robin")
    fair.add_argument("--from", dest="start", help="ISO date (default: first shift)")
    fair.add_argument("--weeks", type=int, default=None, help="window length (default: to the end of the schedule)")

    ics = command("ics", _ics, "iCalendar feed (RFC 5545)", formats=False)
    who = ics.add_mutually_exclusive_group(required=True)
    who.add_argument("--person")
    who.add_argument("--team")
    ics.add_argument("--output", "-o", help="write to a file instead of stdout")

    override = sub.add_parser("override", help="one-off swaps that win over the published schedule")
    osub = override.add_subparsers(dest="override_command", required=True)
    for name, handler, text in (("add", _override_add, "add an override"), ("list", _override_list, "list overrides"),
                                ("remove", _override_remove, "remove an override by id")):
        parser = osub.add_parser(name, help=text)
        parser.add_argument("--config-dir", default=None)
        parser.add_argument("--format", choices=("table", "json"), default="table")
        parser.set_defaults(handler=handler)
        if name == "add":
            parser.add_argument("--person", required=True)
            parser.add_argument("--role", required=True, choices=("primary", "secondary", "investor_watch"))
            parser.add_argument("--start", required=True, help="ISO 8601 with offset, or a date (rotation timezone)")
            parser.add_argument("--end", required=True)
            parser.add_argument("--reason", required=True)
            parser.add_argument("--id", help="default: person-role-start")
        elif name == "remove":
            parser.add_argument("id")

    swap = sub.add_parser("swap", help="ask a colleague (or anyone eligible) to swap a shift or part of one; accept, "
                                       "decline, approve (team lead), cancel, list")
    ssub = swap.add_subparsers(dest="swap_command", required=True)
    for name, handler, text in (
        ("request", _swap_request, "ask to hand a stretch of your shift to a colleague or anyone eligible"),
        ("accept", _swap_accept, "accept a request (optionally giving back a stretch of your own shift)"),
        ("decline", _swap_decline, "decline a request asked of you (or, as the lead, one waiting for approval)"),
        ("approve", _swap_approve, "approve an accepted swap or a take (team lead; rules.swap_approval: lead)"),
        ("cancel", _swap_cancel, "withdraw your request before it is in effect"),
        ("list", _swap_list, "requests with their audit trail, newest first"),
    ):
        parser = ssub.add_parser(name, help=text)
        parser.add_argument("--config-dir", default=None)
        parser.add_argument("--format", choices=("table", "json"), default="table")
        parser.set_defaults(handler=handler)
        if name == "list":
            parser.add_argument("--open", action="store_true", help="only requests not decided yet")
            continue
        parser.add_argument("--by", required=True, help="the person acting (people.yaml id)")
        if name == "request":
            parser.add_argument("--role", required=True, choices=("primary", "secondary", "investor_watch"))
            parser.add_argument("--start", required=True, help="an instant inside your shift: the stretch starts here")
            parser.add_argument("--end", help="end of the stretch (default: the end of that shift)")
            parser.add_argument("--with", dest="with_person", default="anyone", help="a colleague's id, or 'anyone' (default)")
            parser.add_argument("--reason")
        else:
            parser.add_argument("id", type=int, help="the request id (see `oncall swap list`)")
        if name == "accept":
            parser.add_argument("--give-back", help="an instant inside your own shift of the same role to give back")
            parser.add_argument("--give-back-end", help="end of what you give back (default: the end of that shift)")
        if name == "decline":
            parser.add_argument("--reason")

    take = command("take", _take, "cover a colleague's shift (or part of it) outright")
    take.add_argument("--by", required=True, help="the person covering (people.yaml id)")
    take.add_argument("--from", dest="holder", required=True, help="whose shift you cover")
    take.add_argument("--role", required=True, choices=("primary", "secondary", "investor_watch"))
    take.add_argument("--start", required=True, help="an instant inside their shift: the stretch starts here")
    take.add_argument("--end", help="end of the stretch (default: the end of that shift)")
    take.add_argument("--reason")

    vacation = sub.add_parser("vacation", help="vacations in the ops DB (besides oncall.yaml's): a new one that hits a "
                                               "published shift asks the next person in rotation to swap")
    vsub = vacation.add_subparsers(dest="vacation_command", required=True)
    for name, handler, text in (("add", _vacation_add, "add a vacation (whole days in the person's time zone)"),
                                ("list", _vacation_list, "vacations from oncall.yaml and the ops DB"),
                                ("remove", _vacation_remove, "remove an ops-DB vacation and cancel its open swap requests")):
        parser = vsub.add_parser(name, help=text)
        parser.add_argument("--config-dir", default=None)
        parser.add_argument("--format", choices=("table", "json"), default="table")
        parser.set_defaults(handler=handler)
        if name == "add":
            parser.add_argument("--person", required=True, help="people.yaml id")
            parser.add_argument("--start", required=True, help="first day away (YYYY-MM-DD)")
            parser.add_argument("--end", required=True, help="last day away, inclusive (YYYY-MM-DD)")
            parser.add_argument("--note")
        elif name == "list":
            parser.add_argument("--person")
        else:
            parser.add_argument("--id", type=int, required=True, help="the vacation id (see `oncall vacation list`)")
        if name != "list":
            parser.add_argument("--by", help="who records it (default: the CLI user)")

    export = command("export", _export, "write the ops DB's published schedule and overrides as YAML (config-as-code)")
    export.add_argument("--file", help="published schedule YAML (default: publish.file of oncall.yaml)")
    export.add_argument("--overrides-file", help=f"overrides YAML (default: {OVERRIDES_FILE} in the config folder)")

    imp = command("import", _import, "move the published schedule YAML and the overrides YAML into the ops DB (once)")
    imp.add_argument("--force", action="store_true", help="replace a different history already in the ops DB")

    gaps = command("gaps", _gaps, "uncovered stretches and conflicts (exit 1 if any)")
    gaps.add_argument("--from", dest="start", help="ISO date or date-time (default: now)")
    gaps.add_argument("--weeks", type=int, default=26)

"""`techflow-ops digest daily|weekly|monthly [--at ISO] [--send] [--format text|html|json] [--when-due]`.

Without `--send` it prints the digests (one per audience) and sends nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone

from .compose import KINDS


def _at(text: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--at {text!r} is not an ISO 8601 instant (e.g. 2027-03-15T13:00:00Z)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _print(run, fmt: str) -> None:
    if fmt == "json":
        print(json.dumps(run.to_dict(), indent=2, default=str))
        return
    if run.not_due:
        print(f"{run.kind} digest not due: {run.not_due}")
        return
    for digest in run.digests:
        recipients = ", ".join(address for address, _ in digest.audience.emails)
        if fmt == "html":
            from .compose import render_images

            images = {} if digest.skipped else render_images(digest)
            print(f"<!-- {digest.kind} digest to {digest.audience.name} <{recipients}> -->")
            print(digest.html(images, inline="data"))
        else:
            print(f"### to {digest.audience.name} <{recipients}>")
            print(digest.text())
    if run.sent is not None:
        sent = run.sent
        print(f"sent: {sent['delivered']} delivered, {sent['failed']} failed (retried by the escalation engine), "
              f"{sent['queued']} queued now, {sent['already_queued']} queued before (not sent again)"
              + "".join(f"\nskipped: {reason}" for reason in sent["skipped"]), file=sys.stderr if fmt != "text" else sys.stdout)


def _digest(args) -> int:
    from . import run

    try:
        result = run(args.kind, args.at, send=args.send, when_due=args.when_due)
    except ValueError as exc:
        print(f"techflow-ops digest: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # a source could not be read (the KPI loaders say which and why)
        print(f"techflow-ops digest: {exc}", file=sys.stderr)
        return 1
    _print(result, args.format)
    if result.sent and result.sent["failed"]:
        return 1
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser("digest", help="compose (and with --send, send) the daily, weekly or monthly digest")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--at", type=_at, help="make it as at this instant (ISO 8601, default now; naive = UTC)")
    parser.add_argument("--send", action="store_true", help="send through the outbox (default: print only)")
    parser.add_argument("--format", choices=("text", "html", "json"), default="text")
    parser.add_argument("--when-due", action="store_true",
                        help="do nothing unless the digest is due that day (weekly: Monday; monthly: first business day)")
    parser.set_defaults(handler=_digest)

"""`techflow-ops inbox serve|list`: the local inbox's catcher, and what it caught."""

from __future__ import annotations

import argparse
import json


def _port(value: str) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is no port (0 = a free one)")
    return port


def _serve(args) -> int:
    import os
    import shlex
    import signal
    import threading

    from sqlalchemy.engine import make_url

    from .. import links
    from .catcher import Catcher

    def caught(message_id: int, message) -> None:
        incident = f" (incident #{message.incident_id})" if message.incident_id is not None else ""
        print(f"caught #{message_id} {message.channel} to {message.to}: {message.subject}{incident}", flush=True)

    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    catcher = Catcher(db_url=args.url, smtp_port=args.smtp_port, http_port=args.http_port, on_message=caught).start()
    try:
        env = catcher.connection_env()
        if args.env_file:
            # Complete or absent: whoever waits for the file never reads half of it.
            partial = f"{args.env_file}.partial"
            with open(partial, "w") as handle:
                handle.writelines(f"{name}={value}\n" for name, value in env.items())
            os.replace(partial, args.env_file)
        print(f"TechFlow Ops inbox: SMTP on {catcher.host}:{catcher.smtp_port}, HTTP (Slack webhooks, PagerDuty "
              f"Events v2 at /v2/enqueue) on {catcher.http_url}")
        stored_in = make_url(args.url or _ops_db_url()).render_as_string(hide_password=True)
        print(f"storing in {stored_in}; read with `techflow-ops inbox list` or {links.plugin_url('inbox')}")
        print("point the connections at it:")
        for name, value in env.items():
            print(f"  export {name}={shlex.quote(value)}")
        print("Ctrl-C stops it.", flush=True)
        while not stopping.wait(1):
            pass
    finally:
        catcher.stop()
        if args.env_file:
            try:
                os.remove(args.env_file)
            except FileNotFoundError:
                pass
    return 0


def _ops_db_url() -> str:
    from .. import settings

    return settings.ops_db_url()


def _list(args) -> int:
    from . import list_messages, message_json

    messages = [message_json(m) for m in list_messages(limit=args.limit, offset=args.offset, incident_id=args.incident,
                                                      channel=args.channel)]
    if args.json:
        print(json.dumps({"messages": messages}, indent=2))
        return 0
    if not messages:
        print("the inbox is empty")
        return 0
    print(f"{'id':>5}  {'received (UTC)':<19}  {'channel':<9}  {'incident':>8}  {'to':<36}  subject")
    for m in messages:
        incident = "" if m["incident_id"] is None else f"#{m['incident_id']}"
        print(f"{m['id']:>5}  {m['received_at'][:19].replace('T', ' '):<19}  {m['channel']:<9}  {incident:>8}  "
              f"{m['to'][:36]:<36}  {m['subject']}")
        if args.full:
            print("\n".join("       | " + line for line in m["body"].splitlines()) + "\n")
    return 0


def register(subparsers) -> None:
    inbox = subparsers.add_parser("inbox", help="the local inbox: catch email, Slack and PagerDuty on loopback; list them")
    commands = inbox.add_subparsers(dest="inbox_command", required=True)
    serve = commands.add_parser("serve", help="run the SMTP and HTTP catcher on 127.0.0.1 until Ctrl-C")
    serve.add_argument("--smtp-port", type=_port, default=0, help="SMTP port (default: a free one)")
    serve.add_argument("--http-port", type=_port, default=0, help="HTTP port for Slack/PagerDuty (default: a free one)")
    serve.add_argument("--env-file", help="write NAME=VALUE lines of the AIRFLOW_CONN_* values here once listening")
    serve.add_argument("--url", default=None, help="ops DB SQLAlchemy URL (default: TECHFLOW_OPS_DB_URL or SQLite under AIRFLOW_HOME)")
    serve.set_defaults(handler=_serve)
    listing = commands.add_parser("list", help="caught messages, newest first")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--incident", type=int, help="only this incident's messages")
    listing.add_argument("--channel", choices=("email", "slack", "pagerduty"))
    listing.add_argument("--full", action="store_true", help="print each message's text too")
    listing.add_argument("--json", action="store_true", help="the API's JSON shape: {messages: [...]}")
    listing.set_defaults(handler=_list)

"""The local inbox's receivers on loopback: a real SMTP server (aiosmtpd) and an HTTP server
taking Slack incoming-webhook posts (any path) and PagerDuty Events v2 events (`/v2/enqueue`,
answered 202 like PagerDuty). Every message is stored in the ops DB (`inbox_messages`).

    catcher = Catcher().start()                 # free ports unless given
    os.environ.update(catcher.connection_env()) # every configured connection -> the catcher
    ...
    catcher.stop()

Nothing here imports Airflow.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import parse_qs

from .connections import LOOPBACK, configured_connections, connection_env
from .messages import Caught, from_email, from_post, is_pagerduty

log = logging.getLogger(__name__)

MAX_POST_BYTES = 10 * 1024 * 1024


class _SmtpHandler:
    def __init__(self, catcher: "Catcher"):
        self._catcher = catcher

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", errors="replace")
        try:
            caught = from_email(content, list(envelope.rcpt_tos))
            await asyncio.get_running_loop().run_in_executor(None, self._catcher.keep, caught)
        except Exception:  # answer "try again later": the sender's outbox retries
            log.exception("inbox: could not store a mail to %s", envelope.rcpt_tos)
            return "451 Requested action aborted: local error in processing"
        return "250 Message accepted for delivery"


def _smtp_controller(handler, host: str, port: int):
    from aiosmtpd.controller import Controller

    class LoopbackController(Controller):
        """aiosmtpd's threaded controller, which can also listen on a free port (port 0)."""

        def _create_server(self):
            return self._bind()

        async def _bind(self):
            server = await self.loop.create_server(self._factory_invoker, host=self.hostname, port=self.port,
                                                   ssl=self.ssl_context)
            self.port = server.sockets[0].getsockname()[1]
            return server

    return LoopbackController(handler, hostname=host, port=port, server_hostname="techflow-inbox")


def _http_handler(catcher: "Catcher"):
    class Handler(BaseHTTPRequestHandler):
        server_version = "TechFlowInbox/1"

        def log_message(self, *args):
            pass

        def _answer(self, code: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._answer(200, b"TechFlow Ops inbox: POST Slack webhooks to any path, PagerDuty Events v2 to /v2/enqueue\n")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_POST_BYTES:
                self._answer(413, b"too large")
                return
            body = self.rfile.read(length)
            try:
                if self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
                    body = parse_qs(body.decode("utf-8"))["payload"][0].encode("utf-8")  # Slack's form variant
                payload = json.loads(body or b"{}")
            except (ValueError, KeyError, IndexError):
                self._answer(400, b"invalid_payload")
                return
            try:
                catcher.keep(from_post(self.path, payload))
            except Exception:  # a 500 makes the sender's outbox retry
                log.exception("inbox: could not store a post to %s", self.path)
                self._answer(500, b"could not store the message")
                return
            if is_pagerduty(self.path):
                dedup_key = payload.get("dedup_key") if isinstance(payload, dict) else None
                answer = {"status": "success", "message": "Event processed", "dedup_key": dedup_key or uuid.uuid4().hex}
                self._answer(202, json.dumps(answer).encode(), "application/json")
            else:
                self._answer(200, b"ok")

    return Handler


class Catcher:
    """SMTP and HTTP receivers on loopback that store what they catch in the ops DB at `db_url`
    (default: the configured one; `engine` wins). Port 0 (the default) takes a free port."""

    def __init__(self, *, db_url: str | None = None, engine=None, smtp_port: int = 0, http_port: int = 0,
                 host: str = LOOPBACK, on_message: Callable[[int, Caught], None] | None = None):
        self.db_url, self._engine = db_url, engine
        self.host, self.smtp_port, self.http_port = host, smtp_port, http_port
        self.on_message = on_message
        self._smtp = None
        self._http: ThreadingHTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    @property
    def engine(self):
        return self._get_engine()

    def _get_engine(self):
        if self._engine is None:
            from ..opsdb import get_engine

            self._engine = get_engine(self.db_url)  # migrates the ops DB on first use
        return self._engine

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    def keep(self, caught: Caught) -> int:
        """Store one caught message; return its id."""
        from .store import record

        message_id = record(self.engine, caught)
        if self.on_message is not None:
            self.on_message(message_id, caught)
        return message_id

    def start(self) -> "Catcher":
        self._get_engine()  # the ops DB migrated before the first message arrives
        self._smtp = _smtp_controller(_SmtpHandler(self), self.host, self.smtp_port)
        self._smtp.start()
        self.smtp_port = self._smtp.port
        try:
            self._http = ThreadingHTTPServer((self.host, self.http_port), _http_handler(self))
        except OSError:
            self._smtp.stop()
            raise
        self._http.daemon_threads = True
        self.http_port = self._http.server_port
        self._http_thread = threading.Thread(target=self._http.serve_forever, name="inbox-http", daemon=True)
        self._http_thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None

    def __enter__(self) -> "Catcher":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def connection_env(self, connections: dict[str, str] | None = None) -> dict[str, str]:
        """AIRFLOW_CONN_* values for `connections` (conn_id -> channel; default: every connection
        the config uses) pointing at this catcher."""
        return connection_env(self.smtp_port, self.http_url, configured_connections() if connections is None else connections,
                              host=self.host)

"""Real receivers on loopback for tests and benchmarks: an SMTP server (aiosmtpd) and an
HTTP server recording Slack webhook / PagerDuty Events API posts, with knobs for outages,
slow answers and 5xx. The connections pointing providers at them, free ports and mail parsing
are the product's (`techflow_ops.inbox`, the local inbox of `make start`)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from techflow_ops.inbox.connections import env_name, free_port, pagerduty_connection, slack_connection, smtp_connection
from techflow_ops.inbox.messages import parse_mail

__all__ = ["HttpReceiver", "ReceivedMail", "SmtpReceiver", "free_port"]


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    subject: str
    text: str
    headers: dict
    received_at: float


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1; `stop()` then `start()` again on the same port simulates an outage."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.messages: list[ReceivedMail] = []
        self.delay_seconds = 0.0  # answer DATA this late (a slow server, for timeouts)
        self._controller = None
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        message = parse_mail(envelope.content)
        parts = [p.get_content() for p in message.walk() if p.get_content_maintype() == "text"]
        with self._lock:
            self.messages.append(ReceivedMail(
                envelope.mail_from, list(envelope.rcpt_tos), str(message["subject"]), "\n".join(parts),
                dict(message.items()), time.perf_counter(),
            ))
        return "250 OK"

    def start(self) -> "SmtpReceiver":
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[ReceivedMail]:
        with self._lock:
            return [m for m in self.messages if address in m.recipients]

    def connection_env(self, conn_id: str = "smtp_default") -> dict[str, str]:
        return {env_name(conn_id): smtp_connection(self.port)}


@dataclass
class HttpReceiver:
    """Records JSON posts; `fail_next` answers that many requests with 500 first."""

    port: int = field(default_factory=free_port)
    posts: list[tuple[str, dict]] = field(default_factory=list)
    fail_next: int = 0

    def start(self) -> "HttpReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(500)
                    self.end_headers()
                    self.wfile.write(b"boom")
                    return
                payload = json.loads(body or b"{}")
                receiver.posts.append((self.path, payload))
                if self.path.endswith("/v2/enqueue"):
                    answer = json.dumps({"status": "success", "message": "Event processed",
                                         "dedup_key": payload.get("dedup_key") or "generated"}).encode()
                    self.send_response(202)
                    self.send_header("Content-Type", "application/json")
                else:
                    answer = b"ok"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def slack_env(self, conn_id: str) -> dict[str, str]:
        return {env_name(conn_id): slack_connection(self.url, conn_id)}

    def pagerduty_env(self, conn_id: str) -> dict[str, str]:
        return {env_name(conn_id): pagerduty_connection(self.url, conn_id)}

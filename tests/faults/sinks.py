"""Where messages leave the system: an SMTP server and a webhook receiver, in the test process.

They count what actually arrived, not what the database says was sent. The SMTP sink can hold
its answer to every message it has received (`hold()`), so a test can kill the sender while a
send is in flight, knowing exactly which messages got through."""

from __future__ import annotations

import email
import email.policy
import json
import socketserver
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class ReceivedMail:
    subject: str
    to: str
    message_id: str
    notification: str  # X-Orderflow-Notification: the outbox row it came from
    received_at: float  # time.monotonic()


@dataclass
class _Hold:
    armed: bool = False
    released: threading.Event = field(default_factory=threading.Event)
    holding: int = 0
    unfinished: int = 0  # conversations whose message is not in yet


class _SmtpHandler(socketserver.StreamRequestHandler):
    """The part of SMTP that smtplib (Django's SMTP backend) speaks without TLS or login."""

    server: _SmtpServer
    timeout = 30

    def _reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self.delivered = False
        self.server.sink.conversation(+1)
        try:
            self._converse()
        finally:
            if not self.delivered:
                self.server.sink.conversation(-1)

    def _converse(self) -> None:
        try:
            self._reply("220 faults-sink ESMTP")
            while True:
                line = self.rfile.readline()
                if not line:
                    return
                verb = line.decode("ascii", "replace").strip().split(" ", 1)[0].upper()
                if verb == "EHLO":
                    self._reply("250-faults-sink")
                    self._reply("250 8BITMIME")
                elif verb == "DATA":
                    self._reply("354 End data with <CR><LF>.<CR><LF>")
                    self.server.sink.received(self._read_data())
                    if not self.delivered:
                        self.delivered = True
                        self.server.sink.conversation(-1)
                    self.server.sink.wait_while_held()
                    self._reply("250 2.0.0 queued")
                elif verb == "QUIT":
                    self._reply("221 bye")
                    return
                elif verb in ("HELO", "MAIL", "RCPT", "RSET", "NOOP"):
                    self._reply("250 OK")
                else:
                    self._reply("502 not implemented")
        except (ConnectionError, TimeoutError, OSError):
            return  # the sender went away (killed mid-send, say)

    def _read_data(self) -> bytes:
        lines = []
        while True:
            line = self.rfile.readline()
            if not line:
                raise ConnectionError("the client closed the connection inside DATA")
            if line in (b".\r\n", b".\n"):
                return b"".join(lines)
            lines.append(line[1:] if line.startswith(b"..") else line)


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink
        super().__init__(("127.0.0.1", 0), _SmtpHandler)


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every message it accepted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mails: list[ReceivedMail] = []
        self._hold = _Hold()
        self._server = _SmtpServer(self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> SmtpSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()

    def received(self, raw: bytes) -> None:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        mail = ReceivedMail(
            subject=str(message["Subject"] or ""),
            to=str(message["To"] or ""),
            message_id=str(message["Message-ID"] or ""),
            notification=str(message["X-Orderflow-Notification"] or ""),
            received_at=time.monotonic(),
        )
        with self._lock:
            self._mails.append(mail)

    # -- holding answers, to kill a sender mid-send -------------------------------------------

    def hold(self) -> None:
        """From now on, accept each message but keep the sender waiting for the answer."""
        with self._lock:
            self._hold.armed = True
            self._hold.released.clear()

    def release(self) -> None:
        with self._lock:
            self._hold.armed = False
            self._hold.released.set()

    def wait_while_held(self) -> None:
        with self._lock:
            if not self._hold.armed:
                return
            self._hold.holding += 1
            released = self._hold.released
        try:
            released.wait(timeout=60)
        finally:
            with self._lock:
                self._hold.holding -= 1

    def conversation(self, change: int) -> None:
        with self._lock:
            self._hold.unfinished += change

    @property
    def unfinished(self) -> int:
        """Senders connected that have not handed over a message (yet)."""
        with self._lock:
            return self._hold.unfinished

    @property
    def holding(self) -> int:
        """How many senders are waiting for an answer to a message the sink has already."""
        with self._lock:
            return self._hold.holding

    # -- what arrived -------------------------------------------------------------------------

    @property
    def mails(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._mails)

    def with_subject_containing(self, text: str) -> list[ReceivedMail]:
        return [mail for mail in self.mails if text in mail.subject]

    def per_notification(self) -> Counter[str]:
        return Counter(mail.notification for mail in self.mails)


@dataclass(frozen=True)
class ReceivedWebhook:
    delivery_id: str
    event: str
    order: str
    received_at: float


class _WebhookHandler(BaseHTTPRequestHandler):
    server: _WebhookServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
        self.server.sink.received(
            ReceivedWebhook(
                delivery_id=self.headers.get("X-Delivery-Id", ""),
                event=self.headers.get("X-Event-Type", ""),
                order=str(body.get("data", {}).get("order", {}).get("number", "")),
                received_at=time.monotonic(),
            )
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: the test reports what matters


class _WebhookServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sink: WebhookSink) -> None:
        self.sink = sink
        super().__init__(("127.0.0.1", 0), _WebhookHandler)


class WebhookSink:
    """An HTTP receiver for partner webhooks that keeps every delivery it answered 2xx."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hooks: list[ReceivedWebhook] = []
        self._server = _WebhookServer(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/orderflow"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> WebhookSink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def received(self, hook: ReceivedWebhook) -> None:
        with self._lock:
            self._hooks.append(hook)

    @property
    def hooks(self) -> list[ReceivedWebhook]:
        with self._lock:
            return list(self._hooks)

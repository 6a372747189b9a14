"""A local stand-in for Stripe's API, just enough for PaymentIntents with manual capture,
refunds and Checkout Sessions. It honours Idempotency-Key like Stripe does (same key, same
response; the same key with other parameters is refused) and records every request so tests
can see what the library sent. It listens on 127.0.0.1 only.

What Stripe's hosted payment page does is played by the test: `pay` (the customer pays with a
card, or is declined and may try again), `expire` (the page's time ran out), and the
addresses Stripe sends the customer back to (`success_url`, `cancel_url`). Each returns the
event Stripe would send, which `deliver` posts, signed, to our webhook.

For a real browser the session's `url` is a small page too: "Pay" completes the session,
posts the signed event to `webhook_url` (when a test sets it) and sends the browser to the
success address with a 303; "Back to the shop" goes to the cancel address."""

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.request
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DECLINING = {"pm_card_chargeDeclined", "tok_chargeDeclined"}
WEBHOOK_URL = "/payments/webhooks/stripe/"
WEBHOOK_SECRET = "whsec_test_secret"


def sign(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for `payload`, as Stripe signs its webhooks."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


def _missing(kind: str) -> tuple[int, dict]:
    return 404, {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": f"No such {kind}",
        }
    }


class FakeStripe:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.intents: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.idempotent: dict[str, tuple[dict, int, dict]] = {}
        self.fail_next = 0  # answer this many requests with HTTP 500
        # path fragment -> answer this many requests whose path holds it with HTTP 500
        self.fail_paths: dict[str, int] = {}
        # do this many requests, then lose the answer (HTTP 500): Stripe acted, we never heard
        self.lose_next = 0
        self.webhook_url = ""  # where the hosted page's "Pay" posts its event, if anywhere
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.server.server_address
        return f"http://{host}:{port}"

    def start(self) -> "FakeStripe":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, path_prefix: str) -> list[dict]:
        return [r for r in self.requests if r["path"].startswith(path_prefix)]

    def _handle(self, method: str, path: str, form: dict, key: str) -> tuple[int, dict]:
        with self._lock:
            self.requests.append({"method": method, "path": path, "form": form, "key": key})
            if self.fail_next:
                self.fail_next -= 1
                return 500, {"error": {"type": "api_error", "message": "Stripe is down"}}
            for fragment, count in self.fail_paths.items():
                if count and fragment in path:
                    self.fail_paths[fragment] = count - 1
                    return 500, {"error": {"type": "api_error", "message": "Stripe is down"}}
            if key and key in self.idempotent:
                first_form, status, body = self.idempotent[key]
                if first_form != form:
                    return 400, {
                        "error": {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with "
                            "the same parameters they were first used with.",
                        }
                    }
                return status, body
            status, body = self._route(method, path, form)
            if key:
                self.idempotent[key] = (form, status, body)
            if self.lose_next:
                self.lose_next -= 1
                return 500, {"error": {"type": "api_error", "message": "The answer was lost"}}
            return status, body

    def _route(self, method: str, path: str, form: dict) -> tuple[int, dict]:
        parts = urlsplit(path).path.strip("/").split("/")
        if parts[:3] == ["v1", "checkout", "sessions"]:
            return self._route_session(method, parts[3:], form)
        if method == "POST" and parts == ["v1", "payment_intents"]:
            method_id = form.get("payment_method") or form.get("payment_method_data[card][token]")
            if method_id in DECLINING:
                return 402, {
                    "error": {
                        "type": "card_error",
                        "code": "card_declined",
                        "decline_code": "generic_decline",
                        "message": "Your card was declined.",
                    }
                }
            intent = {
                "id": f"pi_{next(self._ids)}",
                "object": "payment_intent",
                "amount": int(form["amount"]),
                "amount_received": 0,
                "currency": form["currency"],
                "capture_method": form.get("capture_method"),
                "status": "requires_capture",
                "metadata": {},
            }
            self.intents[intent["id"]] = intent
            return 200, intent
        if method == "POST" and len(parts) == 4 and parts[:2] == ["v1", "payment_intents"]:
            intent = self.intents.get(parts[2])
            if intent is None:
                return _missing("payment_intent")
            if parts[3] == "capture":
                if intent["status"] != "requires_capture":
                    return 400, {
                        "error": {
                            "type": "invalid_request_error",
                            "code": "payment_intent_unexpected_state",
                            "message": "This PaymentIntent could not be captured.",
                        }
                    }
                intent["status"] = "succeeded"
                intent["amount_received"] = int(form.get("amount_to_capture", intent["amount"]))
            elif parts[3] == "cancel":
                intent["status"] = "canceled"
            return 200, intent
        if method == "POST" and parts == ["v1", "refunds"]:
            refund = {
                "id": f"re_{next(self._ids)}",
                "object": "refund",
                "amount": int(form["amount"]),
                "payment_intent": form["payment_intent"],
                "status": "succeeded",
            }
            self.refunds[refund["id"]] = refund
            return 200, refund
        return 404, {"error": {"type": "invalid_request_error", "message": f"No route {path}"}}

    # --- Checkout Sessions -------------------------------------------------------------------

    def _route_session(self, method: str, rest: list[str], form: dict) -> tuple[int, dict]:
        if method == "POST" and rest == []:
            return self._create_session(form)
        session = self.sessions.get(rest[0]) if rest else None
        if session is None:
            return _missing("checkout.session")
        if method == "GET" and len(rest) == 1:
            return 200, session
        if method == "POST" and rest[1:] == ["expire"]:
            if session["status"] != "open":
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "checkout_session_not_open",
                        "message": f"This Checkout Session is {session['status']}.",
                    }
                }
            session["status"] = "expired"
            return 200, session
        return 404, {"error": {"type": "invalid_request_error", "message": "No route"}}

    def _create_session(self, form: dict) -> tuple[int, dict]:
        for required in ("mode", "success_url", "cancel_url", "line_items[0][quantity]"):
            if required not in form:
                return 400, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "parameter_missing",
                        "param": required,
                        "message": f"Missing required param: {required}.",
                    }
                }
        expires_at = int(form.get("expires_at") or time.time() + 86400)
        if not time.time() + 30 * 60 <= expires_at <= time.time() + 24 * 3600:
            return 400, {
                "error": {
                    "type": "invalid_request_error",
                    "param": "expires_at",
                    "message": "The Checkout Session must expire 30 minutes to 24 hours "
                    "after it is created.",
                }
            }
        session_id = f"cs_test_{next(self._ids)}"
        amount = int(form["line_items[0][price_data][unit_amount]"]) * int(
            form["line_items[0][quantity]"]
        )
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": form["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": amount,
            "currency": form["line_items[0][price_data][currency]"],
            "client_reference_id": form.get("client_reference_id"),
            "customer_email": form.get("customer_email"),
            "metadata": _nested(form, "metadata"),
            "payment_intent": None,
            "success_url": form["success_url"],
            "cancel_url": form["cancel_url"],
            "expires_at": expires_at,
            "url": f"{self.url}/c/pay/{session_id}",
            # what the PaymentIntent will be made with (not a field of Stripe's session)
            "_capture_method": form.get("payment_intent_data[capture_method]", "automatic"),
        }
        self.sessions[session_id] = session
        return 200, session

    def pay(self, session_id: str, card: str = "pm_card_visa") -> dict:
        """The customer pays on the hosted page. A declined card leaves the page open (they
        may try another) and gives the payment_intent.payment_failed event; a good one
        completes it and gives checkout.session.completed."""
        with self._lock:
            session = self.sessions[session_id]
            assert session["status"] == "open", f"the page is {session['status']}"
            intent = {
                "id": f"pi_{next(self._ids)}",
                "object": "payment_intent",
                "amount": session["amount_total"],
                "amount_received": 0,
                "currency": session["currency"],
                "capture_method": session["_capture_method"],
                "metadata": session["metadata"],
                "status": "requires_capture",
            }
            if card in DECLINING:
                intent["status"] = "requires_payment_method"
                intent["last_payment_error"] = {
                    "code": "card_declined",
                    "message": "Your card was declined.",
                }
                self.intents[intent["id"]] = intent
                return self.event("payment_intent.payment_failed", intent)
            if intent["capture_method"] != "manual":
                intent["status"] = "succeeded"
                intent["amount_received"] = intent["amount"]
                session["payment_status"] = "paid"
            self.intents[intent["id"]] = intent
            session["status"] = "complete"
            session["payment_intent"] = intent["id"]
            return self.event("checkout.session.completed", session)

    def expire(self, session_id: str) -> dict:
        """The page's time ran out: checkout.session.expired."""
        with self._lock:
            session = self.sessions[session_id]
            assert session["status"] == "open", f"the page is {session['status']}"
            session["status"] = "expired"
            return self.event("checkout.session.expired", session)

    def success_url(self, session_id: str) -> str:
        """Where Stripe sends the customer after paying, the session's id filled in."""
        session = self.sessions[session_id]
        return session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)

    def cancel_url(self, session_id: str) -> str:
        """Where Stripe sends the customer who leaves the page ("back")."""
        return self.sessions[session_id]["cancel_url"]

    def event(self, type_: str, obj: dict) -> dict:
        public = {key: value for key, value in obj.items() if not key.startswith("_")}
        return {
            "id": f"evt_{next(self._ids)}",
            "object": "event",
            "type": type_,
            "data": {"object": json.loads(json.dumps(public))},
        }

    @staticmethod
    def deliver(client: Any, event: dict, secret: str = WEBHOOK_SECRET) -> Any:
        """Post `event` to our webhook as Stripe does, signed; the test client's response."""
        body = json.dumps(event).encode()
        return client.post(
            WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=sign(body)
        )

    def _hosted_page(self, session_id: str) -> str:
        session = self.sessions[session_id]
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"
        if session["status"] != "open":
            return (
                f"<!doctype html><title>Stripe (fake)</title><p>This page is {session['status']}."
            )
        return (
            "<!doctype html><html lang=en><title>Pay with Stripe (fake)</title>"
            f"<h1>Pay {escape(amount)}</h1>"
            f'<form method=post action="/c/pay/{escape(session_id)}/pay">'
            "<button type=submit>Pay</button></form>"
            f'<p><a href="{escape(session["cancel_url"])}">Back to the shop</a></p></html>'
        )

    def _post_webhook(self, event: dict) -> None:
        body = json.dumps(event).encode()
        request = urllib.request.Request(  # noqa: S310 - the test's live server
            self.webhook_url,
            data=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": sign(body)},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            answer.read()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path).path.strip("/").split("/")
                if parts[:2] == ["c", "pay"] and len(parts) == 3 and parts[2] in fake.sessions:
                    page = fake._hosted_page(parts[2]).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(page)))
                    self.end_headers()
                    self.wfile.write(page)
                    return
                status, body = fake._handle("GET", self.path, {}, "")
                self._answer(status, body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                parts = urlsplit(self.path).path.strip("/").split("/")
                if parts[:2] == ["c", "pay"] and parts[3:] == ["pay"] and parts[2] in fake.sessions:
                    # The customer pays on the hosted page: Stripe tells us, then sends them back.
                    event = fake.pay(parts[2])
                    if fake.webhook_url:
                        fake._post_webhook(event)
                    self.send_response(303)
                    self.send_header("Location", fake.success_url(parts[2]))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                status, body = fake._handle(
                    "POST", self.path, form, self.headers.get("Idempotency-Key", "")
                )
                self._answer(status, body)

            def _answer(self, status: int, body: dict) -> None:
                public = {key: value for key, value in body.items() if not key.startswith("_")}
                payload = json.dumps(public).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Request-Id", f"req_{len(fake.requests)}")
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        return Handler


def _nested(form: dict, name: str) -> dict:
    """`name[key]=value` form fields as a dict."""
    prefix = f"{name}["
    return {
        key[len(prefix) : -1]: value
        for key, value in form.items()
        if key.startswith(prefix) and key.endswith("]") and "][" not in key
    }

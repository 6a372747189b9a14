"""A local stand-in for Stripe's API, just enough for PaymentIntents with manual capture and
refunds. It honours Idempotency-Key like Stripe does (same key, same response) and records
every request so tests can see what the library sent. It listens on 127.0.0.1 only."""

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

DECLINING = {"pm_card_chargeDeclined", "tok_chargeDeclined"}


class FakeStripe:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.intents: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.idempotent: dict[str, tuple[int, dict]] = {}
        self.fail_next = 0  # answer this many requests with HTTP 500
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
            if key and key in self.idempotent:
                return self.idempotent[key]
            status, body = self._route(method, path, form)
            if key:
                self.idempotent[key] = (status, body)
            return status, body

    def _route(self, method: str, path: str, form: dict) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
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
                return 404, {
                    "error": {
                        "type": "invalid_request_error",
                        "code": "resource_missing",
                        "message": "No such payment_intent",
                    }
                }
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

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[0] for k, v in parse_qs(raw).items()}
                status, body = fake._handle(
                    "POST", self.path, form, self.headers.get("Idempotency-Key", "")
                )
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Request-Id", f"req_{len(fake.requests)}")
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

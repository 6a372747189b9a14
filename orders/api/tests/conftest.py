"""Fixtures for the partner API tests: partners with keys, API clients, an order body, and a
local webhook receiver."""

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from orders.api import services
from orders.api.models import Partner

ORDERS_URL = "/api/v1/orders/"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters live in the cache; each test starts with none."""
    cache.clear()
    yield
    cache.clear()


@dataclass
class PartnerClient:
    partner: Partner
    key: str
    client: APIClient

    def post_order(self, body: dict[str, Any] | None = None, key: str = "order-1", **extra: Any):
        return self.client.post(
            ORDERS_URL,
            body if body is not None else order_body(),
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
            **extra,
        )


def make_partner(name: str, **kwargs: Any) -> PartnerClient:
    partner = services.partner_create(name=name, **kwargs)
    _api_key, key = services.partner_api_key_create(partner=partner)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return PartnerClient(partner=partner, key=key, client=client)


@pytest.fixture
def acme(db) -> PartnerClient:
    return make_partner("Acme Marketplace", billing_email="billing@acme.example")


@pytest.fixture
def globex(db) -> PartnerClient:
    return make_partner("Globex", billing_email="billing@globex.example")


def order_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lines": [{"sku": "MUG-001", "quantity": 2}],
        "customer": {"email": "ada@example.com", "name": "Ada Lovelace", "phone": "+441234567890"},
        "shipping_address": {
            "name": "Ada Lovelace",
            "line1": "1 Main St",
            "line2": "",
            "city": "London",
            "region": "",
            "postal_code": "N1 9GU",
            "country": "GB",
        },
        "shipping_method": "standard",
        "payment": {"method": "invoice"},
        "external_reference": "acme-1001",
    }
    body.update(overrides)
    return body


# --- a webhook receiver -------------------------------------------------------------------


@dataclass
class Receiver:
    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Status codes to answer with, in order; 200 once they run out.
    script: deque = field(default_factory=deque)
    delay: float = 0.0

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver(settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = True
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            state.requests.append({"headers": dict(self.headers), "body": body})
            if state.delay:
                threading.Event().wait(state.delay)
            code = state.script.popleft() if state.script else 200
            self.send_response(code)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(f"answered {code}".encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/orderflow"
    yield state
    server.shutdown()
    server.server_close()

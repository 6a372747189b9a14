"""Customers and partners as the stack sees them: real HTTP to gunicorn.

Production sits behind a TLS-terminating proxy that sets X-Forwarded-Proto; these clients play
that proxy for the plain-http hop to 127.0.0.1, so production's HTTPS redirect, secure cookies
and CSRF origin checks all stay on."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import requests

PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
TIMEOUT = 30
GOOD_CARD = "4242 4242 4242 4242"
ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Torstraße 1",
    "city": "Berlin",
    "postal_code": "10119",
    "country": "DE",
}


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]
    took: float = 0.0  # seconds until the answer came


def _answer(response: requests.Response) -> Answer:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return Answer(
        response.status_code, body, dict(response.headers), response.elapsed.total_seconds()
    )


class PartnerClient:
    """The partner API with one partner's key."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers.update(
            {**PROXY_HEADERS, "Authorization": f"Api-Key {api_key}", "Accept": "application/json"}
        )

    def place_order(self, email: str, *, reference: str, key: str | None = None) -> Answer:
        body = {
            "lines": [{"sku": "FAULT-MUG", "quantity": 1}],
            "customer": {"email": email, "name": "Ada Lovelace"},
            "shipping_address": ADDRESS,
            "shipping_method": "standard",
            "payment": {"method": "card", "token": "tok_visa"},
            "external_reference": reference,
        }
        response = self.session.post(
            f"{self.base_url}/api/v1/orders/",
            json=body,
            headers={"Idempotency-Key": key or reference},
            timeout=TIMEOUT,
        )
        return _answer(response)

    def register_webhook(self, url: str, events: list[str]) -> Answer:
        response = self.session.post(
            f"{self.base_url}/api/v1/webhooks/",
            json={"url": url, "events": events, "description": "fault tests"},
            timeout=TIMEOUT,
        )
        return _answer(response)


def health(base_url: str) -> Answer:
    return _answer(requests.get(f"{base_url}/healthz", headers=PROXY_HEADERS, timeout=TIMEOUT))


class Shopper:
    """A customer in a browser: product page, cart, checkout with a card."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.origin = base_url.replace("http://", "https://", 1)
        # Kept by hand: the cookies are Secure, and the hop to 127.0.0.1 is plain http behind
        # the (pretend) proxy, where a cookie jar would keep them back.
        self.cookies: dict[str, str] = {}

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = requests.request(
            method,
            f"{self.base_url}{path}",
            headers={**PROXY_HEADERS, "Cookie": cookie, **kwargs.pop("headers", {})},
            allow_redirects=False,
            timeout=TIMEOUT,
            **kwargs,
        )
        self.cookies.update(response.cookies.get_dict())
        return response

    def _post(self, path: str, data: dict[str, str], *, page: str) -> requests.Response:
        return self._send(
            "POST",
            path,
            data={"csrfmiddlewaretoken": self.cookies.get("csrftoken", ""), **data},
            headers={"Origin": self.origin, "Referer": f"{self.origin}{page}"},
        )

    def _get(self, path: str) -> requests.Response:
        return self._send("GET", path)

    def checkout(self, email: str, *, sku: str = "FAULT-TEE") -> Answer:
        """Buy one unit as a guest. The checkout's answer: 302 to the order-received page."""
        steps = [
            (f"product page {sku}", lambda: self._get(f"/products/{sku}/"), 200),
            (
                "add to cart",
                lambda: self._post(
                    "/cart/add/", {"sku": sku, "quantity": "1"}, page=f"/products/{sku}/"
                ),
                302,
            ),
            ("checkout page", lambda: self._get("/checkout/"), 200),
        ]
        for what, step, expected in steps:
            response = step()
            if response.status_code != expected:
                return Answer(response.status_code, f"{what}: {response.text[:500]}", {})
        token = re.search(r'name="checkout_token" value="([^"]+)"', response.text)
        assert token, "the checkout page has no checkout_token"
        form = {
            "checkout_token": token.group(1),
            "email": email,
            **{f"shipping-{name}": value for name, value in ADDRESS.items()},
            "shipping_method": "standard",
            "billing_same": "on",
        }
        # The total for this address and delivery, as the page's script gets it: placing
        # checks the page showed the total it charges.
        summary = self._post("/checkout/summary/", form, page="/checkout/")
        if summary.status_code != 200:
            return Answer(summary.status_code, f"checkout summary: {summary.text[:500]}", {})
        shown = re.search(r'name="shown_total" value="([^"]*)"', summary.json()["summary"])
        assert shown, "the checkout summary shows no total"
        placed = self._post(
            "/checkout/",
            {
                **form,
                "shown_total": shown.group(1),
                "payment_method": "card",
                "card_number": GOOD_CARD,
                "exp_month": "12",
                "exp_year": str(date.today().year + 3),
                "cvc": "123",
            },
            page="/checkout/",
        )
        return Answer(
            placed.status_code,
            placed.text[:2000] if placed.status_code != 302 else "",
            dict(placed.headers),
            placed.elapsed.total_seconds(),
        )


def order_number_from(location: str) -> str:
    """/checkout/received/<number>/ -> number."""
    found = re.search(r"/checkout/received/([^/]+)/", location)
    assert found, f"not an order-received page: {location!r}"
    return found.group(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"

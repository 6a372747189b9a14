"""Schemathesis against the partner API, in-process through WSGI: generated requests (valid
and invalid) for every operation in /api/schema/, with real keys and real data: two partners,
each with orders in every state (orders/api/tests/states.py: received, held, confirmed, ready with a
pending shipment, picking, packed, partly shipped, shipped, in transit, delivery exception,
delivered, refunded, completed, cancelled, digital). No answer may be a 5xx, every answer must
match the schema (documented status, content type, headers and body), none may carry `""`
for "no value", and invalid requests must be refused with a 4xx. Each partner aims at each
of its orders, and at the other partner's (which must be 404)."""

import os
from collections import Counter

import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from orders.api import services
from orders.api.tests.conftest import make_partner, order_body
from orders.api.tests.schema_check import blank_strings
from orders.api.tests.states import seed_orders_in_every_state

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "100"))
PER_OBJECT_EXAMPLES = 5  # for each existing order, product or endpoint aimed at
MINIMUM_REQUESTS = 2000
SKUS = ["MUG-001", "LAMP-001", "EBOOK-001", "TEE-001"]


@schemathesis.check
def no_blank_strings(ctx, response, case):
    """Beyond the schema: a value that is not there is null, never "" (a "" is not a URI, a
    date or an enum value, and reads as a value to a client)."""
    if not response.headers.get("content-type", [""])[0].startswith("application/json"):
        return None
    blanks = blank_strings(response.json())
    if blanks:
        more = f" and {len(blanks) - 10} more" if len(blanks) > 10 else ""
        raise AssertionError(f'{case.operation.label}: "" at {", ".join(blanks[:10])}{more}')
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    no_blank_strings,
]


@pytest.fixture
def partner_data(catalogue, bins, picker, box, django_capture_on_commit_callbacks, settings):
    """Two partners, each with a key, orders in every state and a webhook endpoint."""
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = False
    cache.clear()
    partners = []
    for name in ("Fuzz Partner", "Second Partner"):
        partner = make_partner(name, throttle_rate="1000000/min")
        numbers = seed_orders_in_every_state(
            partner, picker=picker, box=box, capture=django_capture_on_commit_callbacks
        )
        endpoint = services.webhook_endpoint_create(
            partner=partner.partner,
            url=f"https://hooks.{partner.partner.pk}.example/in",
            events=["order.created"],
        )
        partners.append({"key": partner.key, "numbers": numbers, "endpoint": endpoint.pk})
    return partners


@pytest.fixture
def wsgi_app(partner_data):
    """Django's WSGI app, calling views in this thread and this test's transaction. Like
    Django's test client, keep request signals from closing the connection mid-test (set up
    after the data, whose test-client requests reconnect those signals when they finish)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _with_real_skus(case):
    """A generated order, but for products, a shipping method and a card that exist."""
    if not isinstance(case.body, dict):
        return case
    lines = case.body.get("lines")
    for index, line in enumerate(lines if isinstance(lines, list) else []):
        if isinstance(line, dict):
            line["sku"] = SKUS[index % len(SKUS)]
            if isinstance(line.get("quantity"), int):
                line["quantity"] = 1 + line["quantity"] % 4
    if case.body.get("shipping_method"):
        case.body["shipping_method"] = "standard"
    if not isinstance(case.body.get("shipping_address"), dict):
        case.body["shipping_address"] = order_body()["shipping_address"]
    payment = case.body.get("payment")
    if isinstance(payment, dict) and payment.get("method") == "card":
        payment["token"] = "tok_visa"
    return case


def _fuzz(strategy, checks, auth: dict, examples: int, requests: Counter, statuses: Counter):
    @given(case=strategy)
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case):
        response = case.call()
        requests[case.operation.label] += 1
        statuses[response.status_code] += 1
        # Passing the key tells the checks it is ours (explicit), so ignored_auth probes the
        # operation without it and with a wrong one, and expects 401.
        case.validate_response(response, checks=checks, headers=auth)

    call()


def _reads_first(operation) -> tuple[bool, str]:
    """Reads before writes, so the orders are read in every state before cancels move
    them on."""
    return (operation.method.upper() != "GET", operation.label)


def test_the_partner_api_holds_up_to_generated_requests(wsgi_app, partner_data):
    # Straight, first: neither partner can see, cancel or follow the other's orders
    client = Client()
    for this, other in (partner_data, partner_data[::-1]):
        auth = {"HTTP_AUTHORIZATION": f"Api-Key {this['key']}"}
        for number in other["numbers"].values():
            for method, path in (
                ("get", f"/api/v1/orders/{number}/"),
                ("get", f"/api/v1/orders/{number}/shipments/"),
                ("post", f"/api/v1/orders/{number}/cancel/"),
            ):
                answer = getattr(client, method)(path, **auth)
                assert answer.status_code == 404, (method, path, answer.status_code)
        listed = client.get("/api/v1/orders/?page_size=100", **auth).json()["results"]
        assert {o["number"] for o in listed} == set(this["numbers"].values())
    # The test client connected these again (see wsgi_app).
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)

    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    operations = sorted((r.ok() for r in schema.get_all_operations()), key=_reads_first)
    requests: Counter = Counter()
    statuses: Counter = Counter()
    for this, other in (partner_data, partner_data[::-1]):
        auth = {"Authorization": f"Api-Key {this['key']}"}
        # Objects that exist, for operations on one object: each of this partner's orders
        # (in every state), and one of the other partner's, which must not be found.
        existing = {
            "number": [*this["numbers"].values(), other["numbers"]["ready"]],
            "sku": ["MUG-001", "EBOOK-001"],
            "endpoint_id": [this["endpoint"], other["endpoint"]],
        }
        for operation in operations:
            variants = [
                (schemathesis.GenerationMode.POSITIVE, None, None, EXAMPLES),
                (schemathesis.GenerationMode.NEGATIVE, None, None, EXAMPLES),
            ]
            for parameter in operation.path_parameters:
                for value in existing.get(parameter.name, []):
                    variants.append(
                        (
                            schemathesis.GenerationMode.POSITIVE,
                            {parameter.name: value},
                            None,
                            PER_OBJECT_EXAMPLES,
                        )
                    )
            # And orders for products that exist, so some are placed and some run out of stock.
            if operation.label == "POST /api/v1/orders/":
                variants.append(
                    (schemathesis.GenerationMode.POSITIVE, None, _with_real_skus, EXAMPLES)
                )
            for mode, path_parameters, transform, examples in variants:
                strategy = operation.as_strategy(
                    generation_mode=mode, path_parameters=path_parameters, headers=auth
                )
                if transform is not None:
                    strategy = strategy.map(transform)
                checks = [*CHECKS, negative_data_rejection if mode.is_negative else ignored_auth]
                _fuzz(strategy, checks, auth, examples, requests, statuses)

    total = sum(requests.values())
    assert total >= MINIMUM_REQUESTS, (total, requests)
    assert not any(code >= 500 for code in statuses), statuses
    assert statuses[200] + statuses[201] > 200, statuses  # it got past the front door
    assert statuses[404] > 0, statuses  # the other partner's orders

"""Schemathesis against the partner API, in-process through WSGI: generated requests (valid
and invalid) for every operation in /api/schema/, with a real key and real data. No answer
may be a 5xx, and every answer must match the schema: documented status, content type,
headers and body. Invalid requests must be refused with a 4xx."""

import os
from collections import Counter

import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
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
from orders.models import Order
from orders.services import order_review

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "100"))
MINIMUM_REQUESTS = 1000
SKUS = ["MUG-001", "LAMP-001", "EBOOK-001", "TEE-001"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def partner_data(catalogue, settings):
    """A partner with a key, a few orders (one confirmed), and a webhook endpoint."""
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = False
    cache.clear()
    partner = make_partner("Fuzz Partner", throttle_rate="1000000/min")
    numbers = [
        partner.post_order(order_body(external_reference=f"seed-{i}"), key=f"seed-{i}").json()[
            "number"
        ]
        for i in range(3)
    ]
    order_review(order_id=Order.objects.get(number=numbers[0]).pk)
    endpoint = services.webhook_endpoint_create(
        partner=partner.partner, url="https://hooks.fuzz.example/in", events=["order.created"]
    )
    return {"key": partner.key, "numbers": numbers, "endpoint": endpoint.pk}


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


def _fuzz(strategy, checks, auth: dict, requests: Counter, statuses: Counter) -> None:
    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
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


def test_the_partner_api_holds_up_to_generated_requests(wsgi_app, partner_data):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    auth = {"Authorization": f"Api-Key {partner_data['key']}"}
    existing = {
        "number": partner_data["numbers"][0],
        "sku": "MUG-001",
        "endpoint_id": partner_data["endpoint"],
    }
    requests: Counter = Counter()
    statuses: Counter = Counter()

    for result in schema.get_all_operations():
        operation = result.ok()
        variants = [
            (schemathesis.GenerationMode.POSITIVE, None, None),
            (schemathesis.GenerationMode.NEGATIVE, None, None),
        ]
        # For operations on one object, also aim at objects that exist.
        names = {p.name for p in operation.path_parameters}
        for name in names & set(existing):
            variants.append((schemathesis.GenerationMode.POSITIVE, {name: existing[name]}, None))
        # And orders for products that exist, so some are placed and some run out of stock.
        if operation.label == "POST /api/v1/orders/":
            variants.append((schemathesis.GenerationMode.POSITIVE, None, _with_real_skus))
        for mode, path_parameters, transform in variants:
            strategy = operation.as_strategy(
                generation_mode=mode, path_parameters=path_parameters or None, headers=auth
            )
            if transform is not None:
                strategy = strategy.map(transform)
            checks = [*CHECKS, negative_data_rejection if mode.is_negative else ignored_auth]
            _fuzz(strategy, checks, auth, requests, statuses)

    total = sum(requests.values())
    assert total >= MINIMUM_REQUESTS, (total, requests)
    assert not any(code >= 500 for code in statuses), statuses
    assert statuses[200] + statuses[201] > 50, statuses  # it got past the front door

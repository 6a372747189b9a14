"""The partner API under load, on PostgreSQL with real threads started together: one order
per Idempotency-Key, no oversell, and never a 500."""

from collections import Counter

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from orders.api import services
from orders.api.tests.conftest import ORDERS_URL, order_body
from orders.models import Order
from tests.threads import run_together
from warehouse.models import StockItem, StockReservation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]


@pytest.fixture
def api_key(catalogue) -> str:
    cache.clear()
    partner = services.partner_create(name="Acme Marketplace", throttle_rate="1000/min")
    _api_key, key = services.partner_api_key_create(partner=partner)
    return key


def _post(key: str, body: dict, idempotency_key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    response = client.post(ORDERS_URL, body, format="json", HTTP_IDEMPOTENCY_KEY=idempotency_key)
    return response.status_code, response.json(), response.headers.get("Idempotent-Replayed")


def test_ten_requests_with_one_key_at_once_make_one_order(api_key):
    results = run_together(10, lambda i: _post(api_key, order_body(), "acme-77"))

    assert all(isinstance(r, tuple) for r in results), results
    assert [code for code, _body, _replayed in results] == [201] * 10
    assert sorted(bool(replayed) for _code, _body, replayed in results) == [False] + [True] * 9
    assert len({body["number"] for _code, body, _replayed in results}) == 1
    assert Order.objects.count() == 1
    assert (
        sum(StockItem.objects.filter(product__sku="MUG-001").values_list("reserved", flat=True))
        == 2
    )


def test_one_key_with_two_bodies_at_once_places_one_and_refuses_the_other(api_key):
    bodies = [order_body(), order_body(lines=[{"sku": "TEE-001", "quantity": 1}])]
    results = run_together(2, lambda i: _post(api_key, bodies[i], "acme-78"))

    assert sorted(code for code, _body, _replayed in results) == [201, 422], results
    assert Order.objects.count() == 1


def test_twenty_partner_requests_for_the_last_five_units(api_key):
    # given exactly five lamps
    StockItem.objects.filter(product__sku="LAMP-001").update(on_hand=5, reserved=0)

    # when 20 requests buy one each at the same moment (some with a second line, so the stock
    # rows are locked in several combinations)
    def buy(index: int):
        lines = [{"sku": "LAMP-001", "quantity": 1}]
        if index % 2:
            lines.append({"sku": "MUG-001", "quantity": 1})
        body = order_body(
            lines=lines,
            customer={"email": f"buyer{index % 4}@example.com", "name": "Buyer"},
            external_reference=f"lamp-{index}",
        )
        return _post(api_key, body, f"lamp-{index}")

    results = run_together(20, buy)

    # then exactly five were placed and fifteen told what is left; no 500
    assert all(isinstance(r, tuple) for r in results), results
    codes = Counter(code for code, _body, _replayed in results)
    assert codes == {201: 5, 409: 15}, results
    for code, body, _replayed in results:
        if code == 409:
            assert body["error"]["code"] == "out_of_stock"
            assert body["error"]["available"]["LAMP-001"] == 0
    lamp = StockItem.objects.get(product__sku="LAMP-001")
    assert (lamp.on_hand, lamp.reserved) == (5, 5)
    assert Order.objects.count() == 5
    assert (
        sum(StockReservation.objects.filter(stock_item=lamp).values_list("quantity", flat=True))
        == 5
    )

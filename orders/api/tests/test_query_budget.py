"""The hot paths take a constant number of queries, however many orders or lines."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.api.tests.conftest import ORDERS_URL, order_body
from orders.models import Order, OrderEvent
from orders.services import order_review
from orders.tests.factories import ProductFactory, StockItemFactory

pytestmark = pytest.mark.django_db


def _queries(call) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        result = call()
    return len(captured), result


def _orders(partner_client, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        response = partner_client.post_order(
            order_body(
                lines=[{"sku": "MUG-001", "quantity": 1}, {"sku": "TEE-001", "quantity": 1}]
            ),
            key=f"bulk-{i}",
        )
        assert response.status_code == 201, response.json()
        order = Order.objects.get(number=response.json()["number"])
        order_review(order_id=order.pk)
        OrderEvent.objects.create(order=order, type="note", message="seen", customer_visible=True)


def test_listing_50_orders_takes_as_many_queries_as_listing_2(catalogue, acme):
    from warehouse.models import StockItem

    StockItem.objects.update(on_hand=500)
    _orders(acme, 2)
    few, response = _queries(lambda: acme.client.get(ORDERS_URL))
    assert len(response.json()["results"]) == 2

    _orders(acme, 48, start=2)
    many, response = _queries(lambda: acme.client.get(ORDERS_URL))
    results = response.json()["results"]
    assert len(results) == 50
    assert all(len(o["lines"]) == 2 and o["timeline"] for o in results)

    assert many == few
    assert many <= 10


def test_placing_20_lines_takes_as_many_queries_as_placing_1(catalogue, acme):
    for i in range(20):
        StockItemFactory(
            product=ProductFactory(sku=f"BULK-{i:02d}"), warehouse=catalogue["berlin"], on_hand=5
        )
    one_line = order_body(lines=[{"sku": "BULK-00", "quantity": 1}])
    twenty_lines = order_body(lines=[{"sku": f"BULK-{i:02d}", "quantity": 1} for i in range(20)])
    acme.post_order(order_body(), key="warm-up")  # the customer exists from now on

    one, response = _queries(lambda: acme.post_order(one_line, key="one"))
    assert response.status_code == 201
    twenty, response = _queries(lambda: acme.post_order(twenty_lines, key="twenty"))
    assert response.status_code == 201
    assert len(response.json()["lines"]) == 20

    assert twenty == one

"""Under load, on PostgreSQL with real threads started together: no oversell, no duplicate
orders for one idempotency key, no deadlock."""

from collections import Counter

import pytest
from django.db import connection

from orders.models import Order
from orders.tests.factories import place_order
from tests.threads import run_together
from warehouse.exceptions import OutOfStock
from warehouse.models import StockItem, StockReservation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]


def test_twenty_buyers_for_the_last_five_units(catalogue):
    # given exactly five lamps
    item = StockItem.objects.get(product__sku="LAMP-001")
    assert (item.on_hand, item.reserved) == (3, 0)
    StockItem.objects.filter(pk=item.pk).update(on_hand=5)

    # when 20 customers buy one each at the same moment (some with a second line, so the
    # stock rows are locked in several combinations)
    def buy(index: int):
        lines = [("LAMP-001", 1)] + ([("MUG-001", 1)] if index % 2 else [])
        return place_order(lines, email=f"buyer{index}@example.com").order.pk

    results = run_together(20, buy)

    # then exactly five orders were placed and fifteen were told it is out of stock
    kinds = Counter(type(r).__name__ for r in results)
    assert kinds == {"int": 5, "OutOfStock": 15}, results
    assert all("LAMP-001" in r.shortages for r in results if isinstance(r, OutOfStock))
    item.refresh_from_db()
    assert (item.on_hand, item.reserved) == (5, 5)
    assert Order.objects.count() == 5
    assert (
        sum(StockReservation.objects.filter(stock_item=item).values_list("quantity", flat=True))
        == 5
    )


def test_one_idempotency_key_sent_twice_at_once_makes_one_order(catalogue):
    def submit(index: int):
        result = place_order(
            [("MUG-001", 2)], idempotency_key="partner-order-77", source="partner-1"
        )
        return (result.order.pk, result.created)

    results = run_together(2, submit)
    assert all(isinstance(r, tuple) for r in results), results
    assert results[0][0] == results[1][0]
    assert sorted(created for _pk, created in results) == [False, True]
    assert Order.objects.count() == 1
    assert StockItem.objects.get(product__sku="MUG-001", warehouse__code="ber").reserved == 2


def test_ten_requests_with_one_key_make_one_order(catalogue):
    results = run_together(
        10,
        lambda i: place_order([("TEE-001", 1)], idempotency_key="k-10", source="p").order.pk,
    )
    assert len(set(results)) == 1, results
    assert Order.objects.count() == 1
    assert (
        sum(StockItem.objects.filter(product__sku="TEE-001").values_list("reserved", flat=True))
        == 1
    )


def test_postgres_is_what_this_runs_on():
    assert connection.vendor == "postgresql"


def test_concurrent_refunds_never_exceed_the_capture(catalogue):
    from payments.models import Payment, Refund, RefundStatus
    from payments.services import PaymentRefused, refund_create

    # given a captured payment of 25.00 (autocommit: the whole flow runs)
    order = place_order([("MUG-001", 2)]).order
    payment = Payment.objects.get(order=order)
    assert (payment.status, payment.amount_captured) == ("captured", 25)

    # when four clerks refund 10.00 each at the same moment
    def refund(index: int):
        return refund_create(
            payment_id=payment.pk,
            amount="10.00",
            reason="Concurrent",
            actor="test",
            idempotency_key=f"clerk-{index}",
        ).pk

    results = run_together(4, refund)

    # then two are refunded and two are told how much is left; 20.00 in all
    kinds = Counter(type(r).__name__ for r in results)
    assert kinds == {"int": 2, "PaymentRefused": 2}, results
    assert all("At most 5.00" in r.message for r in results if isinstance(r, PaymentRefused))
    payment.refresh_from_db()
    assert payment.amount_refunded == 20
    assert payment.status == "partially_refunded"
    succeeded = Refund.objects.filter(payment=payment, status=RefundStatus.SUCCEEDED)
    assert sum(r.amount for r in succeeded) == 20

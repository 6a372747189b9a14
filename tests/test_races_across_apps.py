"""Races across phases with real threads on PostgreSQL (started together at a barrier): a
cancel racing the capture, a refund racing a cancel, a short pick racing a cancel. However
they interleave: no deadlock, no error but a clear refusal, money and stock consistent."""

import threading
import time
from decimal import Decimal
from unittest import mock

import pytest
from django.db.models import Sum

from orders import services as order_services
from orders.exceptions import DomainError
from orders.models import Order, OrderStatus
from orders.tests.factories import place_order, staff_user
from payments import tasks as payment_tasks
from payments.models import OperationStatus, Payment, PaymentStatus, Refund, RefundStatus
from payments.providers.test import TestGateway
from payments.services import order_lifecycle, payment_collect_for_order, refund_create
from tests.threads import run_together
from warehouse.models import StockItem, StockMovement, StockReservation
from warehouse.services.picking import picklist_confirm, picklist_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]
P = PaymentStatus


def _refused_clearly(results: list) -> None:
    """Each side either did its work or was refused with a domain error, never a crash."""
    for result in results:
        assert not isinstance(result, Exception) or isinstance(result, DomainError), result


def _money_is_consistent(order: Order) -> None:
    payment = Payment.objects.get(order=order)
    refunded = Refund.objects.filter(payment=payment, status=RefundStatus.SUCCEEDED).aggregate(
        s=Sum("amount")
    )["s"] or Decimal("0")
    assert payment.amount_refunded == refunded
    assert payment.amount_refunded <= payment.amount_captured
    assert not payment.operations.filter(status=OperationStatus.PENDING).exists()
    if order.status == OrderStatus.CANCELLED:
        # nothing stays with us: a capture is refunded in full, an authorisation voided
        assert payment.amount_captured == payment.amount_refunded
        assert payment.status in (P.VOIDED, P.REFUNDED)


def _stock_matches_the_movement_log(baseline: dict[int, int]) -> None:
    for item in StockItem.objects.all():
        moved = StockMovement.objects.filter(stock_item=item).aggregate(
            on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
        )
        assert 0 <= item.reserved <= item.on_hand
        assert item.on_hand == (moved["on_hand"] or 0) + baseline[item.pk]
        assert item.reserved == (moved["reserved"] or 0)


@pytest.fixture
def stock_baseline(catalogue) -> dict[int, int]:
    """What each stock row held before the test; the movement log explains the rest."""
    return {item.pk: item.on_hand for item in StockItem.objects.all()}


def _confirmed_with_card_authorised() -> Order:
    # the securing task is held back: the order stays confirmed with an authorised card
    with mock.patch.object(payment_tasks.secure_order_payment, "delay"):
        order = place_order([("MUG-001", 2)]).order
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.CONFIRMED
    assert Payment.objects.get(order=order).status == P.AUTHORIZED
    return order


def _ready(lines, **kwargs) -> Order:
    order = Order.objects.get(pk=place_order(lines, **kwargs).order.pk)
    assert order.status == OrderStatus.READY, order.status
    return order


def test_a_capture_recorded_while_the_cancel_holds_the_payment_is_refunded(stock_baseline):
    """The interleaving that once kept a cancelled order's money, forced: the provider
    answers the capture while the cancel holds the payment's lock, so the capture's record
    waits for the cancel to commit."""
    order = _confirmed_with_card_authorised()
    capture_sent, cancel_holds_the_payment = threading.Event(), threading.Event()
    real_capture, real_void_queue = TestGateway.capture, order_lifecycle.void_queue

    def capture_answered_during_the_cancel(self, **kwargs):
        result = real_capture(self, **kwargs)
        capture_sent.set()
        cancel_holds_the_payment.wait(timeout=10)
        return result

    def void_queued_slowly(payment, **kwargs):
        real_void_queue(payment, **kwargs)
        cancel_holds_the_payment.set()
        time.sleep(0.5)  # the capture's record reaches the payment's lock meanwhile

    def work(index: int):
        if index == 0:
            return payment_collect_for_order(order_id=order.pk).status
        capture_sent.wait(timeout=10)
        return order_services.order_cancel(order_id=order.pk, actor="customer").status

    with (
        mock.patch.object(TestGateway, "capture", capture_answered_during_the_cancel),
        mock.patch.object(order_lifecycle, "void_queue", void_queued_slowly),
    ):
        results = run_together(2, work)

    _refused_clearly(results)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert Payment.objects.get(order=order).status == P.REFUNDED
    _money_is_consistent(order)
    _stock_matches_the_movement_log(stock_baseline)


@pytest.mark.parametrize("attempt", range(3))
def test_a_cancel_racing_the_capture(stock_baseline, attempt):
    order = _confirmed_with_card_authorised()

    def work(index: int):
        if index == 0:
            return payment_collect_for_order(order_id=order.pk).status
        return order_services.order_cancel(order_id=order.pk, actor="customer").status

    results = run_together(2, work)

    _refused_clearly(results)
    order.refresh_from_db()
    assert order.status in (OrderStatus.CANCELLED, OrderStatus.READY)
    _money_is_consistent(order)
    if order.status == OrderStatus.READY:
        assert Payment.objects.get(order=order).status == P.CAPTURED
    _stock_matches_the_movement_log(stock_baseline)


@pytest.mark.parametrize("attempt", range(3))
def test_a_refund_racing_a_cancel(stock_baseline, attempt):
    order = _ready([("MUG-001", 2)])
    payment = Payment.objects.get(order=order)
    assert payment.status == P.CAPTURED
    finance = staff_user("Finance", f"finance{attempt}")

    def work(index: int):
        if index == 0:
            return refund_create(
                payment_id=payment.pk,
                amount="5.00",
                reason="goodwill",
                actor=finance,
                idempotency_key=f"goodwill-{order.pk}",
            ).amount
        return order_services.order_cancel(order_id=order.pk, actor="customer").status

    results = run_together(2, work)

    _refused_clearly(results)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    # whichever ran first, the customer gets back exactly what was captured, never more
    _money_is_consistent(order)
    _stock_matches_the_movement_log(stock_baseline)


@pytest.mark.parametrize("attempt", range(3))
def test_a_short_pick_racing_a_cancel(stock_baseline, bins, picker, attempt):
    first = _ready([("MUG-001", 2)], email="a@example.com")
    second = _ready([("MUG-001", 3)], email="b@example.com")
    (pick_list,) = picklist_create(order_ids=[first.pk, second.pk], actor=picker).pick_lists
    # one unit short on the first order's line
    picked = {
        item.pk: item.quantity - (1 if item.shipment_line.shipment.order_id == first.pk else 0)
        for item in pick_list.items.select_related("shipment_line__shipment")
    }

    def work(index: int):
        if index == 0:
            return picklist_confirm(pick_list_id=pick_list.pk, picked=picked, actor=picker)
        return order_services.order_cancel(order_id=first.pk, actor="support").status

    results = run_together(2, work)

    _refused_clearly(results)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == OrderStatus.CANCELLED
    _money_is_consistent(first)
    _stock_matches_the_movement_log(stock_baseline)
    # nothing of the cancelled order stays reserved, and the stock row's reservations add up
    assert not StockReservation.objects.filter(order_line__order=first).exists()
    for item in StockItem.objects.all():
        held = StockReservation.objects.filter(stock_item=item).aggregate(n=Sum("quantity"))
        assert item.reserved == (held["n"] or 0)

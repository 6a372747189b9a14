"""Completion: the nightly task completes delivered orders whose return window has passed,
once each, and waits while a phase still has something open."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config import lifecycle as registry
from orders import tasks
from orders.exceptions import TransitionRefused
from orders.lifecycle import OrderPhase
from orders.models import EventType, Order, OrderStatus
from orders.services import order_complete
from orders.tests.factories import place_order
from payments.models import Payment, PaymentStatus, Refund, RefundStatus

pytestmark = pytest.mark.django_db


def _delivered(days_ago: int) -> Order:
    """An order delivered `days_ago` days ago (how it got there is other tests' business)."""
    order = place_order().order
    Order.objects.filter(pk=order.pk).update(
        status=OrderStatus.DELIVERED, delivered_at=timezone.now() - timedelta(days=days_ago)
    )
    return order


def test_orders_past_the_return_window_are_completed_once(catalogue, settings):
    settings.RETURN_WINDOW_DAYS = 30
    recent, due = _delivered(days_ago=10), _delivered(days_ago=31)

    assert tasks.complete_delivered_orders() == 1
    assert tasks.complete_delivered_orders() == 0

    recent.refresh_from_db()
    due.refresh_from_db()
    assert recent.status == OrderStatus.DELIVERED
    assert due.status == OrderStatus.COMPLETED
    assert due.completed_at is not None
    assert due.events.filter(type=EventType.COMPLETED).count() == 1


def test_an_order_inside_its_window_cannot_be_completed(catalogue):
    order = _delivered(days_ago=1)
    with pytest.raises(TransitionRefused):
        order_complete(order_id=order.pk, actor="system")
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED


class RefundUnderWay(OrderPhase):
    name = "refunds"

    def open_items(self, *, order):
        return ["a refund is being paid out"]


def test_completion_waits_while_a_phase_has_something_open(catalogue, monkeypatch):
    order = _delivered(days_ago=40)
    monkeypatch.setattr(registry, "PHASES", (*registry.PHASES, RefundUnderWay()))

    assert tasks.complete_delivered_orders() == 0
    with pytest.raises(TransitionRefused, match="a refund is being paid out"):
        order_complete(order_id=order.pk, actor="system")
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED

    monkeypatch.setattr(registry, "PHASES", registry.PHASES[:-1])
    assert tasks.complete_delivered_orders() == 1


def test_the_nightly_task_is_scheduled(settings):
    tasks_scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "orders.tasks.complete_delivered_orders" in tasks_scheduled


def test_a_refund_being_paid_out_keeps_the_order_open(catalogue):
    # given a delivered order past its window with a refund the provider has not confirmed
    order = _delivered(days_ago=40)
    payment = order.payments.get()
    Payment.objects.filter(pk=payment.pk).update(
        status=PaymentStatus.CAPTURED, amount_captured=payment.amount
    )
    Refund.objects.create(payment=payment, amount="5.00", reason="goodwill")

    with pytest.raises(TransitionRefused, match="a refund is still being paid out"):
        order_complete(order_id=order.pk, actor="system")
    Refund.objects.update(status=RefundStatus.SUCCEEDED)
    assert order_complete(order_id=order.pk, actor="system").status == OrderStatus.COMPLETED

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
from orders.services import order_complete, orders_complete_due
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


class RefundUnderWayFor(OrderPhase):
    """Something still open for one order only."""

    name = "refunds"

    def __init__(self, order: Order) -> None:
        self.order_id = order.pk

    def open_items(self, *, order):
        return ["a refund is being paid out"] if order.pk == self.order_id else []


@pytest.mark.parametrize("batch_size", [1, 2])
def test_an_order_held_open_does_not_stall_the_ones_after_it(catalogue, monkeypatch, batch_size):
    # given three due orders, the oldest held open by a phase
    oldest, middle, newest = _delivered(days_ago=50), _delivered(days_ago=45), _delivered(40)
    monkeypatch.setattr(registry, "PHASES", (*registry.PHASES, RefundUnderWayFor(oldest)))

    # when one run walks them in small batches
    run = orders_complete_due(actor="system", batch_size=batch_size)

    # then the two others are completed, and the oldest waits for the next night
    assert (run.completed, run.still_open, run.not_reached) == (2, 1, False)
    statuses = dict(
        Order.objects.filter(pk__in=[oldest.pk, middle.pk, newest.pk]).values_list("pk", "status")
    )
    assert statuses == {
        oldest.pk: OrderStatus.DELIVERED,
        middle.pk: OrderStatus.COMPLETED,
        newest.pk: OrderStatus.COMPLETED,
    }


def test_orders_delivered_at_the_same_moment_are_each_visited_once(catalogue):
    # given three due orders delivered at the very same moment (the keyset's tie on pk)
    orders = [_delivered(days_ago=40) for _ in range(3)]
    moment = timezone.now() - timedelta(days=40)
    Order.objects.filter(pk__in=[o.pk for o in orders]).update(delivered_at=moment)

    run = orders_complete_due(actor="system", batch_size=1)

    assert (run.completed, run.still_open) == (3, 0)
    assert Order.objects.filter(status=OrderStatus.COMPLETED).count() == 3


def test_a_run_out_of_time_leaves_the_rest_for_the_next_night(catalogue):
    order = _delivered(days_ago=40)

    run = orders_complete_due(actor="system", budget=timedelta(0))

    assert (run.completed, run.not_reached) == (0, True)
    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
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


class BrokenPhase(OrderPhase):
    """A phase whose completion fails for one order (a bug, a lost connection)."""

    name = "broken"

    def __init__(self, order_id: int) -> None:
        self.order_id = order_id

    def completed(self, *, order, actor):
        if order.pk == self.order_id:
            raise RuntimeError("connection lost")


def test_one_order_failing_does_not_stop_the_run(catalogue, monkeypatch):
    first, second = _delivered(days_ago=50), _delivered(days_ago=40)
    monkeypatch.setattr(registry, "PHASES", (*registry.PHASES, BrokenPhase(first.pk)))

    assert tasks.complete_delivered_orders() == 1

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == OrderStatus.DELIVERED  # its completion was rolled back
    assert second.status == OrderStatus.COMPLETED

"""The Order state machine: every allowed and every forbidden transition."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition, TransitionNotAllowed, can_proceed

from orders.models import Order, OrderLine, OrderStatus
from orders.tests.factories import ProductFactory

S = OrderStatus

# transition -> (kwargs, {source: target}) exactly as DESIGN.md states it.
MACHINE = {
    "place": ({}, {S.DRAFT: S.RECEIVED}),
    "review": ({"passed": True}, {S.RECEIVED: S.CONFIRMED}),
    "hold": (
        {},
        dict.fromkeys((S.RECEIVED, S.CONFIRMED, S.READY, S.PICKING, S.PACKED), S.ON_HOLD),
    ),
    "release": ({}, {S.ON_HOLD: S.CONFIRMED}),
    "secure_payment": ({}, {S.CONFIRMED: S.READY}),
    "pack": ({}, {S.PICKING: S.PACKED}),
    "ship": ({"all_shipped": True}, {S.PACKED: S.SHIPPED, S.PARTIALLY_SHIPPED: S.SHIPPED}),
    "deliver": ({}, {S.SHIPPED: S.DELIVERED}),
    "cancel": (
        {},
        dict.fromkeys(
            (S.DRAFT, S.RECEIVED, S.ON_HOLD, S.CONFIRMED, S.READY, S.PICKING, S.PACKED),
            S.CANCELLED,
        ),
    ),
}
# Transitions with conditions: their one allowed source is tested with data further down;
# here, every other source must refuse them.
CONDITIONAL = {"start_picking": S.READY, "fulfil": S.READY, "complete": S.DELIVERED}
CASES = [
    (name, source, sources.get(source))
    for name, (_kwargs, sources) in MACHINE.items()
    for source in S.values
] + [
    (name, source, None)
    for name, allowed in CONDITIONAL.items()
    for source in S.values
    if source != allowed
]


@pytest.mark.parametrize(("name", "source", "target"), CASES)
def test_each_transition_is_allowed_exactly_from_its_sources(name, source, target):
    # given an order in `source`
    order = Order(status=source)
    kwargs = MACHINE[name][0] if name in MACHINE else {}
    if target is None:
        # then every other source refuses it
        with pytest.raises(TransitionNotAllowed):
            getattr(order, name)(**kwargs)
        assert order.status == source
    else:
        getattr(order, name)(**kwargs)
        assert order.status == target


def test_review_that_fails_holds_and_remembers_where_from():
    order = Order(status=S.RECEIVED)
    order.review(passed=False)
    assert order.status == S.ON_HOLD
    assert order.held_from == S.RECEIVED


def test_ship_with_shipments_left_is_partially_shipped():
    order = Order(status=S.PACKED)
    order.ship(all_shipped=False)
    assert order.status == S.PARTIALLY_SHIPPED
    order.ship(all_shipped=False)
    assert order.status == S.PARTIALLY_SHIPPED
    order.ship(all_shipped=True)
    assert order.status == S.SHIPPED


@pytest.mark.parametrize(
    ("held_from", "reviewed", "target"),
    [
        (S.RECEIVED, False, S.RECEIVED),  # held before its review: back to be reviewed
        (S.RECEIVED, True, S.CONFIRMED),
        (S.CONFIRMED, True, S.CONFIRMED),
        (S.READY, True, S.READY),
        (S.PICKING, True, S.PICKING),
        (S.PACKED, True, S.PACKED),
    ],
)
def test_release_goes_back_to_a_later_held_from_state(held_from, reviewed, target):
    order = Order(status=held_from, reviewed_at=timezone.now() if reviewed else None)
    order.hold()
    assert order.held_from == held_from
    order.release()
    assert order.status == target
    assert order.held_from == ""


def test_state_cannot_be_assigned_directly():
    order = Order(status=S.CONFIRMED)
    with pytest.raises(AttributeError):
        order.status = S.SHIPPED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kinds", "can_pick", "can_fulfil"),
    [
        (["physical"], True, False),
        (["digital"], False, True),
        (["service", "digital"], False, True),
        (["physical", "digital"], True, False),
    ],
)
def test_only_digital_or_service_orders_skip_picking(kinds, can_pick, can_fulfil):
    order = Order.objects.create()
    Order.objects.filter(pk=order.pk).update(status=S.READY)
    order = Order.objects.get(pk=order.pk)
    for kind in kinds:
        OrderLine.objects.create(
            order=order, product=ProductFactory(kind=kind), product_kind=kind, quantity=1
        )
    assert can_proceed(order.start_picking) is can_pick
    assert can_proceed(order.fulfil) is can_fulfil


@pytest.mark.django_db
def test_complete_waits_for_the_return_window(settings):
    settings.RETURN_WINDOW_DAYS = 30
    order = Order.objects.create()
    Order.objects.filter(pk=order.pk).update(status=S.DELIVERED)
    order = Order.objects.get(pk=order.pk)
    order.delivered_at = timezone.now() - timedelta(days=29)
    assert not can_proceed(order.complete)
    order.delivered_at = timezone.now() - timedelta(days=31)
    order.complete()
    assert order.status == S.COMPLETED


@pytest.mark.django_db
def test_complete_is_refused_before_delivery_date_is_known():
    order = Order(status=S.DELIVERED)
    assert not can_proceed(order.complete)


@pytest.mark.django_db(transaction=True)
def test_a_stale_concurrent_save_raises_instead_of_overwriting():
    # given two copies of one confirmed order, loaded before either changed it
    created = Order.objects.create()
    Order.objects.filter(pk=created.pk).update(status=S.CONFIRMED)
    first = Order.objects.get(pk=created.pk)
    second = Order.objects.get(pk=created.pk)
    # when the first is cancelled and saved
    first.cancel()
    with transaction.atomic():
        first.save()
    # then the second, still believing the order confirmed, cannot overwrite that
    second.hold()
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        second.save()
    assert Order.objects.get(pk=created.pk).status == S.CANCELLED

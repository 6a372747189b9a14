"""Review, holds, release and cancellation."""

from decimal import Decimal

import pytest
from django.db.models import Sum

from orders import services
from orders.exceptions import InvalidOrder, TransitionRefused
from orders.models import (
    Channel,
    EventType,
    HoldReason,
    Notification,
    Order,
    OrderHold,
    OrderStatus,
)
from orders.permissions import CUSTOMER_SERVICE, FINANCE, WAREHOUSE
from orders.services import AddressInput, NotPermitted
from orders.tests.factories import BERLIN, LONDON, place_order, staff_user
from warehouse.exceptions import OutOfStock
from warehouse.models import StockItem
from warehouse.services import stock_receive

pytestmark = pytest.mark.django_db


def _reviewed(result) -> Order:
    return services.order_review(order_id=result.order.pk)


def _reserved(sku: str) -> int:
    return StockItem.objects.filter(product__sku=sku).aggregate(n=Sum("reserved"))["n"]


def test_a_clean_order_is_confirmed_with_checks_on_the_timeline(catalogue):
    order = _reviewed(place_order([("MUG-001", 1)]))
    assert order.status == OrderStatus.CONFIRMED
    assert order.confirmed_at is not None
    checks = order.events.filter(type=EventType.REVIEW_CHECK)
    # every phase is on: the payments phase adds its check after the orders app's own
    assert sorted(e.data["check"] for e in checks) == [
        "address",
        "fraud",
        "limit",
        "payment",
        "stock",
    ]
    assert all(e.data["passed"] for e in checks)
    assert order.events.filter(type=EventType.CONFIRMED, customer_visible=True).exists()
    assert Notification.objects.filter(order=order, kind="order_confirmation").count() == 1


def test_review_is_safe_to_run_twice(catalogue):
    result = place_order()
    _reviewed(result)
    again = _reviewed(result)
    assert again.status == OrderStatus.CONFIRMED
    assert again.events.filter(type=EventType.CONFIRMED).count() == 1
    assert Notification.objects.filter(order=again).count() == 1


def test_fraud_signals_hold_the_order(catalogue, settings):
    settings.FRAUD_HIGH_VALUE = Decimal("50.00")
    # new customer (30) + high value (40) + billing country differs (30)
    order = _reviewed(
        place_order([("LAMP-001", 1)], shipping_address=BERLIN, billing_address=LONDON)
    )
    assert order.status == OrderStatus.ON_HOLD
    assert order.fraud_score == 100
    assert order.active_hold_reasons() == [HoldReason.FRAUD_RISK]
    fraud = order.events.get(type=EventType.REVIEW_CHECK, data__check="fraud")
    assert fraud.data["signals"] == {"new_customer": 30, "high_value": 40, "country_mismatch": 30}
    assert not Notification.objects.filter(order=order).exists()


def test_a_returning_customer_scores_lower(catalogue):
    _reviewed(place_order(email="ada@example.com"))
    order = _reviewed(place_order(email="ada@example.com"))
    assert order.fraud_score == 0


def test_an_undeliverable_postal_code_holds_for_address(catalogue):
    address = AddressInput(
        name="A", line1="Street 1", city="Berlin", postal_code="1234", country="DE"
    )
    order = _reviewed(place_order(shipping_address=address))
    assert order.active_hold_reasons() == [HoldReason.ADDRESS_INVALID]
    hold = OrderHold.objects.get(order=order)
    assert "'1234' is not a valid postal code for Germany" in hold.message


def test_destinations_we_do_not_ship_to_are_held(catalogue, settings):
    settings.SHIPPING_COUNTRIES = ["DE"]
    order = _reviewed(place_order(shipping_address=LONDON))
    assert order.active_hold_reasons() == [HoldReason.ADDRESS_INVALID]


def test_totals_over_the_limit_wait_for_a_person(catalogue, settings):
    settings.ORDER_REVIEW_MAX_TOTAL = Decimal("30.00")
    order = _reviewed(place_order([("MUG-001", 3)]))
    assert order.active_hold_reasons() == [HoldReason.MANUAL]


def test_several_failed_checks_give_several_reasons(catalogue, settings):
    settings.ORDER_REVIEW_MAX_TOTAL = Decimal("30.00")
    address = AddressInput(name="A", line1="Street 1", city="Berlin", postal_code="x", country="DE")
    order = _reviewed(place_order([("MUG-001", 3)], shipping_address=address))
    assert sorted(order.active_hold_reasons()) == [HoldReason.ADDRESS_INVALID, HoldReason.MANUAL]


def test_phone_order_short_of_stock_is_held_and_released_once_stock_arrives(catalogue):
    # given a phone order for more lamps than there are
    order = _reviewed(place_order([("LAMP-001", 5)], channel=Channel.PHONE))
    assert order.active_hold_reasons() == [HoldReason.OUT_OF_STOCK]
    agent = staff_user(CUSTOMER_SERVICE)
    # when staff try to release it before the stock arrives, then it is refused
    with pytest.raises(OutOfStock):
        services.order_release(order_id=order.pk, actor=agent)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ON_HOLD
    assert _reserved("LAMP-001") == 3
    # when two more arrive, then release reserves them and confirms
    stock_receive(
        stock_item=StockItem.objects.get(product__sku="LAMP-001"),
        quantity=2,
        actor=agent,
        reason="delivery",
    )
    order = services.order_release(order_id=order.pk, actor=agent, note="stock arrived")
    assert order.status == OrderStatus.CONFIRMED
    assert _reserved("LAMP-001") == 5
    assert OrderHold.objects.get(order=order).released_by == agent
    assert Notification.objects.filter(order=order, kind="order_confirmation").count() == 1


def test_release_after_a_hold_from_a_later_state_returns_there(catalogue):
    order = _reviewed(place_order())
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.READY)
    agent = staff_user(FINANCE)
    held = services.order_hold(order_id=order.pk, actor=agent, note="card dispute")
    assert held.held_from == OrderStatus.READY
    released = services.order_release(order_id=order.pk, actor=agent)
    assert released.status == OrderStatus.READY
    # the customer was confirmed already, so no second confirmation
    assert Notification.objects.filter(order=order, kind="order_confirmation").count() == 1


def _held_before_review(result) -> Order:
    # support holds an order that is still `received`: its review has not run (the broker
    # was down, say), so none of the review's checks have looked at it yet
    order = services.order_hold(
        order_id=result.order.pk, actor=staff_user(CUSTOMER_SERVICE), note="caller unsure"
    )
    assert (order.status, order.held_from, order.reviewed_at) == (
        OrderStatus.ON_HOLD,
        OrderStatus.RECEIVED,
        None,
    )
    return order


def test_releasing_an_order_held_before_its_review_runs_the_review_which_holds_it(catalogue):
    # given an order with an undeliverable address, held by hand before its review ran
    address = AddressInput(
        name="A", line1="Street 1", city="Berlin", postal_code="1234", country="DE"
    )
    order = _held_before_review(place_order(shipping_address=address))
    agent = staff_user(FINANCE)

    # when staff release it
    released = services.order_release(order_id=order.pk, actor=agent, note="caller is sure")

    # then it is not confirmed: the review ran and held it for its own reason instead
    order = Order.objects.prefetch_related("holds").get(pk=released.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert order.active_hold_reasons() == [HoldReason.ADDRESS_INVALID]
    assert order.reviewed_at is not None and order.confirmed_at is None
    assert OrderHold.objects.get(order=order, reason=HoldReason.MANUAL).released_by == agent
    checks = order.events.filter(type=EventType.REVIEW_CHECK)
    assert sorted(e.data["check"] for e in checks) == [
        "address",
        "fraud",
        "limit",
        "payment",
        "stock",
    ]
    assert order.events.get(type=EventType.RELEASED).data["status"] == OrderStatus.RECEIVED
    assert not order.events.filter(type=EventType.CONFIRMED).exists()
    assert not Notification.objects.filter(order=order, kind="order_confirmation").exists()


def test_releasing_an_order_held_before_its_review_confirms_it_when_the_checks_pass(catalogue):
    # given a clean order held by hand before its review ran
    order = _held_before_review(place_order())

    # when staff release it
    released = services.order_release(order_id=order.pk, actor=staff_user(CUSTOMER_SERVICE))

    # then the review confirms it, once, and the customer is told
    assert released.status == OrderStatus.CONFIRMED
    assert released.reviewed_at is not None and released.confirmed_at is not None
    assert released.events.filter(type=EventType.REVIEW_CHECK).count() == 5
    assert released.events.filter(type=EventType.CONFIRMED).count() == 1
    assert Notification.objects.filter(order=order, kind="order_confirmation").count() == 1


def test_a_held_order_can_take_more_reasons(catalogue):
    order = _reviewed(place_order())
    agent = staff_user(CUSTOMER_SERVICE)
    services.order_hold(order_id=order.pk, actor=agent, reason=HoldReason.MANUAL, note="check")
    services.order_hold(order_id=order.pk, actor=agent, reason=HoldReason.FRAUD_RISK, note="odd")
    order = Order.objects.get(pk=order.pk)
    assert sorted(order.active_hold_reasons()) == [HoldReason.FRAUD_RISK, HoldReason.MANUAL]
    with pytest.raises(InvalidOrder):
        services.order_hold(order_id=order.pk, actor=agent, reason="bored")


def test_cancel_releases_stock_closes_holds_and_tells_the_customer(catalogue):
    order = _reviewed(place_order([("MUG-001", 4)]))
    agent = staff_user(CUSTOMER_SERVICE)
    services.order_hold(order_id=order.pk, actor=agent)
    assert _reserved("MUG-001") == 4
    order = services.order_cancel(order_id=order.pk, actor=agent, reason="Customer changed mind")
    assert order.status == OrderStatus.CANCELLED
    assert order.cancellation_reason == "Customer changed mind"
    assert _reserved("MUG-001") == 0
    assert not OrderHold.objects.filter(order=order, released_at__isnull=True).exists()
    assert Notification.objects.filter(order=order, kind="order_cancelled").exists()
    event = order.events.get(type=EventType.CANCELLED)
    assert event.actor == agent and event.customer_visible


def test_cancel_is_refused_once_shipped(catalogue):
    order = _reviewed(place_order())
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.SHIPPED)
    with pytest.raises(TransitionRefused, match="shipped"):
        services.order_cancel(order_id=order.pk, actor=staff_user(CUSTOMER_SERVICE))
    assert _reserved("MUG-001") == 1


def test_the_warehouse_may_hold_but_not_cancel_or_release(catalogue):
    order = _reviewed(place_order())
    picker = staff_user(WAREHOUSE)
    with pytest.raises(NotPermitted):
        services.order_cancel(order_id=order.pk, actor=picker)
    services.order_hold(order_id=order.pk, actor=picker, note="box damaged")
    with pytest.raises(NotPermitted):
        services.order_release(order_id=order.pk, actor=picker)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ON_HOLD


def test_notes_go_on_the_timeline_and_empty_ones_are_refused(catalogue):
    order = place_order().order
    agent = staff_user(CUSTOMER_SERVICE)
    services.order_add_note(order_id=order.pk, actor=agent, note="Called back")
    assert order.events.filter(type=EventType.NOTE, message="Called back", actor=agent).exists()
    with pytest.raises(InvalidOrder):
        services.order_add_note(order_id=order.pk, actor=agent, note="  ")


def test_draft_orders_are_placed_by_staff(catalogue):
    from orders.models import OrderLine
    from orders.tests.factories import CustomerFactory

    agent = staff_user(CUSTOMER_SERVICE)
    customer = CustomerFactory(email="caller@example.com")
    draft = Order(channel=Channel.PHONE, customer=customer, shipping_method=catalogue["standard"])
    services.order_save_draft(order=draft, actor=agent, shipping_address=BERLIN.to_model())
    assert draft.status == OrderStatus.DRAFT and draft.number is None
    OrderLine.objects.create(order=draft, product=catalogue["tee"], quantity=2)
    result = services.order_place_draft(order_id=draft.pk, actor=agent)
    order = result.order
    assert order.status == OrderStatus.RECEIVED
    assert order.email == "caller@example.com"
    assert order.grand_total == Decimal("45.00")
    assert order.billing_address.city == "Berlin"
    assert order.billing_address.pk != order.shipping_address.pk
    # and a placed order is no longer a draft to edit
    with pytest.raises(TransitionRefused):
        services.order_save_draft(order=order, actor=agent, shipping_address=BERLIN.to_model())


def test_web_channel_cannot_be_a_staff_draft(catalogue):
    with pytest.raises(InvalidOrder):
        services.order_save_draft(order=Order(channel=Channel.WEB), actor=None)

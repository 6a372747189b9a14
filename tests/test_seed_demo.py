"""`manage.py seed_demo`: demo data in every interesting state, safe to run again."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Sum

from orders.models import (
    Address,
    Customer,
    HoldReason,
    Notification,
    Order,
    OrderEvent,
    OrderHold,
    OrderLine,
    OrderStatus,
)
from orders.permissions import GROUP_PERMISSIONS
from warehouse.models import Product, StockItem, StockMovement, StockReservation

pytestmark = pytest.mark.django_db


def _seed(capture=None):
    """Run the command; with `capture`, run the after-commit callbacks (the review) too, as a
    real run outside a test transaction would."""
    out = io.StringIO()
    if capture is None:
        call_command("seed_demo", stdout=out)
    else:
        with capture(execute=True):
            call_command("seed_demo", stdout=out)
    return out.getvalue()


def _counts():
    models = [
        Order,
        OrderLine,
        OrderHold,
        OrderEvent,
        Customer,
        Address,
        Notification,
        Product,
        StockItem,
        StockMovement,
        StockReservation,
        get_user_model(),
    ]
    return {model.__name__: model.objects.count() for model in models}


def _by_key(key):
    return Order.objects.get(source="seed", idempotency_key=key)


def test_seed_demo_twice_creates_nothing_new(django_capture_on_commit_callbacks):
    # given a seeded database (here the after-commit work, and so the warehouse demo that
    # needs paid orders, runs at the end of the first call; the second call finishes it)
    _seed(django_capture_on_commit_callbacks)
    _seed(django_capture_on_commit_callbacks)
    first = _counts()
    reserved = StockItem.objects.aggregate(total=Sum("reserved"))["total"]

    # when
    _seed(django_capture_on_commit_callbacks)

    # then
    assert _counts() == first
    assert StockItem.objects.aggregate(total=Sum("reserved"))["total"] == reserved
    assert first["Order"] == 13
    assert first["Product"] == 10
    assert first["StockItem"] == 16


def test_seed_demo_leaves_orders_in_several_states(django_capture_on_commit_callbacks):
    # when
    output = _seed(django_capture_on_commit_callbacks)

    # then
    statuses = set(Order.objects.values_list("status", flat=True))
    assert {
        OrderStatus.READY,
        OrderStatus.ON_HOLD,
        OrderStatus.CANCELLED,
        OrderStatus.DRAFT,
    } <= statuses
    assert OrderStatus.RECEIVED not in statuses  # every placed order was reviewed
    assert "Demo data ready." in output
    draft = Order.objects.get(status=OrderStatus.DRAFT)
    assert (draft.channel, draft.source) == ("phone", "seed")
    assert draft.lines.count() == 1


def test_seed_demo_gives_every_staff_group_a_user(django_capture_on_commit_callbacks):
    _seed(django_capture_on_commit_callbacks)

    users = get_user_model().objects
    for group in GROUP_PERMISSIONS:
        assert users.filter(groups__name=group, is_staff=True).exists(), group
    assert users.filter(username="admin", is_superuser=True).exists()


def test_seed_demo_prints_the_address_the_demo_serves_on(settings):
    # given `make run PORT=8011` (the Makefile passes that address, config/settings/local.py)
    settings.SITE_URL = "http://127.0.0.1:8011"

    out = _seed()

    assert "Staff console: http://127.0.0.1:8011/admin/" in out
    assert "Shop: http://127.0.0.1:8011/  customer login" in out
    assert ":8000" not in out


def test_seed_demo_holds_orders_for_each_demo_reason(django_capture_on_commit_callbacks):
    # when
    _seed(django_capture_on_commit_callbacks)

    # then
    held = Order.objects.filter(status=OrderStatus.ON_HOLD)
    reasons = set(
        OrderHold.objects.filter(order__in=held, released_at__isnull=True).values_list(
            "reason", flat=True
        )
    )
    assert reasons == {
        HoldReason.FRAUD_RISK,
        HoldReason.ADDRESS_INVALID,
        HoldReason.MANUAL,
        HoldReason.PAYMENT_FAILED,
    }
    assert _by_key("seed-4").active_hold_reasons() == [HoldReason.FRAUD_RISK]
    assert _by_key("seed-5").active_hold_reasons() == [HoldReason.ADDRESS_INVALID]
    assert _by_key("seed-6").active_hold_reasons() == [HoldReason.MANUAL]
    assert _by_key("seed-9").active_hold_reasons() == [HoldReason.PAYMENT_FAILED]


def test_seed_demo_pays_by_card_and_on_invoice_terms(django_capture_on_commit_callbacks):
    _seed(django_capture_on_commit_callbacks)

    assert _by_key("seed-1").payments.get().status == "captured"
    # cancelled: refunded when its capture ran first (make run), voided when the commit
    # callbacks run only at the end (as here)
    assert _by_key("seed-7").payments.get().status in {"refunded", "voided"}
    invoiced = _by_key("seed-10")
    assert invoiced.status == OrderStatus.READY
    assert invoiced.payments.get().invoice_record.number.startswith("INV-")


def test_seed_demo_cancelled_order_gave_its_stock_back(django_capture_on_commit_callbacks):
    _seed(django_capture_on_commit_callbacks)

    cancelled = _by_key("seed-7")
    assert cancelled.status == OrderStatus.CANCELLED
    assert not StockReservation.objects.filter(order_line__order=cancelled).exists()
    mug2 = StockItem.objects.get(product__sku="MUG-002", warehouse__code="ber")
    assert mug2.reserved == 0


def test_seed_demo_without_the_after_commit_callbacks_leaves_orders_unreviewed():
    # Inside a test transaction nothing commits, so the review (queued on commit) never runs:
    # the placed orders wait in "received" for the periodic sweep.
    _seed()

    statuses = set(Order.objects.values_list("status", flat=True))
    assert statuses == {OrderStatus.RECEIVED, OrderStatus.CANCELLED, OrderStatus.DRAFT}
    assert not OrderHold.objects.exists()

    # a second run changes nothing either
    counts = _counts()
    _seed()
    assert _counts() == counts

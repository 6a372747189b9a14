"""Awkward timings across phases: a decline at capture, a cancel while the capture is under
way, a paid invoice then a cancel, a late authorisation after paying again, a cancel during
pick confirmation, customers acting on held orders."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from orders import services as order_services
from orders.exceptions import TransitionRefused
from orders.models import EventType, HoldReason, Order, OrderStatus
from orders.selectors import order_link_token
from orders.services import AddressInput, OrderGrant
from orders.tests.factories import CustomerFactory, place_order
from payments import services as payment_services
from payments.models import (
    CreditAccount,
    OperationStatus,
    Payment,
    PaymentOperation,
    PaymentStatus,
    Refund,
)
from payments.providers.base import CardDetails, ProviderResult, ProviderUnavailable
from payments.providers.test import TestGateway
from payments.services import PaymentInput
from warehouse.models import StockItem
from warehouse.services import picking
from warehouse.tests.test_fulfilment import _pack_all, _pick_all, _ready

pytestmark = pytest.mark.django_db
P = PaymentStatus


def _placed(capture, **kwargs) -> Order:
    with capture(execute=True):
        order = place_order([("MUG-001", 2)], **kwargs).order
    return Order.objects.prefetch_related("holds").get(pk=order.pk)


def test_a_capture_declined_fails_the_payment_holds_the_order_and_asks_again(
    catalogue, django_capture_on_commit_callbacks, mailoutbox
):
    expired = ProviderResult(success=False, code="expired", message="Authorisation expired")
    with mock.patch.object(TestGateway, "capture", return_value=expired):
        order = _placed(django_capture_on_commit_callbacks)
    payment = Payment.objects.get(order=order)
    assert payment.status == P.FAILED
    assert payment.operations.get(kind="capture").status == OperationStatus.FAILED
    assert order.status == OrderStatus.ON_HOLD
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    assert any("did not go through" in m.subject for m in mailoutbox)


def test_a_cancel_while_the_capture_is_under_way_refunds_it(
    catalogue, django_capture_on_commit_callbacks
):
    real_capture = TestGateway.capture

    def capture_while_cancelled(self, **kwargs):
        order = Order.objects.get()
        order_services.order_cancel(order_id=order.pk, actor="customer")
        return real_capture(self, **kwargs)

    with mock.patch.object(
        TestGateway, "capture", autospec=True, side_effect=capture_while_cancelled
    ):
        order = _placed(django_capture_on_commit_callbacks)
    payment = Payment.objects.get(order=order)
    assert order.status == OrderStatus.CANCELLED
    assert payment.status == P.REFUNDED
    assert Refund.objects.get(payment=payment).amount == payment.amount
    assert not payment.operations.filter(status=OperationStatus.PENDING).exists()


def test_cancelling_an_order_whose_invoice_was_paid_tells_finance_to_pay_it_back(
    catalogue, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(email="buyer@acme.example")
    CreditAccount.objects.create(customer=customer, terms_days=30, credit_limit=5000)
    order = _placed(
        django_capture_on_commit_callbacks,
        email="buyer@acme.example",
        payment=PaymentInput(method="invoice"),
    )
    invoice = Payment.objects.get(order=order).invoice_record
    payment_services.invoice_record_payment(
        invoice_id=invoice.pk, amount=invoice.amount, actor="finance"
    )
    order_services.order_cancel(order_id=order.pk, actor="support")
    assert order.events.filter(
        type=EventType.PAYMENT_VOIDED, message__contains="pay it back"
    ).exists()


def test_a_late_authorisation_after_paying_again_is_voided(
    catalogue, django_capture_on_commit_callbacks
):
    with mock.patch.object(TestGateway, "authorize", side_effect=ProviderUnavailable("down")):
        order = _placed(django_capture_on_commit_callbacks)
    assert order.status == OrderStatus.ON_HOLD
    with django_capture_on_commit_callbacks(execute=True):
        payment_services.payment_pay_again(
            order_id=order.pk, card=CardDetails(token="tok_visa"), actor="customer"
        )
    PaymentOperation.objects.filter(status=OperationStatus.PENDING).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        payment_services.reconcile()
    first, second = Payment.objects.filter(order=order).order_by("pk")
    assert (first.status, second.status) == (P.VOIDED, P.CAPTURED)


def test_a_provider_call_no_longer_wanted_is_closed_not_retried_forever(
    catalogue, django_capture_on_commit_callbacks
):
    with mock.patch.object(TestGateway, "authorize", side_effect=ProviderUnavailable("down")):
        order = _placed(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        order_services.order_cancel(order_id=order.pk, actor="support")
    PaymentOperation.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    payment_services.reconcile()
    operation = PaymentOperation.objects.get()
    assert (operation.status, operation.error_code) == (OperationStatus.FAILED, "skipped")
    assert payment_services.reconcile()["operations"] == 0


def test_a_cancel_just_before_pick_confirmation_keeps_stock_right(
    catalogue, bins, picker, django_capture_on_commit_callbacks
):
    first = _ready(django_capture_on_commit_callbacks, [("MUG-001", 2)], email="a@example.com")
    second = _ready(django_capture_on_commit_callbacks, [("MUG-001", 3)], email="b@example.com")
    (pick_list,) = picking.picklist_create(order_ids=[first.pk, second.pk], actor=picker).pick_lists
    picked = {item.pk: item.quantity for item in pick_list.items.all()}
    real_lock = picking.lock_order
    cancelled = []

    def cancel_first_then_lock(order_id):
        if not cancelled:
            cancelled.append(order_id)
            with django_capture_on_commit_callbacks(execute=True):
                order_services.order_cancel(order_id=first.pk, actor="support")
        return real_lock(order_id)

    with mock.patch.object(picking, "lock_order", side_effect=cancel_first_then_lock):
        picking.picklist_confirm(pick_list_id=pick_list.pk, picked=picked, actor=picker)
    mug = StockItem.objects.get(product__sku="MUG-001", warehouse__code="ber")
    # only the second order's 3 units left the shelf; nothing is reserved any more
    assert (mug.on_hand, mug.reserved) == (47, 0)


def test_customers_cannot_change_a_held_order_that_was_already_packed(
    catalogue, bins, picker, box, django_capture_on_commit_callbacks
):
    order = _ready(django_capture_on_commit_callbacks, [("MUG-001", 1)])
    _pick_all([order.pk], picker)
    _pack_all(order, picker, box)
    order_services.order_hold(order_id=order.pk, actor="support", reason="manual")
    guest_link = OrderGrant.guest_link(order_link_token(Order.objects.get(pk=order.pk)))
    elsewhere = AddressInput(
        name="X", line1="Other 2", city="Munich", postal_code="80331", country="DE"
    )
    with pytest.raises(TransitionRefused):
        order_services.order_change_shipping_address(
            order_id=order.pk, grant=guest_link, address=elsewhere
        )
    with pytest.raises(TransitionRefused):
        order_services.order_cancel_by_customer(
            order_id=order.pk, grant=guest_link, reason="changed my mind"
        )
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ON_HOLD

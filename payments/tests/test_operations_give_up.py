"""A provider call that is never answered is given up after PAYMENT_MAX_ATTEMPTS; what it
carried must not stay pending for ever."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from orders.models import EventType, Order, OrderStatus
from orders.permissions import CUSTOMER_SERVICE, FINANCE
from orders.tests.factories import place_order, staff_user
from payments import services
from payments.lifecycle import PaymentsPhase
from payments.models import OperationStatus, Payment, PaymentOperation, PaymentStatus, RefundStatus
from payments.providers.base import ProviderUnavailable
from payments.providers.test import TestGateway
from payments.services.inputs import PaymentRefused
from payments.services.operations import _give_up
from payments.services.refunds import refunds_pending

pytestmark = pytest.mark.django_db


def _refund_never_answered(capture, settings):
    """A captured card order and a refund of 5.00 the provider never answered: given up."""
    settings.PAYMENT_MAX_ATTEMPTS = 2
    with capture(execute=True):
        order = place_order([("MUG-001", 2)]).order
    payment = Payment.objects.get(order=order)
    assert payment.status == PaymentStatus.CAPTURED
    down = mock.patch.object(TestGateway, "refund", side_effect=ProviderUnavailable("down"))
    with down, capture(execute=True):
        refund = services.refund_create(
            payment_id=payment.pk,
            amount="5.00",
            reason="goodwill",
            actor="system",
            idempotency_key="give-up-1",
        )
    PaymentOperation.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    with down, capture(execute=True):
        services.reconcile()
    return order, payment, refund


def test_a_refund_the_provider_never_answers_waits_for_finance(
    catalogue, django_capture_on_commit_callbacks, settings
):
    order, payment, refund = _refund_never_answered(django_capture_on_commit_callbacks, settings)

    # the call is closed, but nobody knows whether the money went: the refund stays pending,
    # its amount reserved (no second refund of it) and the order open, and Finance is told
    operation = PaymentOperation.objects.get(refund=refund)
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert (operation.status, operation.error_code) == (OperationStatus.FAILED, "gave_up")
    assert refund.status == RefundStatus.PENDING
    assert payment.amount_refunded == Decimal("0")
    assert refunds_pending(payment) == Decimal("5.00")
    assert PaymentsPhase().open_items(order=order)
    told = order.events.get(type=EventType.PAYMENT_FAILED, data__refund=refund.pk)
    assert "may or may not have been paid out" in told.message
    assert Order.objects.get(pk=order.pk).status == OrderStatus.READY


@pytest.mark.parametrize(
    ("paid_out", "status", "refunded"), [(True, "succeeded", "5.00"), (False, "failed", "0")]
)
def test_finance_settles_it_after_checking_with_the_provider(
    catalogue, django_capture_on_commit_callbacks, settings, client, paid_out, status, refunded
):
    order, payment, refund = _refund_never_answered(django_capture_on_commit_callbacks, settings)
    client.force_login(staff_user(FINANCE))
    action = "settle_paid_out" if paid_out else "settle_not_paid_out"

    response = client.post(
        reverse("admin:payments_refund_changelist"),
        {"action": action, "_selected_action": [refund.pk]},
        follow=True,
    )

    assert response.status_code == 200
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == status
    assert payment.amount_refunded == Decimal(refunded)
    assert refunds_pending(payment) == Decimal("0")
    assert not PaymentsPhase().open_items(order=order)


def test_a_refund_still_being_sent_cannot_be_settled_by_hand(
    catalogue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order([("MUG-001", 2)]).order
    payment = Payment.objects.get(order=order)
    down = mock.patch.object(TestGateway, "refund", side_effect=ProviderUnavailable("down"))
    with down, django_capture_on_commit_callbacks(execute=True):
        refund = services.refund_create(
            payment_id=payment.pk,
            amount="5.00",
            reason="goodwill",
            actor="system",
            idempotency_key="still-sending",
        )
    with pytest.raises(PaymentRefused, match="still being sent"):
        services.refund_settle_by_hand(
            refund_id=refund.pk, paid_out=True, actor=staff_user(FINANCE)
        )
    with pytest.raises(PaymentRefused, match="permission"):
        services.refund_settle_by_hand(
            refund_id=refund.pk, paid_out=True, actor=staff_user(CUSTOMER_SERVICE)
        )
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PENDING


def test_an_operation_answered_meanwhile_is_not_given_up(
    catalogue, django_capture_on_commit_callbacks
):
    # given a capture whose operation another run has already recorded
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order([("MUG-001", 2)]).order
    operation = PaymentOperation.objects.get(payment__order=order, kind="capture")
    assert operation.status == OperationStatus.SUCCEEDED

    _give_up(operation)

    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert not order.events.filter(type=EventType.PAYMENT_FAILED).exists()

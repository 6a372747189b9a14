"""A provider call that is never answered is given up after PAYMENT_MAX_ATTEMPTS; what it
carried must not stay pending for ever."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from orders.models import EventType, Order, OrderStatus
from orders.tests.factories import place_order
from payments import services
from payments.lifecycle import PaymentsPhase
from payments.models import OperationStatus, Payment, PaymentOperation, PaymentStatus, RefundStatus
from payments.providers.base import ProviderUnavailable
from payments.providers.test import TestGateway
from payments.services.operations import _give_up
from payments.services.refunds import refunds_pending

pytestmark = pytest.mark.django_db


def test_a_refund_the_provider_never_answers_fails_and_frees_the_order(
    catalogue, django_capture_on_commit_callbacks, settings
):
    # given a captured card order and a provider that does not answer refunds
    settings.PAYMENT_MAX_ATTEMPTS = 2
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order([("MUG-001", 2)]).order
    payment = Payment.objects.get(order=order)
    assert payment.status == PaymentStatus.CAPTURED
    down = mock.patch.object(TestGateway, "refund", side_effect=ProviderUnavailable("down"))
    with down, django_capture_on_commit_callbacks(execute=True):
        refund = services.refund_create(
            payment_id=payment.pk,
            amount="5.00",
            reason="goodwill",
            actor="system",
            idempotency_key="give-up-1",
        )
    refund.refresh_from_db()
    assert refund.status == RefundStatus.PENDING
    assert PaymentsPhase().open_items(order=order)

    # when the reconcile task tries again and the provider is still down
    PaymentOperation.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    with down, django_capture_on_commit_callbacks(execute=True):
        services.reconcile()

    # then the operation and its refund have failed, nothing is refunded or reserved,
    # and the refund no longer keeps the order open
    operation = PaymentOperation.objects.get(refund=refund)
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert operation.status == OperationStatus.FAILED
    assert refund.status == RefundStatus.FAILED
    assert refund.completed_at is not None
    assert payment.amount_refunded == Decimal("0")
    assert refunds_pending(payment) == Decimal("0")
    assert not PaymentsPhase().open_items(order=order)
    failed = order.events.get(type=EventType.REFUND_FAILED)
    assert failed.data["refund"] == refund.pk
    assert "gave up after 2 attempts" in failed.message
    assert Order.objects.get(pk=order.pk).status == OrderStatus.READY


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

"""A provider's webhook racing a cancellation, with real threads on PostgreSQL (started
together at a barrier). The webhook locks the order first, then the payment, as the
cancellation does: however they interleave, no deadlock, no server error, and the order,
its holds and the money end consistent."""

import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.test import Client

from orders import services as order_services
from orders.models import EventType, HoldReason, Order, OrderStatus
from orders.tests.factories import (
    authorisation_cancelled_at_provider,
    payment_securing_deferred,
    place_order,
)
from payments.models import OperationStatus, Payment, PaymentStatus, Refund, RefundStatus
from payments.providers.base import CardDetails
from payments.services import PaymentInput
from payments.tests.fake_stripe import FakeStripe
from tests.threads import run_together

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]
P = PaymentStatus
WEBHOOK_URL = "/payments/webhooks/stripe/"
WEBHOOK_SECRET = "whsec_race_secret"


@pytest.fixture
def stripe_server(settings):
    server = FakeStripe().start()
    settings.PAYMENT_CARD_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    yield server
    server.stop()


def _post_event(event_id: str, type_: str, obj: dict) -> tuple[int, str]:
    """Send a signed event as Stripe would; the status and the result it was answered with."""
    body = json.dumps(
        {"id": event_id, "object": "event", "type": type_, "data": {"object": obj}}
    ).encode()
    timestamp = int(time.time())
    digest = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    response = Client().post(
        WEBHOOK_URL,
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=f"t={timestamp},v1={digest}",
    )
    return response.status_code, response.json().get("result", "")


def _confirmed_with_a_pending_stripe_payment() -> tuple[Order, Payment]:
    # given: a confirmed order whose card authorisation the provider cancelled before the
    # capture; the customer's new card payment has not been answered for yet
    card = PaymentInput(method="card", card=CardDetails(token="pm_card_visa"))
    with payment_securing_deferred():
        order = place_order([("MUG-001", 2)], payment=card).order
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CONFIRMED
    authorisation_cancelled_at_provider(order)
    payment = Payment.objects.create(
        order=order,
        method="card",
        provider="stripe",
        amount=order.grand_total,
        currency=order.currency,
        provider_reference=f"pi_race_{order.pk}",
    )
    return Order.objects.get(pk=order.pk), payment


# the deadlock this guards against showed in most runs; the webhook-first order is rarer
@pytest.mark.parametrize("attempt", range(5))
def test_a_payment_failed_webhook_racing_a_cancel(stripe_server, catalogue, attempt):
    order, payment = _confirmed_with_a_pending_stripe_payment()

    def work(index: int):
        if index == 0:
            return _post_event(
                f"evt_failed_{order.pk}",
                "payment_intent.payment_failed",
                {
                    "id": payment.provider_reference,
                    "object": "payment_intent",
                    "last_payment_error": {"code": "card_declined", "message": "Declined."},
                },
            )
        return order_services.order_cancel(order_id=order.pk, actor="customer").status

    (webhook, cancelled) = run_together(2, work)

    assert webhook in ((200, "failed"), (200, "ignored: nothing to change")), webhook
    assert cancelled == OrderStatus.CANCELLED, cancelled
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    payment.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.active_hold_reasons() == []
    failed_events = order.events.filter(type=EventType.PAYMENT_FAILED).count()
    if webhook[1] == "failed":
        # the webhook came first: the confirmed order was held for payment, then cancelled
        assert payment.status == P.FAILED
        assert failed_events == 1
        assert order.holds.filter(reason=HoldReason.PAYMENT_FAILED).count() == 1
    else:
        # the cancel came first: the payment was voided, and the failure changes nothing
        assert payment.status == P.VOIDED
        assert failed_events == 0


def _ready_paid_through_stripe() -> tuple[Order, Payment]:
    card = PaymentInput(method="card", card=CardDetails(token="pm_card_visa"))
    order = Order.objects.get(pk=place_order([("MUG-001", 2)], payment=card).order.pk)
    assert order.status == OrderStatus.READY, order.status
    payment = Payment.objects.get(order=order)
    assert (payment.provider, payment.status) == ("stripe", P.CAPTURED)
    return order, payment


@pytest.mark.parametrize("attempt", range(3))
def test_a_refund_webhook_racing_a_cancel(stripe_server, catalogue, attempt):
    order, payment = _ready_paid_through_stripe()

    def work(index: int):
        if index == 0:
            # 5.00 refunded in the provider's dashboard
            return _post_event(
                f"evt_refunded_{order.pk}",
                "charge.refunded",
                {
                    "id": f"ch_{order.pk}",
                    "object": "charge",
                    "payment_intent": payment.provider_reference,
                    "amount_refunded": 500,
                },
            )
        return order_services.order_cancel(order_id=order.pk, actor="customer").status

    (webhook, cancelled) = run_together(2, work)

    assert webhook in ((200, "refund of 5.00 recorded"), (200, "already recorded")), webhook
    assert cancelled == OrderStatus.CANCELLED, cancelled
    payment.refresh_from_db()
    # whichever came first, exactly what was captured goes back, and nothing is left pending
    refunds = Refund.objects.filter(payment=payment)
    succeeded = refunds.filter(status=RefundStatus.SUCCEEDED).aggregate(s=Sum("amount"))["s"]
    assert refunds.exclude(status=RefundStatus.SUCCEEDED).count() == 0
    assert payment.amount_refunded == succeeded == payment.amount_captured
    assert payment.status == P.REFUNDED
    assert not payment.operations.filter(status=OperationStatus.PENDING).exists()
    if webhook[1] == "already recorded":
        # the cancel asked for all of it first: the dashboard's refund is that one
        assert refunds.count() == 1
    else:
        assert sorted(r.amount for r in refunds) == sorted(
            [Decimal("5.00"), payment.amount_captured - Decimal("5.00")]
        )

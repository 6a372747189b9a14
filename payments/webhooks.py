"""Provider webhooks: verified, stored once by event id, applied in the same transaction, so
a replayed event changes nothing."""

import logging
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from orders.services import lock_order
from payments.models import Payment, ProviderEvent
from payments.providers.base import WebhookEvent
from payments.providers.stripe import checkout_state
from payments.services import (
    checkout_record,
    payment_fail_reported_by_provider,
    payment_void_reported_by_provider,
    refund_record_from_provider,
)

logger = logging.getLogger(__name__)


def webhook_receive(*, provider: str, event: WebhookEvent) -> str:
    """Store and apply one verified event. Returns what happened, for the response."""
    try:
        with transaction.atomic():
            record = ProviderEvent.objects.create(
                provider=provider, event_id=event.event_id, type=event.type, payload=event.payload
            )
            record.result = _apply(provider, event)
            record.processed_at = timezone.now()
            record.save(update_fields=["result", "processed_at"])
    except IntegrityError:
        return "duplicate"
    logger.info(
        "webhook applied",
        extra={"provider": provider, "event": event.event_id, "type": event.type},
    )
    return record.result


# A payment page's events, each with the one state it reports. Recorded as the customer's
# return and the reconcile task record the session, whichever comes first.
CHECKOUT_EVENTS = {"checkout.session.completed": "complete", "checkout.session.expired": "expired"}


def _apply(provider: str, event: WebhookEvent) -> str:
    if event.type in CHECKOUT_EVENTS:
        return _apply_checkout(provider, event)
    # A card declined on the provider's payment page (payment_intent.payment_failed) finds no
    # payment here: the customer may still pay on that page with another card, and the page's
    # payment is known by its intent only once the page is complete.
    payment = _lock_payment(provider, event.reference)
    if payment is None:
        return "ignored: no payment with this reference"
    data = event.payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    obj = obj if isinstance(obj, dict) else {}
    if event.type == "payment_intent.canceled":
        if payment_void_reported_by_provider(payment, provider=provider, event_id=event.event_id):
            return "voided"
    elif event.type == "charge.refunded":
        cents = _whole_cents(obj.get("amount_refunded"))
        if cents is None:
            return (
                "ignored: amount_refunded is not a whole number of cents (a JSON integer, "
                "0 or more)"
            )
        refunded = Decimal(cents) / 100
        refund = refund_record_from_provider(
            payment,
            provider=provider,
            event_id=event.event_id,
            refunded_total=refunded,
            provider_reference=str(obj.get("id", "")),
        )
        return "already recorded" if refund is None else f"refund of {refund.amount} recorded"
    elif event.type == "payment_intent.payment_failed":
        error = obj.get("last_payment_error")
        error = error if isinstance(error, dict) else {}
        if payment_fail_reported_by_provider(
            payment,
            provider=provider,
            event_id=event.event_id,
            code=str(error.get("code") or "declined"),
            message=str(error.get("message") or "The card was declined."),
        ):
            return "failed"
    return "ignored: nothing to change"


def _apply_checkout(provider: str, event: WebhookEvent) -> str:
    data = event.payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    state = checkout_state(obj) if isinstance(obj, dict) else None
    if state is None:
        return "ignored: not a checkout session"
    if state.status != CHECKOUT_EVENTS[event.type]:
        return f"ignored: the session is {state.status}"
    return checkout_record(state, actor=provider, event_id=event.event_id)


def _whole_cents(value: Any) -> int | None:
    """Stripe's amounts are JSON integers in the smallest unit; a string of ASCII digits is
    taken too. None for anything else: a float, a bool, a negative number, other digits than
    0-9, or more digits than any amount has. An absent amount is 0."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


def _lock_payment(provider: str, reference: str) -> Payment | None:
    """The payment the event is about, locked after its order: the order services
    (cancellation above all) lock the order first, then its payments, and so does this, so a
    webhook racing a cancel waits for it instead of deadlocking."""
    if not reference:
        return None
    order_id = (
        Payment.objects.filter(provider=provider, provider_reference=reference)
        .values_list("order_id", flat=True)
        .first()
    )
    if order_id is None:
        return None
    order = lock_order(order_id)
    payment = (
        Payment.objects.select_for_update(of=("self",), no_key=True)
        .filter(provider=provider, provider_reference=reference, order_id=order_id)
        .first()
    )
    if payment is not None:
        payment.order = order
    return payment

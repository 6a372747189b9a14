"""Provider webhooks: verified, stored once by event id, applied in the same transaction, so
a replayed event changes nothing."""

import logging
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from orders import events
from orders.models import EventType
from payments.models import Payment, PaymentStatus, ProviderEvent, Refund, RefundStatus
from payments.providers.base import WebhookEvent
from payments.services import _apply_refund

logger = logging.getLogger(__name__)
P = PaymentStatus


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


def _apply(provider: str, event: WebhookEvent) -> str:
    payment = (
        Payment.objects.select_for_update(no_key=True)
        .select_related("order")
        .filter(provider=provider, provider_reference=event.reference)
        .first()
        if event.reference
        else None
    )
    if payment is None:
        return "ignored: no payment with this reference"
    data = event.payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    obj = obj if isinstance(obj, dict) else {}
    if event.type == "payment_intent.canceled" and payment.status == P.AUTHORIZED:
        payment.void()
        payment.save(update_fields=["status", "updated_at"])
        events.record(
            payment.order,
            EventType.PAYMENT_VOIDED,
            actor=provider,
            message="The authorisation was cancelled at the provider.",
            data={"payment": payment.pk, "event": event.event_id},
        )
        return "voided"
    if event.type == "charge.refunded":
        try:
            refunded = Decimal(int(obj.get("amount_refunded") or 0)) / 100
        except (TypeError, ValueError):
            return "ignored: amount_refunded is not a whole number of cents"
        missing = refunded - payment.amount_refunded - _pending_refunds(payment)
        if missing <= 0 or payment.status not in (P.CAPTURED, P.PARTIALLY_REFUNDED):
            return "already recorded"
        missing = min(missing, payment.refundable)
        refund = Refund.objects.create(
            payment=payment,
            amount=missing,
            reason="Refunded at the provider (dashboard)",
            status=RefundStatus.SUCCEEDED,
            idempotency_key=f"{provider}-{event.event_id}",
            provider_reference=str(obj.get("id", "")),
            completed_at=timezone.now(),
        )
        _apply_refund(payment, missing)
        events.publish(
            payment.order,
            "payment.refunded",
            {"amount": str(missing), "currency": payment.currency, "reason": refund.reason},
        )
        events.record(
            payment.order,
            EventType.REFUND_ISSUED,
            actor=provider,
            message=f"{missing} {payment.currency} refunded at the provider.",
            data={"refund": refund.pk, "event": event.event_id},
            customer_visible=True,
        )
        return f"refund of {missing} recorded"
    if event.type == "payment_intent.payment_failed" and payment.status == P.PENDING:
        error = obj.get("last_payment_error")
        error = error if isinstance(error, dict) else {}
        payment.fail()
        payment.failure_code = str(error.get("code") or "declined")
        payment.failure_message = str(error.get("message") or "The card was declined.")[:255]
        payment.save(update_fields=["status", "failure_code", "failure_message", "updated_at"])
        events.record(
            payment.order,
            EventType.PAYMENT_FAILED,
            actor=provider,
            message=f"The provider reports the payment failed: {payment.failure_message}",
            data={"payment": payment.pk, "event": event.event_id},
        )
        return "failed"
    return "ignored: nothing to change"


def _pending_refunds(payment: Payment) -> Decimal:
    return sum(
        (r.amount for r in payment.refunds.filter(status=RefundStatus.PENDING)), Decimal("0")
    )

"""Refunds of captured card payments: asked for here (staff, a cancellation, a return) and
sent to the provider, or made at the provider and reported by its webhook."""

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from orders import events
from orders.actors import acting_user, require_permission
from orders.models import EventType
from orders.notifications import queue_order_notification
from orders.services import lock_order
from payments.models import (
    OperationKind,
    OperationStatus,
    Payment,
    PaymentOperation,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from payments.providers.base import ProviderResult
from payments.services.inputs import PaymentRefused, parse_amount
from payments.services.operations import (
    call_after_commit,
    provider_operation,
)

P = PaymentStatus


def refund_create(
    *,
    payment_id: int,
    amount: Decimal | str,
    reason: str,
    actor: Any,
    idempotency_key: str,
    lines: list[dict] | None = None,
) -> Refund:
    """Refund part or all of a captured payment. Never more than captured minus refunded
    (checked under the payment's lock, and by a database constraint). The same key twice
    (a double click, a retried request) returns the first refund."""
    amount = parse_amount(amount)
    reason = reason.strip()
    errors: dict[str, list[str]] = {}
    if amount <= 0:
        errors["amount"] = ["The amount must be more than 0."]
    if not reason:
        errors["reason"] = ["Say why (the customer sees it)."]
    if not idempotency_key:
        errors["idempotency_key"] = ["Missing."]
    if errors:
        raise PaymentRefused("The refund is not valid.", fields=errors)
    with transaction.atomic():
        existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if existing.payment_id != payment_id:
                raise PaymentRefused(
                    "This request key was used for another refund; reload the page.",
                    fields={"idempotency_key": ["Already used."]},
                )
            return existing
        payment = Payment.objects.select_for_update(no_key=True).get(pk=payment_id)
        if payment.status not in (P.CAPTURED, P.PARTIALLY_REFUNDED):
            raise PaymentRefused(
                f"Only captured card payments can be refunded; this one is "
                f"{payment.get_status_display().lower()}.",
                fields={"amount": ["Nothing to refund."]},
            )
        available = payment.refundable - refunds_pending(payment)
        if amount > available:
            raise PaymentRefused(
                f"At most {available} {payment.currency} can be refunded.",
                fields={"amount": [f"At most {available}."]},
            )
        refund = Refund.objects.create(
            payment=payment,
            amount=amount,
            reason=reason[:255],
            lines=lines or [],
            idempotency_key=idempotency_key,
            created_by=acting_user(actor),
        )
        PaymentOperation.objects.create(
            payment=payment,
            kind=OperationKind.REFUND,
            amount=amount,
            refund=refund,
            idempotency_key=f"refund-{refund.pk}",
        )
        call_after_commit(refund_execute, refund_id=refund.pk)
    return refund


def cancel_refund_key(payment: Payment) -> str:
    """The idempotency key of the refund a cancellation makes of a payment: the cancel itself
    and a capture that lands after it both ask with it, so the money goes back once."""
    return f"cancel-{payment.order_id}-payment-{payment.pk}"


def refunds_pending(payment: Payment) -> Decimal:
    """What is asked for but not yet confirmed by the provider: it cannot be refunded twice."""
    pending = payment.refunds.filter(status=RefundStatus.PENDING).aggregate(s=Sum("amount"))
    return pending["s"] or Decimal("0")


def refund_execute(*, refund_id: int) -> Refund:
    """Send (or send again) a pending refund to the provider and record its answer."""
    refund = Refund.objects.select_related("operation").get(pk=refund_id)
    recorded = provider_operation(
        payment_id=refund.payment_id,
        kind=OperationKind.REFUND,
        key=refund.operation.idempotency_key,
        amount=refund.amount,
        refund=refund,
        send=lambda provider, payment, operation: provider.refund(
            reference=payment.provider_reference,
            amount=operation.amount,
            currency=payment.currency,
            idempotency_key=operation.idempotency_key,
        ),
        record=lambda payment, result: _record_refund(payment, result, refund_id=refund_id),
    )
    return refund if recorded is None else recorded


def _record_refund(
    payment: Payment, result: ProviderResult, *, refund_id: int, actor: Any = "payments"
) -> Refund:
    refund = Refund.objects.select_for_update(no_key=True).get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    refund.completed_at = timezone.now()
    refund.provider_reference = result.reference
    if not result.success:
        refund.status = RefundStatus.FAILED
        refund.save(update_fields=["status", "completed_at", "provider_reference"])
        events.record(
            payment.order,
            EventType.REFUND_FAILED,
            actor=actor,
            message=f"Refund of {refund.amount} refused: {result.message} ({result.code}).",
            data={"refund": refund.pk},
        )
        return refund
    refund.status = RefundStatus.SUCCEEDED
    refund.save(update_fields=["status", "completed_at", "provider_reference"])
    _refund_applied(
        payment,
        refund,
        actor=refund.created_by or "payments",
        timeline=f"{refund.amount} {payment.currency} refunded: {refund.reason}",
        data={"refund": refund.pk, "payment": payment.pk},
    )
    queue_order_notification(
        payment.order,
        "refund_issued",
        reference=str(refund.pk),
        amount=str(refund.amount),
        reason=refund.reason,
    )
    return refund


def refund_settle_by_hand(*, refund_id: int, paid_out: bool, actor: Any) -> Refund:
    """Finance has checked with the provider a refund whose call was never answered: it was
    paid out (recorded like a provider's yes: money, timeline, the customer's email) or not
    (it fails, and its amount can be refunded again)."""
    require_permission(actor, "payments.refund_payment", "settle refunds", refused=PaymentRefused)
    with transaction.atomic():
        refund = Refund.objects.select_related("payment").filter(pk=refund_id).first()
        if refund is None:
            raise PaymentRefused(f"There is no refund {refund_id}.")
        # The order, then the payment, then the refund: the provider calls' lock order.
        lock_order(refund.payment.order_id)
        payment = (
            Payment.objects.select_for_update(of=("self",), no_key=True)
            .select_related("order")
            .get(pk=refund.payment_id)
        )
        operation = PaymentOperation.objects.filter(refund_id=refund_id).first()
        if refund.status != RefundStatus.PENDING:
            raise PaymentRefused(f"The refund is {refund.get_status_display().lower()} already.")
        if operation is None or operation.status != OperationStatus.FAILED:
            raise PaymentRefused(
                "The refund is still being sent to the provider; it settles by itself."
            )
        checked = "checked with the provider by Finance"
        return _record_refund(
            payment,
            ProviderResult(
                success=paid_out,
                reference=operation.provider_reference,
                code="checked_by_hand",
                message=checked,
            ),
            refund_id=refund_id,
            actor=actor,
        )


def refund_record_from_provider(
    payment: Payment,
    *,
    provider: str,
    event_id: str,
    refunded_total: Decimal,
    provider_reference: str,
) -> Refund | None:
    """A provider's webhook says `refunded_total` of the payment is refunded in all (a
    refund made in its dashboard, say): record what this app does not know of yet. The
    caller holds the order locked, then the payment. None when nothing is missing."""
    missing = refunded_total - payment.amount_refunded - refunds_pending(payment)
    if missing <= 0 or payment.status not in (P.CAPTURED, P.PARTIALLY_REFUNDED):
        return None
    missing = min(missing, payment.refundable)
    refund = Refund.objects.create(
        payment=payment,
        amount=missing,
        reason="Refunded at the provider (dashboard)",
        status=RefundStatus.SUCCEEDED,
        idempotency_key=f"{provider}-{event_id}",
        provider_reference=provider_reference,
        completed_at=timezone.now(),
    )
    _refund_applied(
        payment,
        refund,
        actor=provider,
        timeline=f"{missing} {payment.currency} refunded at the provider.",
        data={"refund": refund.pk, "event": event_id},
    )
    return refund


def _refund_applied(
    payment: Payment, refund: Refund, *, actor: Any, timeline: str, data: dict[str, Any]
) -> None:
    """A refund the provider made: counted on the payment, published, on the timeline."""
    Payment.objects.filter(pk=payment.pk).update(
        amount_refunded=F("amount_refunded") + refund.amount
    )
    payment.amount_refunded += refund.amount
    if payment.amount_refunded >= payment.amount_captured:
        payment.refund_all()
    else:
        payment.refund_part()
    payment.save(update_fields=["status", "updated_at"])
    events.publish(
        payment.order,
        "payment.refunded",
        {"amount": str(refund.amount), "currency": payment.currency, "reason": refund.reason},
    )
    events.record(
        payment.order,
        EventType.REFUND_ISSUED,
        actor=actor,
        message=timeline,
        data=data,
        customer_visible=True,
    )

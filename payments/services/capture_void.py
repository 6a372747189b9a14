"""Capture: take the authorised money. Void: give an authorisation back to the card."""

from typing import Any

from orders import events
from orders.models import EventType, HoldReason, OrderStatus
from orders.notifications import queue_order_notification
from orders.services import order_hold
from payments.models import OperationKind, Payment, PaymentOperation, PaymentStatus
from payments.providers.base import ProviderResult
from payments.services.declines import (
    order_hold_for_payment,
    payment_ask_to_pay_again,
    payment_record_decline,
)
from payments.services.invoices import invoice_issue_for_captured_card
from payments.services.operations import (
    call_after_commit,
    payment_operation_key,
    provider_operation,
)
from payments.services.refunds import cancel_refund_key, refund_create

P = PaymentStatus


def payment_capture(*, payment_id: int, actor: Any) -> Payment:
    """Take the authorised money. Safe to repeat: a captured payment is left alone, and the
    provider sees one request per payment (the key is fixed)."""
    outcome = provider_operation(
        payment_id=payment_id,
        kind=OperationKind.CAPTURE,
        send=lambda provider, payment, operation: provider.capture(
            reference=payment.provider_reference,
            amount=operation.amount,
            currency=payment.currency,
            idempotency_key=operation.idempotency_key,
        ),
        record=lambda payment, result: _record_capture(payment, result, actor=actor),
    )
    if outcome is None:
        return Payment.objects.get(pk=payment_id)
    payment, hold_order = outcome
    if hold_order:
        order_hold(
            order_id=payment.order_id,
            actor="payments",
            reason=HoldReason.PAYMENT_FAILED,
            note="The payment could not be captured; the customer was sent a link to pay again.",
        )
    return payment


def _record_capture(
    payment: Payment, result: ProviderResult, *, actor: Any
) -> tuple[Payment, bool]:
    """The payment, and whether its confirmed order must now be held for payment."""
    if payment.status != P.AUTHORIZED:
        return payment, False
    order = payment.order
    if not result.success:
        # The authorisation lapsed or was refused at capture: ask the customer again.
        payment_record_decline(
            payment,
            code=result.code,
            message=result.message,
            actor=actor,
            timeline=f"Capture refused: {result.message} ({result.code}).",
            data={"payment": payment.pk},
        )
        return payment, order.status == OrderStatus.CONFIRMED
    payment.capture()
    payment.amount_captured = payment.amount
    payment.save(update_fields=["status", "amount_captured", "updated_at"])
    if order.status == OrderStatus.CANCELLED:
        # Cancelled while the capture was under way: the money goes straight back.
        events.record(
            order,
            EventType.PAYMENT_CAPTURED,
            actor=actor,
            message=f"{payment.amount} {payment.currency} captured after the order was "
            "cancelled; refunding it.",
            data={"payment": payment.pk},
        )
        refund_create(
            payment_id=payment.pk,
            amount=payment.amount,
            reason="Order cancelled",
            actor="payments",
            idempotency_key=cancel_refund_key(payment),
        )
        return payment, False
    events.publish(
        order, "payment.captured", {"amount": str(payment.amount), "currency": payment.currency}
    )
    events.record(
        order,
        EventType.PAYMENT_CAPTURED,
        actor=actor,
        message=f"{payment.amount} {payment.currency} captured.",
        data={"payment": payment.pk},
        customer_visible=True,
    )
    # The money is taken: the order's invoice, paid (none for an order cancelled meanwhile,
    # above, whose money goes straight back). The receipt links to it.
    invoice = invoice_issue_for_captured_card(payment)
    queue_order_notification(
        order, "payment_receipt", reference=str(payment.pk), invoice_number=invoice.number
    )
    return payment, False


def payment_void(*, payment_id: int, actor: Any) -> Payment:
    """Give back an authorisation that will not be captured."""
    payment = provider_operation(
        payment_id=payment_id,
        kind=OperationKind.VOID,
        send=lambda provider, payment, operation: provider.void(
            reference=payment.provider_reference, idempotency_key=operation.idempotency_key
        ),
        record=lambda payment, result: _record_void(payment, result, actor=actor),
    )
    return payment or Payment.objects.get(pk=payment_id)


def _record_void(payment: Payment, result: ProviderResult, *, actor: Any) -> Payment:
    if result.success:
        _voided(
            payment,
            actor=actor,
            timeline=f"Authorisation of {payment.amount} {payment.currency} voided.",
            data={"payment": payment.pk},
            customer_visible=True,
        )
    return payment


def _voided(
    payment: Payment,
    *,
    actor: Any,
    timeline: str,
    data: dict[str, Any],
    customer_visible: bool = False,
) -> None:
    """The provider gave the authorisation back: the payment is voided (unless it was
    already, by a cancellation before the authorisation came back) and the timeline says so."""
    if payment.status == P.AUTHORIZED:
        payment.void()
        payment.save(update_fields=["status", "updated_at"])
    events.record(
        payment.order,
        EventType.PAYMENT_VOIDED,
        actor=actor,
        message=timeline,
        data=data,
        customer_visible=customer_visible,
    )


def void_queue(payment: Payment, *, reference: str = "") -> None:
    """Write the void for a payment the caller holds locked; it is sent after the commit
    (and by `reconcile` if that send fails). `reference` is the authorisation to give back
    when the payment has not recorded one."""
    if reference and not payment.provider_reference:
        Payment.objects.filter(pk=payment.pk).update(provider_reference=reference)
    PaymentOperation.objects.get_or_create(
        idempotency_key=payment_operation_key(payment.pk, OperationKind.VOID),
        defaults={"payment": payment, "kind": OperationKind.VOID, "amount": payment.amount},
    )
    call_after_commit(payment_void, payment_id=payment.pk, actor="payments")


def payment_void_reported_by_provider(payment: Payment, *, provider: str, event_id: str) -> bool:
    """A provider's webhook says the authorisation was cancelled there. The caller holds the
    order locked, then the payment. False when it is not authorised, so nothing changes.

    An order that still needs paying then (its payment not secured, no other payment
    covering it) is treated as after a decline: the customer is emailed the link to pay
    again, and a confirmed or held order is held for payment (a received one is left to the
    review, whose payment check now fails), so nothing can confirm it unpaid, and paying
    again lets it go on by itself."""
    if payment.status != P.AUTHORIZED:
        return False
    _voided(
        payment,
        actor=provider,
        timeline="The authorisation was cancelled at the provider.",
        data={"payment": payment.pk, "event": event_id},
    )
    payment_ask_to_pay_again(payment, reason="The authorisation on your card was cancelled.")
    order_hold_for_payment(
        payment.order,
        note="The provider cancelled the card authorisation; the customer was sent a link to "
        "pay again.",
    )
    return True

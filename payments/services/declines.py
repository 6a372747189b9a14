"""A payment the provider refused, at authorisation, at capture, or in a webhook: the payment
fails, the timeline says why, and the customer is sent a link to pay again."""

from typing import Any

from django_fsm import can_proceed

from orders import events
from orders.models import EventType, HoldReason, Order
from orders.notifications import queue_order_notification
from orders.services import order_hold
from payments.models import Payment, PaymentStatus
from payments.services.operations import call_after_commit
from payments.services.pay_links import pay_link_url


def payment_record_decline(
    payment: Payment,
    *,
    code: str,
    message: str,
    actor: Any,
    timeline: str,
    data: dict[str, Any],
    customer_visible: bool = False,
) -> None:
    """Fail a payment the caller holds locked (with its order). `timeline` is the event's
    text; the customer's email (one per payment, however often this runs) gives `message`."""
    payment.fail()
    payment.failure_code = code
    payment.failure_message = message[:255]
    payment.save(update_fields=["status", "failure_code", "failure_message", "updated_at"])
    order = payment.order
    events.record(
        order,
        EventType.PAYMENT_FAILED,
        actor=actor,
        message=timeline,
        data=data,
        customer_visible=customer_visible,
    )
    queue_order_notification(
        order,
        "payment_failed",
        reference=str(payment.pk),
        pay_url=pay_link_url(order),
        reason=message,
    )


def payment_fail_reported_by_provider(
    payment: Payment, *, provider: str, event_id: str, code: str, message: str
) -> bool:
    """A provider's webhook says the payment failed: record it (the caller holds the payment
    locked, with its order) and hold the order for payment. False when the payment is no
    longer pending, so there is nothing to change."""
    if payment.status != PaymentStatus.PENDING:
        return False
    payment_record_decline(
        payment,
        code=code,
        message=message,
        actor=provider,
        timeline=f"The provider reports the payment failed: {message[:255]}",
        data={"payment": payment.pk, "event": event_id},
    )
    # After the commit: holding locks the order, which must not wait behind the payment
    # lock taken here (a cancellation locks the order first, then its payments).
    call_after_commit(_hold_for_payment, order_id=payment.order_id)
    return True


def _hold_for_payment(*, order_id: int) -> None:
    """Hold the order for payment when its state can be held; a cancelled, shipped or
    already held order is left as it is."""
    order = Order.objects.get(pk=order_id)
    if can_proceed(order.hold):
        order_hold(
            order_id=order_id,
            actor="payments",
            reason=HoldReason.PAYMENT_FAILED,
            note="The provider reports the payment failed; the customer was sent a link to "
            "pay again.",
        )

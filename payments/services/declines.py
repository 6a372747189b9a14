"""A payment the provider refused, at authorisation, at capture, or in a webhook: the payment
fails, the timeline says why, and the customer is sent a link to pay again."""

from typing import Any

from orders import events
from orders.models import EventType, HoldReason, Order, OrderStatus
from orders.notifications import queue_order_notification
from orders.services import order_hold
from payments.models import Payment, PaymentStatus
from payments.selectors import order_needs_payment
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
    ask_to_pay_again: bool = True,
) -> None:
    """Fail a payment the caller holds locked (the order first, then the payment). `timeline`
    is the event's text; the customer's email (one per payment, however often this runs, and
    none when another payment covers the order, or `ask_to_pay_again` is false) gives
    `message`."""
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
    if ask_to_pay_again:
        payment_ask_to_pay_again(payment, reason=message)


def payment_ask_to_pay_again(payment: Payment, *, reason: str) -> None:
    """Email the customer (once per payment) that `payment` did not go through, with the
    link to pay again; nothing when another payment covers the order, or it needs none."""
    order = payment.order
    if not order_needs_payment(order):
        return  # another payment covers the order: nothing to ask the customer
    queue_order_notification(
        order,
        "payment_failed",
        reference=str(payment.pk),
        pay_url=pay_link_url(order),
        reason=reason,
    )


def payment_fail_reported_by_provider(
    payment: Payment, *, provider: str, event_id: str, code: str, message: str
) -> bool:
    """A provider's webhook says the payment failed: record it, and hold the order for
    payment when review has passed it. The caller holds the order locked, then the payment
    (the order services' lock order). False when the payment is no longer pending, so there
    is nothing to change."""
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
    order_hold_for_payment(
        payment.order,
        note="The provider reports the payment failed; the customer was sent a link to pay again.",
    )
    return True


def order_hold_for_payment(order: Order, *, note: str) -> None:
    """Hold a confirmed order for payment (as a refused capture does), or add the reason to
    one already held. A received order is left to the review: its payment check sees the
    failed payment and holds the order after the other checks have run, so paying again
    cannot release it past checks that never ran. An order another payment already covers
    (the customer paid again meanwhile) is not held at all."""
    if not order_needs_payment(order):
        return
    if order.status == OrderStatus.ON_HOLD:
        if order.holds.filter(released_at__isnull=True, reason=HoldReason.PAYMENT_FAILED).exists():
            return
    elif order.status != OrderStatus.CONFIRMED:
        return
    order_hold(order_id=order.pk, actor="payments", reason=HoldReason.PAYMENT_FAILED, note=note)

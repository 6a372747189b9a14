"""The payments phase's part in the order's lifecycle: record how an order is paid when it
is placed, release no held order to `confirmed` until something pays for it, secure the
payment once it is confirmed, and void or refund it on cancel."""

import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from orders import events
from orders.broker import enqueue
from orders.models import EventType, HoldReason, Order, OrderStatus
from orders.notifications import queue_order_notification
from orders.services import order_secure_payment
from payments.models import (
    PAID_OR_PROMISED,
    CheckoutSession,
    CheckoutStatus,
    Invoice,
    Payment,
    PaymentMethod,
    PaymentStatus,
    Provider,
)
from payments.providers.base import InvalidPaymentDetails
from payments.review import payment_secured
from payments.selectors import credit_account_for, order_payments_in_play
from payments.services.authorisation import card_payment_create, payment_authorize
from payments.services.capture_void import payment_capture, void_queue
from payments.services.hosted_checkout import checkout_close, hosted_payment_create
from payments.services.inputs import PaymentInput, PaymentNotSecured
from payments.services.invoices import invoice_issue
from payments.services.operations import call_after_commit
from payments.services.pay_links import pay_link_url
from payments.services.refunds import cancel_refund_key, refund_create, refunds_pending

logger = logging.getLogger(__name__)

P = PaymentStatus


def payment_prepare_for_order(*, order: Order, payment: PaymentInput | None, actor: Any) -> None:
    """The `placing` moment: record how the order will be paid, inside the placement's
    transaction. A card is authorised right after the commit (before review)."""
    if order.grand_total == 0:
        return
    if payment is None:
        if credit_account_for(order) is None:
            # Nothing to charge yet (a phone order, say): ask the customer to pay by link.
            queue_order_notification(order, "payment_requested", pay_url=pay_link_url(order))
            return
        payment = PaymentInput(method=PaymentMethod.INVOICE)
    if payment.method == PaymentMethod.INVOICE:
        if credit_account_for(order) is None:
            raise InvalidPaymentDetails(
                "Invoice terms are not set up for this customer.",
                fields={"payment": ["Pay by card, or ask us to open an account."]},
            )
        Payment.objects.create(
            order=order,
            method=PaymentMethod.INVOICE,
            provider=Provider.INVOICE,
            amount=order.grand_total,
            currency=order.currency,
        )
        return
    if payment.method == PaymentMethod.CARD and payment.hosted:
        # Paid on the provider's page, where the customer is sent once the order is placed.
        hosted_payment_create(order)
        return
    if payment.method != PaymentMethod.CARD or payment.card is None:
        raise InvalidPaymentDetails(
            "Choose a payment method: card or invoice.",
            fields={"payment": ["Unknown payment method."]},
        )
    created = card_payment_create(order, payment.card)
    call_after_commit(payment_authorize, payment_id=created.pk)


def payment_on_order_releasing(*, order: Order, reasons: Sequence[str]) -> None:
    """The `releasing` moment: a release that would leave the order `confirmed` (it was held
    before its payment was secured) goes through only once a payment covers it (a card
    authorised or captured, or invoice terms Finance granted, within the credit limit): the
    review's payment check must pass now, whatever the order is held for. Otherwise nobody,
    whatever their permissions, can confirm an order that nothing pays for. An order going
    back to the review is left to the review's own payment check; one held after its payment
    was secured (ready or later) has nothing to check."""
    if order.release_target() != OrderStatus.CONFIRMED:
        return
    check = payment_secured(order)
    if check.passed:
        return
    held_for_payment = HoldReason.PAYMENT_FAILED in reasons
    headline = (
        f"Order {order.number} is held for payment and cannot be released until it is paid:"
        if held_for_payment
        else f"Order {order.number} cannot be released until it is paid:"
    )
    raise PaymentNotSecured(
        f"{headline} {check.message} {_release_way_out(order, reasons)}",
        fields={"hold": ["The payment is not authorised, captured or on invoice terms."]},
    )


def _release_way_out(order: Order, reasons: Sequence[str]) -> str:
    """What to do about a release refused for want of payment."""
    on_invoice = order.payments.filter(method=PaymentMethod.INVOICE).exclude(status=P.VOIDED)
    if on_invoice.exists():
        return (
            "Finance can reactivate the invoice terms or raise the credit limit under "
            "Payments → Credit accounts; then release it again."
        )
    if set(reasons) == {HoldReason.PAYMENT_FAILED}:
        return (
            "It goes on by itself once the customer pays with the link we emailed them, "
            "or Finance takes the payment."
        )
    return (
        "Release it again once the customer has paid with the link we emailed them, "
        "or Finance has taken the payment."
    )


def payment_on_order_confirmed(*, order: Order, actor: Any) -> None:
    """The `confirmed` moment: secure the payment after the commit."""
    from payments.tasks import secure_order_payment

    def secure_later() -> None:
        enqueue(secure_order_payment, order.pk, later_by="payment reconcile", order=order.number)

    transaction.on_commit(secure_later, robust=True)


def payment_collect_for_order(*, order_id: int) -> Order:
    """Capture the card, or issue the invoice, then secure the order's payment (which
    releases it to the warehouse). A confirmed order only; safe to repeat."""
    order = Order.objects.get(pk=order_id)
    if order.status != OrderStatus.CONFIRMED:
        return order
    if order.grand_total == 0:
        return order_secure_payment(order_id=order.pk, actor="payments", message="Nothing to pay.")
    # What pays for the order (a card authorised or captured, an invoice), newest first,
    # else an invoice still to issue. Not merely the newest payment: a newer card still
    # pending (a second payment page, a second try) must not hide an older card that is
    # authorised, and a card being given back is never captured.
    in_play = order_payments_in_play(order)
    payment = next((p for p in in_play if p.status in PAID_OR_PROMISED), None) or next(
        (p for p in in_play if p.method == PaymentMethod.INVOICE and p.status == P.PENDING),
        None,
    )
    if payment is None:
        return order
    if payment.method == PaymentMethod.INVOICE and payment.status == P.PENDING:
        payment = invoice_issue(payment_id=payment.pk)
    elif payment.status == P.AUTHORIZED:
        payment = payment_capture(payment_id=payment.pk, actor="payments")
    if payment.status in (P.CAPTURED, P.INVOICED, P.PAID, P.OVERDUE):
        how = "invoice terms" if payment.method == PaymentMethod.INVOICE else "card captured"
        return order_secure_payment(
            order_id=order.pk, actor="payments", message=f"Payment secured ({how})."
        )
    return Order.objects.get(pk=order_id)


def payment_capture_and_secure(*, payment_id: int, actor: Any) -> Payment:
    """Finance captures an authorised payment by hand; once it is captured, the order's
    payment is secured as the automatic collection would have done."""
    payment = payment_capture(payment_id=payment_id, actor=actor)
    if payment.status == P.CAPTURED:
        payment_collect_for_order(order_id=payment.order_id)
    return payment


def payment_on_order_cancelled(*, order: Order, actor: Any) -> None:
    """The `cancelled` moment: void what is authorised, refund what is captured, cancel the
    invoice. Written in the cancellation's transaction, carried out after it."""
    for payment in order.payments.select_for_update(no_key=True).order_by("pk"):
        if payment.status == P.PENDING:
            payment.void_unsent()
            payment.save(update_fields=["status", "updated_at"])
            open_page = CheckoutSession.objects.filter(payment=payment, status=CheckoutStatus.OPEN)
            for checkout_id in open_page.values_list("pk", flat=True):
                # Nobody should pay on its page any more.
                call_after_commit(checkout_close, checkout_id=checkout_id)
        elif payment.status == P.AUTHORIZED:
            void_queue(payment)
        elif payment.status in (P.CAPTURED, P.PARTIALLY_REFUNDED):
            remaining = payment.refundable - refunds_pending(payment)
            if remaining > 0:
                refund_create(
                    payment_id=payment.pk,
                    amount=remaining,
                    reason="Order cancelled",
                    actor=actor,
                    idempotency_key=cancel_refund_key(payment),
                )
        elif payment.status == P.PAID:
            events.record(
                order,
                EventType.PAYMENT_VOIDED,
                actor=actor,
                message=f"The invoice was paid in full ({payment.amount_captured} "
                f"{payment.currency}): Finance must pay it back by transfer.",
                data={"payment": payment.pk, "refund_due": str(payment.amount_captured)},
            )
        elif payment.status in (P.INVOICED, P.OVERDUE):
            _cancel_invoice(order, payment, actor=actor)


def _cancel_invoice(order: Order, payment: Payment, *, actor: Any) -> None:
    invoice = Invoice.objects.filter(payment=payment).first()
    payment.cancel_invoice()
    payment.save(update_fields=["status", "updated_at"])
    message = f"Invoice {invoice.number if invoice else ''} cancelled."
    if payment.amount_captured:
        message += (
            f" {payment.amount_captured} {payment.currency} already received must be "
            "paid back by transfer."
        )
    events.record(order, EventType.PAYMENT_VOIDED, actor=actor, message=message)

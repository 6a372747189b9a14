"""Invoices. On invoice terms the invoice is issued when the order is secured, Finance
records what is received against it, and an invoice past its due date is flagged once with a
reminder. A card payment gets its invoice, already paid, when the money is captured. Both
take their numbers from the one gapless sequence (payments.invoices.next_invoice_number)."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from orders import events
from orders.actors import acting_user
from orders.models import EventType, Order
from orders.notifications import queue_notification, queue_order_notification
from payments.invoices import next_invoice_number
from payments.models import Invoice, InvoicePayment, Payment, PaymentMethod, PaymentStatus
from payments.selectors import credit_account_for
from payments.services.inputs import PaymentRefused, parse_amount

P = PaymentStatus


def invoice_issue(*, payment_id: int) -> Payment:
    """Issue the invoice for an order on terms: number, due date, PDF by email."""
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update(of=("self",), no_key=True)
            .select_related("order")
            .get(pk=payment_id)
        )
        if payment.status != P.PENDING or payment.method != PaymentMethod.INVOICE:
            return payment
        order = payment.order
        account = credit_account_for(order)
        terms = account.terms_days if account else 30
        today = timezone.localdate()
        invoice = Invoice.objects.create(
            payment=payment,
            number=next_invoice_number(today.year),
            due_date=today + timedelta(days=terms),
            amount=payment.amount,
            currency=payment.currency,
        )
        payment.invoice()
        payment.provider_reference = invoice.number
        payment.save(update_fields=["status", "provider_reference", "updated_at"])
        events.record(
            order,
            EventType.INVOICE_ISSUED,
            actor="payments",
            message=f"Invoice {invoice.number} issued: {invoice.amount} {invoice.currency}, "
            f"due {invoice.due_date:%d %b %Y} (net {terms}).",
            data={"invoice": invoice.pk},
            customer_visible=True,
        )
        _queue_invoice_mail(order, "invoice_issued", invoice)
    return payment


def invoice_issue_for_captured_card(payment: Payment) -> Invoice:
    """The invoice of a card payment just captured, paid in full (no due date), in the same
    number sequence as invoices on terms. The caller holds the order and then the payment
    locked, in the transaction that records the capture: a capture that rolls back takes its
    number back with it. A payment that has its invoice already keeps it (a capture recorded
    again by reconcile or a retried task issues no second one)."""
    existing = Invoice.objects.filter(payment=payment).first()
    if existing is not None:
        return existing
    invoice = Invoice.objects.create(
        payment=payment,
        number=next_invoice_number(timezone.localdate().year),
        due_date=None,
        amount=payment.amount_captured,
        paid_amount=payment.amount_captured,
        currency=payment.currency,
    )
    events.record(
        payment.order,
        EventType.INVOICE_ISSUED,
        actor="payments",
        message=f"Invoice {invoice.number} issued: {invoice.amount} {invoice.currency}, "
        "paid by card.",
        data={"invoice": invoice.pk},
        customer_visible=True,
    )
    return invoice


def _queue_invoice_mail(order: Order, kind: str, invoice: Invoice) -> None:
    """Invoices go to whoever pays: the bill-to account (a partner) or the customer."""
    context = {
        "invoice_id": invoice.pk,
        "attachments": [
            {"builder": "payments.invoices.invoice_attachment", "invoice_id": invoice.pk}
        ],
    }
    if order.bill_to_id:
        queue_notification(
            order=order,
            kind=kind,
            recipient=order.bill_to.email,
            reference=invoice.number,
            context=context,
        )
    else:
        queue_order_notification(order, kind, reference=invoice.number, **context)


def invoice_record_payment(
    *,
    invoice_id: int,
    amount: Decimal | str,
    actor: Any,
    reference: str = "",
    received_on: Any = None,
) -> Invoice:
    """Finance records money received against an invoice, in full or in part."""
    amount = parse_amount(amount)
    with transaction.atomic():
        invoice, payment = _lock_invoice(invoice_id)
        if payment.status not in (P.INVOICED, P.OVERDUE):
            raise PaymentRefused(
                f"Invoice {invoice.number} is {payment.get_status_display().lower()}; "
                "nothing is owed on it.",
                fields={"amount": ["Nothing owed."]},
            )
        if amount <= 0 or amount > invoice.balance:
            raise PaymentRefused(
                f"Enter an amount between 0.01 and the balance, {invoice.balance}.",
                fields={"amount": [f"At most {invoice.balance}."]},
            )
        InvoicePayment.objects.create(
            invoice=invoice,
            amount=amount,
            reference=reference.strip()[:128],
            received_on=received_on or timezone.localdate(),
            recorded_by=acting_user(actor),
        )
        invoice.paid_amount += amount
        invoice.save(update_fields=["paid_amount"])
        payment.amount_captured += amount
        fields = ["amount_captured", "updated_at"]
        if invoice.balance == 0:
            payment.mark_paid()
            fields.append("status")
        payment.save(update_fields=fields)
        events.record(
            payment.order,
            EventType.INVOICE_PAID,
            actor=actor,
            message=f"{amount} {invoice.currency} received for {invoice.number}"
            + (" (paid in full)." if invoice.balance == 0 else f"; {invoice.balance} still due."),
            data={"invoice": invoice.pk, "reference": reference},
        )
    return invoice


def invoice_flag_overdue(*, invoice_id: int) -> bool:
    """Mark one invoice overdue and send the customer one reminder."""
    with transaction.atomic():
        invoice, payment = _lock_invoice(invoice_id)
        if payment.status != P.INVOICED or invoice.due_date >= timezone.localdate():
            return False
        payment.mark_overdue()
        payment.save(update_fields=["status", "updated_at"])
        invoice.reminder_sent_at = timezone.now()
        invoice.save(update_fields=["reminder_sent_at"])
        events.record(
            payment.order,
            EventType.INVOICE_OVERDUE,
            actor="payments",
            message=f"Invoice {invoice.number} is overdue ({invoice.balance} "
            f"{invoice.currency} due {invoice.due_date:%d %b %Y}); reminder sent.",
            data={"invoice": invoice.pk},
        )
        _queue_invoice_mail(payment.order, "invoice_reminder", invoice)
    return True


def _lock_invoice(invoice_id: int) -> tuple[Invoice, Payment]:
    """The invoice and its payment (with the order), locked in that order."""
    invoice = Invoice.objects.select_for_update(no_key=True).get(pk=invoice_id)
    payment = (
        Payment.objects.select_for_update(of=("self",), no_key=True)
        .select_related("order")
        .get(pk=invoice.payment_id)
    )
    return invoice, payment

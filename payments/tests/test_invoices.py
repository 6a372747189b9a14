"""Invoice terms: credit limits in review, the invoice PDF, payments received, overdue."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from orders.models import EventType, HoldReason, Order, OrderStatus
from orders.tests.factories import place_order
from payments import services, tasks
from payments.invoices import invoice_pdf, next_invoice_number
from payments.models import Invoice, Payment, PaymentStatus
from payments.providers.base import InvalidPaymentDetails
from payments.services import PaymentInput, PaymentRefused
from payments.tests.pdf_text import pdf_text

pytestmark = pytest.mark.django_db
P = PaymentStatus
INVOICE = PaymentInput(method="invoice")


def _invoice_order(capture, lines=None) -> Order:
    with capture(execute=True):
        order = place_order(
            lines or [("MUG-001", 10)], email="buyer@acme.example", payment=INVOICE
        ).order
    return Order.objects.prefetch_related("holds").get(pk=order.pk)


def test_an_invoice_order_goes_straight_to_the_warehouse(
    catalogue, business, django_capture_on_commit_callbacks
):
    order = _invoice_order(django_capture_on_commit_callbacks)
    assert order.status == OrderStatus.READY
    payment = Payment.objects.get(order=order)
    invoice = Invoice.objects.get(payment=payment)
    assert payment.status == P.INVOICED
    assert invoice.number == f"INV-{timezone.localdate().year}-000001"
    assert invoice.due_date == timezone.localdate() + timedelta(days=30)
    assert invoice.amount == order.grand_total == Decimal("105.00")
    message = next(m for m in mail.outbox if m.subject.startswith("Invoice for order"))
    (filename, content, mimetype) = message.attachments[0]
    assert (filename, mimetype) == (f"{invoice.number}.pdf", "application/pdf")
    text = pdf_text(content)
    assert invoice.number in text
    assert "105.00" in text
    assert order.events.filter(type=EventType.INVOICE_ISSUED, customer_visible=True).exists()


def test_the_pdf_has_the_number_lines_and_total(
    catalogue, business, django_capture_on_commit_callbacks
):
    order = _invoice_order(django_capture_on_commit_callbacks, [("MUG-001", 3), ("TEE-001", 2)])
    invoice = Invoice.objects.get(payment__order=order)
    text = pdf_text(invoice_pdf(invoice))
    for expected in (invoice.number, "MUG-001", "TEE-001", order.number, "75.00 EUR"):
        assert expected in text, expected


def test_over_the_credit_limit_the_order_is_held(
    catalogue, business, django_capture_on_commit_callbacks
):
    # the limit is 500: 300 open, then 300 more
    first = _invoice_order(django_capture_on_commit_callbacks, [("MUG-001", 29)])  # 295.00
    assert first.status == OrderStatus.READY
    second = _invoice_order(django_capture_on_commit_callbacks, [("MUG-001", 21)])  # 215.00
    assert second.status == OrderStatus.ON_HOLD
    assert second.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    check = second.events.get(type=EventType.REVIEW_CHECK, data__check="payment")
    assert "Over the credit limit" in check.message
    assert not Invoice.objects.filter(payment__order=second).exists()


def test_invoice_terms_need_an_account(catalogue):
    with pytest.raises(InvalidPaymentDetails, match="Invoice terms are not set up"):
        place_order(email="nobody@example.com", payment=INVOICE)
    assert not Order.objects.exists()


def test_invoice_numbers_have_no_gaps():
    year = timezone.localdate().year
    assert [next_invoice_number(year) for _ in range(3)] == [
        f"INV-{year}-000001",
        f"INV-{year}-000002",
        f"INV-{year}-000003",
    ]
    assert next_invoice_number(year + 1) == f"INV-{year + 1}-000001"


def test_finance_records_partial_then_full_payment(
    catalogue, business, django_capture_on_commit_callbacks
):
    order = _invoice_order(django_capture_on_commit_callbacks)
    invoice = Invoice.objects.get(payment__order=order)
    services.invoice_record_payment(
        invoice_id=invoice.pk, amount="100", actor="finance", reference="TX1"
    )
    invoice.refresh_from_db()
    assert invoice.balance == Decimal("5.00")
    assert Payment.objects.get(order=order).status == P.INVOICED
    with pytest.raises(PaymentRefused, match=r"5\.00"):
        services.invoice_record_payment(invoice_id=invoice.pk, amount="6", actor="finance")
    services.invoice_record_payment(
        invoice_id=invoice.pk, amount="5", actor="finance", reference="TX2"
    )
    payment = Payment.objects.get(order=order)
    assert payment.status == P.PAID
    assert payment.amount_captured == Decimal("105.00")
    with pytest.raises(PaymentRefused, match="nothing is owed"):
        services.invoice_record_payment(invoice_id=invoice.pk, amount="1", actor="finance")
    assert order.events.filter(type=EventType.INVOICE_PAID).count() == 2


def test_overdue_invoices_are_flagged_and_reminded_once(
    catalogue, business, django_capture_on_commit_callbacks
):
    order = _invoice_order(django_capture_on_commit_callbacks)
    invoice = Invoice.objects.get(payment__order=order)
    # not due yet: nothing happens
    assert tasks.flag_overdue_invoices.apply().get() == 0
    Invoice.objects.filter(pk=invoice.pk).update(due_date=timezone.localdate() - timedelta(days=1))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.flag_overdue_invoices.apply().get() == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.flag_overdue_invoices.apply().get() == 0
    assert Payment.objects.get(order=order).status == P.OVERDUE
    reminders = [m for m in mail.outbox if m.subject.startswith("Reminder")]
    assert len(reminders) == 1
    assert reminders[0].attachments[0][0] == f"{invoice.number}.pdf"
    # an overdue invoice can still be paid
    services.invoice_record_payment(invoice_id=invoice.pk, amount="105.00", actor="finance")
    assert Payment.objects.get(order=order).status == P.PAID


def test_cancelling_an_invoice_order_cancels_the_invoice(
    catalogue, business, django_capture_on_commit_callbacks
):
    from orders.services import order_cancel

    order = _invoice_order(django_capture_on_commit_callbacks)
    order_cancel(order_id=order.pk, actor="finance", reason="Duplicate")
    assert Payment.objects.get(order=order).status == P.VOIDED
    assert order.events.filter(
        type=EventType.PAYMENT_VOIDED, message__contains="cancelled"
    ).exists()

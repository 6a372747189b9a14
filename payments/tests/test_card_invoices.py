"""Every paid order gets an invoice: a card order when its card is captured, paid in full,
numbered in the one gapless sequence it shares with invoices on terms; the customer downloads
it from the order page and the receipt links to it; staff open it from the order's Payment
panel; a repeated capture issues no second one."""

import dataclasses
import re
from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from orders.models import EventType, Notification, Order, OrderStatus
from orders.notifications import order_invoice_url
from orders.permissions import CUSTOMER_SERVICE, FINANCE, WAREHOUSE
from orders.tests.factories import (
    BERLIN,
    CustomerFactory,
    ProductFactory,
    ShippingMethodFactory,
    StockItemFactory,
    UserFactory,
    payment_securing_deferred,
    place_order,
    staff_user,
)
from payments import services
from payments.invoices import invoice_pdf, next_invoice_number
from payments.models import Invoice, InvoiceSequence, Payment, PaymentStatus
from payments.providers.base import CardDetails
from payments.services import PaymentInput
from payments.services.invoices import invoice_issue_for_captured_card
from payments.tests.pdf_text import pdf_text

pytestmark = pytest.mark.django_db
P = PaymentStatus
INVOICE = PaymentInput(method="invoice")
SITE = "http://127.0.0.1:8000"


def _number(n: int) -> str:
    return f"INV-{timezone.localdate().year}-{n:06d}"


def _card_order(capture, lines=(("MUG-001", 2),), **kwargs) -> Order:
    with capture(execute=True):
        order = place_order(list(lines), **kwargs).order
    return Order.objects.get(pk=order.pk)


def _terms_order(capture) -> Order:
    with capture(execute=True):
        order = place_order([("MUG-001", 1)], email="buyer@acme.example", payment=INVOICE).order
    return Order.objects.get(pk=order.pk)


# --- the invoice --------------------------------------------------------------------------


def test_a_card_order_gets_a_paid_invoice_when_the_card_is_captured(
    catalogue, django_capture_on_commit_callbacks
):
    # when a card order is placed, reviewed and captured
    order = _card_order(django_capture_on_commit_callbacks)

    # then it has one invoice, paid in full by the card, with no due date
    assert order.status == OrderStatus.READY
    payment = Payment.objects.get(order=order)
    assert payment.status == P.CAPTURED
    invoice = Invoice.objects.get(payment=payment)
    assert invoice.number == _number(1)
    assert invoice.amount == invoice.paid_amount == order.grand_total == Decimal("25.00")
    assert invoice.balance == 0
    assert invoice.due_date is None
    issued = order.events.get(type=EventType.INVOICE_ISSUED)
    assert issued.customer_visible
    assert issued.message == f"Invoice {invoice.number} issued: 25.00 EUR, paid by card."
    # and its PDF (the same one as on terms) says it is paid, not what to pay
    text = pdf_text(invoice_pdf(invoice))
    for expected in (
        invoice.number,
        order.number,
        "MUG-001",
        "25.00 EUR",
        "Paid in full by card (Visa ending 4242)",
        "Nothing is left to pay",
    ):
        assert expected in text, expected
    assert "Please pay" not in text
    assert "Due date" not in text


def test_what_a_customer_typed_is_printed_on_the_invoice_never_read_as_markup(
    catalogue, django_capture_on_commit_callbacks
):
    # given a billing name that is markup reportlab would act on (open a file as an image)
    name = 'Ada <img src="/etc/hostname" width="9" height="9"/> & <b>Co</b>'
    billing = dataclasses.replace(BERLIN, name=name)
    order = _card_order(django_capture_on_commit_callbacks, billing_address=billing)
    invoice = Invoice.objects.get(payment__order=order)

    # then the PDF is made, and says what was typed
    text = pdf_text(invoice_pdf(invoice)).replace(" ", "")
    assert 'Ada<imgsrc="/etc/hostname"width="9"height="9"/>&<b>Co</b>' in text  # printed as typed


def test_card_and_terms_invoices_share_one_gapless_sequence(
    catalogue, business, django_capture_on_commit_callbacks
):
    # given card and invoice-terms orders placed in turn
    first_card = _card_order(django_capture_on_commit_callbacks)
    first_terms = _terms_order(django_capture_on_commit_callbacks)
    # a declined card takes no number
    declined = _card_order(
        django_capture_on_commit_callbacks,
        payment=PaymentInput(method="card", card=CardDetails(token="tok_chargeDeclined")),
    )
    second_card = _card_order(django_capture_on_commit_callbacks)
    # a transaction that takes a number and then fails gives it back
    taken = []

    def take_a_number_then_fail() -> None:
        with transaction.atomic():
            taken.append(next_invoice_number(timezone.localdate().year))
            raise RuntimeError("the invoice's transaction rolls back")

    with pytest.raises(RuntimeError):
        take_a_number_then_fail()
    assert taken == [_number(4)]
    second_terms = _terms_order(django_capture_on_commit_callbacks)

    # then the numbers run 1, 2, 3, 4 in the order the invoices were issued
    def number_of(order: Order) -> str:
        return Invoice.objects.get(payment__order=order).number

    assert [number_of(o) for o in (first_card, first_terms, second_card, second_terms)] == [
        _number(1),
        _number(2),
        _number(3),
        _number(4),
    ]
    assert declined.status == OrderStatus.ON_HOLD
    assert not Invoice.objects.filter(payment__order=declined).exists()
    assert InvoiceSequence.objects.get(year=timezone.localdate().year).last_number == 4
    assert Payment.objects.get(order=first_terms).status == P.INVOICED


def test_a_capture_repeated_issues_no_second_invoice_or_receipt(
    catalogue, django_capture_on_commit_callbacks
):
    # given a captured card order with its invoice
    order = _card_order(django_capture_on_commit_callbacks)
    payment = Payment.objects.get(order=order)
    invoice = Invoice.objects.get(payment=payment)

    # when the capture and the collection are asked for again, and reconcile runs twice
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_capture(payment_id=payment.pk, actor="payments")
        services.payment_capture_and_secure(payment_id=payment.pk, actor="payments")
        services.payment_collect_for_order(order_id=order.pk)
        services.reconcile()
        services.reconcile()
    # and the invoice service itself is called again for the captured payment
    with transaction.atomic():
        locked = Payment.objects.select_for_update().select_related("order").get(pk=payment.pk)
        again = invoice_issue_for_captured_card(locked)

    # then there is still one invoice, one receipt, and no number was used up
    assert again.pk == invoice.pk
    assert list(Invoice.objects.values_list("number", flat=True)) == [invoice.number]
    assert InvoiceSequence.objects.get(year=timezone.localdate().year).last_number == 1
    assert Notification.objects.filter(order=order, kind="payment_receipt").count() == 1
    assert order.events.filter(type=EventType.INVOICE_ISSUED).count() == 1


def test_an_order_with_nothing_to_pay_gets_no_invoice(
    catalogue, django_capture_on_commit_callbacks
):
    # given a free sample sent free of charge
    sample = ProductFactory(sku="SAMPLE-1", name="Sample", price=Decimal("0.00"))
    StockItemFactory(product=sample, warehouse=catalogue["berlin"], on_hand=5)
    ShippingMethodFactory(code="free", price=Decimal("0.00"), handling_days=1)

    # when it is ordered
    order = _card_order(
        django_capture_on_commit_callbacks,
        lines=[("SAMPLE-1", 1)],
        shipping_method="free",
        payment=None,
    )

    # then it goes to the warehouse with no payment and no invoice
    assert order.grand_total == 0
    assert order.status == OrderStatus.READY
    assert not Payment.objects.filter(order=order).exists()
    assert not Invoice.objects.exists()


def test_a_refund_leaves_the_invoice_as_issued(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given a captured card order, refunded in full
    ada = UserFactory(username="ada@example.com", email="ada@example.com", is_staff=False)
    CustomerFactory(email="ada@example.com", user=ada)
    order = _card_order(django_capture_on_commit_callbacks, user=ada, email=ada.email)
    payment = Payment.objects.get(order=order)
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_create(
            payment_id=payment.pk,
            amount="25.00",
            reason="Damaged",
            actor="finance",
            idempotency_key="refund-1",
        )
    assert Payment.objects.get(pk=payment.pk).status == P.REFUNDED

    # then the invoice is unchanged (a numbered invoice is never rewritten) and the order page
    # still offers it, next to what was refunded
    invoice = Invoice.objects.get(payment=payment)
    assert (invoice.amount, invoice.paid_amount) == (Decimal("25.00"), Decimal("25.00"))
    client.force_login(ada)
    page = client.get(reverse("orders:account-order", args=[order.number])).content.decode()
    assert f"Download invoice {invoice.number}" in page
    assert "Refunded" in page


def _refund(payment, amount, capture, key):
    with capture(execute=True):
        services.refund_create(
            payment_id=payment.pk,
            amount=amount,
            reason="Damaged",
            actor="finance",
            idempotency_key=key,
        )


def _words(text: str) -> str:
    """The PDF's text with its line breaks (each a chunk of its own) as single spaces."""
    return re.sub(r"\s+", " ", text)


def test_the_pdf_of_a_refunded_card_order_lists_each_refund_and_what_remains_paid(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given a captured card order of 25.00
    ada = UserFactory(username="ada@example.com", email="ada@example.com", is_staff=False)
    CustomerFactory(email="ada@example.com", user=ada)
    order = _card_order(django_capture_on_commit_callbacks, user=ada, email=ada.email)
    payment = Payment.objects.get(order=order)
    invoice = Invoice.objects.get(payment=payment)
    today = f"{timezone.localdate():%d %B %Y}"

    # when 10.00 of it is refunded
    _refund(payment, "10.00", django_capture_on_commit_callbacks, "refund-1")

    # then the invoice (its figures as issued) lists the refund and what remains paid
    text = _words(pdf_text(invoice_pdf(invoice)))
    for expected in (
        "Total 25.00 EUR",
        "Paid 25.00",
        f"Refunded to the card on {today} -10.00",
        "Paid after refunds 15.00 EUR",
        "Balance due 0.00 EUR",
        "10.00 EUR refunded to the card since, so 15.00 EUR remains paid.",
        "Nothing is left to pay.",
    ):
        assert expected in text, expected
    assert "Thank you" not in text

    # when the rest is refunded, it says each refund and that nothing remains paid
    _refund(payment, "15.00", django_capture_on_commit_callbacks, "refund-2")
    text = _words(pdf_text(invoice_pdf(invoice)))
    assert text.count(f"Refunded to the card on {today}") == 2
    for expected in (
        "-10.00",
        "-15.00",
        "Paid after refunds 0.00 EUR",
        "and refunded in full to the card since (25.00 EUR): nothing remains paid, and "
        "nothing is left to pay.",
    ):
        assert expected in text, expected

    # and the order page still offers it, and it is that PDF
    client.force_login(ada)
    page = client.get(reverse("orders:account-order", args=[order.number])).content.decode()
    assert f"Download invoice {invoice.number}" in page
    url = re.search(r'href="([^"]+)"[^>]*>\s*Download invoice', page).group(1)
    pdf = client.get(url)
    assert pdf.status_code == 200
    assert "refunded in full to the card" in _words(pdf_text(pdf.content))


# --- where the customer finds it ----------------------------------------------------------


def test_the_owner_downloads_the_card_invoice_and_nobody_else_can(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given Ada's card order, placed in her account
    ada = UserFactory(username="ada@example.com", email="ada@example.com", is_staff=False)
    CustomerFactory(email="ada@example.com", user=ada)
    order = _card_order(django_capture_on_commit_callbacks, user=ada, email=ada.email)
    invoice = Invoice.objects.get(payment__order=order)

    # when she opens her order page and the invoice link on it
    client.force_login(ada)
    page = client.get(reverse("orders:account-order", args=[order.number])).content.decode()
    url = reverse("orders:account-order-invoice", args=[order.number])
    pdf = client.get(url)

    # then she gets the PDF
    assert f'href="{url}"' in page
    assert f"Download invoice {invoice.number} (PDF)" in page
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert f'filename="{invoice.number}.pdf"' in pdf["Content-Disposition"]
    assert invoice.number in pdf_text(pdf.content)

    # and another customer gets 404 for the same address, like an order that does not exist
    eve = UserFactory(username="eve@example.com", email="eve@example.com", is_staff=False)
    client.force_login(eve)
    assert client.get(url).status_code == 404


def test_the_receipt_links_a_guest_to_the_invoice(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given a guest's card order
    order = _card_order(django_capture_on_commit_callbacks, email="guest@example.com")
    invoice = Invoice.objects.get(payment__order=order)

    # then the receipt, in text and HTML, links to the invoice through the signed guest link
    receipt = next(m for m in mail.outbox if m.subject.startswith("Payment received"))
    link = re.search(r"Your invoice (\S+) \(paid, PDF\): (\S+)", receipt.body)
    assert link is not None, receipt.body
    assert link.group(1) == invoice.number
    url = link.group(2)
    assert url.startswith(f"{SITE}/orders/track/") and url.endswith("/invoice/")
    html = receipt.alternatives[0][0]
    assert f'href="{url}"' in html
    # and the link opens the PDF without an account
    pdf = client.get(url.removeprefix(SITE))
    assert pdf.status_code == 200
    assert invoice.number in pdf_text(pdf.content)
    # the receipt is a link, not an attachment
    assert receipt.attachments == []


def test_the_receipt_links_an_account_holder_to_the_account_invoice(
    catalogue, django_capture_on_commit_callbacks
):
    ada = UserFactory(username="ada@example.com", email="ada@example.com", is_staff=False)
    CustomerFactory(email="ada@example.com", user=ada)
    order = _card_order(django_capture_on_commit_callbacks, user=ada, email=ada.email)
    receipt = next(m for m in mail.outbox if m.subject.startswith("Payment received"))
    expected = SITE + reverse("orders:account-order-invoice", args=[order.number])
    assert order_invoice_url(order) == expected
    assert expected in receipt.body


def test_a_receipt_without_an_invoice_has_no_invoice_line(catalogue):
    # a receipt queued before invoices existed for cards renders without the link
    from orders.notifications import render_notification

    order = place_order(email="guest@example.com").order
    row = Notification.objects.create(order=order, kind="payment_receipt", recipient=order.email)
    _subject, text, html = render_notification(row)
    assert "Your invoice" not in text and "Your invoice" not in html


# --- where staff find it ------------------------------------------------------------------


@pytest.mark.parametrize("group", [FINANCE, CUSTOMER_SERVICE, WAREHOUSE])
def test_the_order_payment_panel_links_to_the_invoice_pdf(
    client, catalogue, django_capture_on_commit_callbacks, group
):
    order = _card_order(django_capture_on_commit_callbacks)
    invoice = Invoice.objects.get(payment__order=order)
    client.force_login(staff_user(group))

    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    pdf_url = reverse("admin:payments_invoice_pdf", args=[invoice.pk])

    assert f'<a href="{pdf_url}">{invoice.number} (PDF)</a>, paid by card' in page
    pdf = client.get(pdf_url)
    assert pdf.status_code == 200
    assert invoice.number in pdf_text(pdf.content)
    # and Payments → Invoices lists it with the others
    listed = client.get(reverse("admin:payments_invoice_changelist")).content.decode()
    assert invoice.number in listed


def test_the_payment_page_shows_the_card_invoice(
    client, catalogue, django_capture_on_commit_callbacks
):
    order = _card_order(django_capture_on_commit_callbacks)
    payment = Payment.objects.get(order=order)
    client.force_login(staff_user(FINANCE))
    page = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    assert page.status_code == 200
    assert "(paid by card, 25.00 EUR)" in page.content.decode()


def test_invoice_terms_still_show_their_due_date_in_the_panel(
    client, catalogue, business, django_capture_on_commit_callbacks
):
    order = _terms_order(django_capture_on_commit_callbacks)
    invoice = Invoice.objects.get(payment__order=order)
    client.force_login(staff_user(FINANCE))
    page = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert f"{invoice.number} (PDF)</a>, due " in page
    text = pdf_text(invoice_pdf(invoice))
    assert "Please pay" in text and "Due date" in text


# --- a capture that has not happened yet --------------------------------------------------


def test_an_authorised_card_has_no_invoice_until_it_is_captured(
    catalogue, django_capture_on_commit_callbacks
):
    # given a card order confirmed and authorised, its capture not yet run
    with payment_securing_deferred(), django_capture_on_commit_callbacks(execute=True):
        order = place_order([("MUG-001", 1)]).order
    payment = Payment.objects.get(order=order)
    assert payment.status == P.AUTHORIZED
    assert not Invoice.objects.exists()

    # when Finance captures it
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_capture_and_secure(payment_id=payment.pk, actor="finance")

    # then the invoice is there
    assert Invoice.objects.get(payment=payment).number == _number(1)

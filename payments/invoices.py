"""Invoice numbers and the invoice PDF (reportlab: pure Python, nothing to install).

The PDF is drawn when it is asked for. The invoice's figures never change; refunds made
since it was issued are listed under it (a line each: amount, date, where the money went),
with what remains paid, so a refunded order's invoice does not read "paid in full" alone.
There are no credit notes with numbers of their own."""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from io import BytesIO
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from payments.models import Invoice, InvoiceSequence, Payment, PaymentMethod, Refund, RefundStatus


def next_invoice_number(year: int) -> str:
    """The next number of the year, without gaps: call inside the invoice's transaction."""
    sequence, _ = InvoiceSequence.objects.select_for_update(no_key=True).get_or_create(year=year)
    sequence.last_number += 1
    sequence.save(update_fields=["last_number"])
    return f"{settings.INVOICE_NUMBER_PREFIX}-{year}-{sequence.last_number:06d}"


def invoice_pdf(invoice: Invoice) -> bytes:
    payment = invoice.payment
    order = payment.order
    lines = list(order.lines.all())
    refunds = _refunds(payment)
    styles = getSampleStyleSheet()
    small = ParagraphStyle("small", parent=styles["Normal"], fontSize=9, leading=12)
    buffer = BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"Invoice {invoice.number}",
        author=settings.SELLER_NAME,
    )
    seller = _lines([settings.SELLER_NAME, *settings.SELLER_ADDRESS])
    if order.bill_to_id:  # a partner's account pays: the invoice is addressed to it
        payer = order.bill_to
        address = payer.addresses.first()
        payer_lines = [
            payer.company or payer.name,
            *(address.as_lines() if address else []),
            payer.email,
        ]
        buyer = _lines([part for part in payer_lines if part])
    else:
        billing = order.billing_address or order.shipping_address
        buyer = _lines(billing.as_lines() if billing else [order.email])
    story = [
        Table(
            [
                [
                    Paragraph(seller, small),
                    Paragraph(f"<b>Invoice {invoice.number}</b>", styles["Title"]),
                ]
            ],
            colWidths=[85 * mm, 85 * mm],
            style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]),
        ),
        Spacer(1, 8 * mm),
        Table(
            [
                [Paragraph("<b>Bill to</b>", small), Paragraph("<b>Details</b>", small)],
                [
                    Paragraph(buyer, small),
                    Paragraph(
                        f"Invoice date: {_issued_on(invoice):%d %B %Y}<br/>"
                        f"{_terms_line(invoice)}<br/>"
                        f"Order: {order.number}<br/>"
                        f"VAT ID: {settings.SELLER_VAT_ID}",
                        small,
                    ),
                ],
            ],
            colWidths=[85 * mm, 85 * mm],
            style=TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]),
        ),
        Spacer(1, 8 * mm),
    ]
    rows = [["SKU", "Item", "Qty", "Unit price", "Total"]]
    rows += [
        [
            line.sku,
            Paragraph(escape(line.name), small),
            str(line.quantity),
            f"{line.unit_price}",
            f"{line.line_total}",
        ]
        for line in lines
    ]
    tax_label = "Included tax" if order.prices_include_tax else "Tax"
    rows += [
        ["", "Shipping", "", "", f"{order.shipping_total}"],
        ["", f"{tax_label} ({order.tax_rate}%)", "", "", f"{order.tax_total}"],
        ["", "Total", "", "", f"{invoice.amount} {invoice.currency}"],
    ]
    if invoice.paid_amount:
        rows.append(["", "Paid", "", "", f"{invoice.paid_amount}"])
        for refund in refunds:
            rows.append(
                [
                    "",
                    Paragraph(f"Refunded {_refunded_to(payment)} on {_refunded_on(refund)}", small),
                    "",
                    "",
                    f"-{refund.amount}",
                ]
            )
        if refunds:
            rows.append(
                [
                    "",
                    "Paid after refunds",
                    "",
                    "",
                    f"{_kept(invoice, refunds)} {invoice.currency}",
                ]
            )
        rows.append(["", "Balance due", "", "", f"{invoice.balance} {invoice.currency}"])
    table = Table(rows, colWidths=[28 * mm, 70 * mm, 14 * mm, 26 * mm, 32 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("ALIGN", (2, 0), (-1, -1), "RIGHT"),
                ("LINEABOVE", (1, len(lines) + 1), (-1, len(lines) + 1), 0.5, colors.grey),
                ("FONT", (1, len(lines) + 3), (-1, len(lines) + 3), "Helvetica-Bold"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    story += [
        table,
        Spacer(1, 10 * mm),
        Paragraph(_closing_line(invoice, refunds), small),
    ]
    doc.build(story)
    return buffer.getvalue()


def _lines(lines: list[str]) -> str:
    """Lines of text for a Paragraph, which reads markup (<img>, <font>...): what people
    typed (names, addresses, product names) is escaped, never read as markup."""
    return "<br/>".join(escape(line) for line in lines)


def _issued_on(invoice: Invoice) -> date:
    return timezone.localtime(invoice.issued_at).date()


def _card(payment: Payment) -> str:
    if not payment.card_last4:
        return "card"
    brand = payment.card_brand or "card"
    return escape(f"card ({brand[:1].upper()}{brand[1:]} ending {payment.card_last4})")


def _terms_line(invoice: Invoice) -> str:
    """Under the invoice date: when it is due, or that the card paid it."""
    if invoice.due_date is None:
        return f"Paid by {_card(invoice.payment)} on {_issued_on(invoice):%d %B %Y}"
    return f"Due date: {invoice.due_date:%d %B %Y}"


def _refunds(payment: Payment) -> list[Refund]:
    """The payment's refunds that were paid out, oldest first."""
    refunds = payment.refunds.filter(status=RefundStatus.SUCCEEDED)
    return sorted(refunds, key=lambda refund: (refund.completed_at or refund.created_at, refund.pk))


def _refunded_on(refund: Refund) -> str:
    return f"{timezone.localtime(refund.completed_at or refund.created_at):%d %B %Y}"


def _refunded_to(payment: Payment) -> str:
    return "to the card" if payment.method == PaymentMethod.CARD else "to you"


def _kept(invoice: Invoice, refunds: Sequence[Refund]) -> Decimal:
    refunded = sum((refund.amount for refund in refunds), Decimal("0.00"))
    return max(invoice.paid_amount - refunded, Decimal("0.00"))


def _closing_line(invoice: Invoice, refunds: Sequence[Refund] = ()) -> str:
    """What the customer has to do (pay by the due date, or nothing), and what remains paid
    after any refunds."""
    if invoice.balance == 0:
        paid = "Paid in full"
        if invoice.due_date is None:
            paid += f" by {_card(invoice.payment)} on {_issued_on(invoice):%d %B %Y}"
        if not refunds:
            return f"{paid}. Nothing is left to pay. Thank you."
        refunded = sum((refund.amount for refund in refunds), Decimal("0.00"))
        kept = _kept(invoice, refunds)
        where = _refunded_to(invoice.payment)
        if kept == 0:
            return (
                f"{paid}, and refunded in full {where} since ({refunded} {invoice.currency}): "
                "nothing remains paid, and nothing is left to pay."
            )
        return (
            f"{paid}; {refunded} {invoice.currency} refunded {where} since, so "
            f"{kept} {invoice.currency} remains paid. Nothing is left to pay."
        )
    return (
        f"Please pay {invoice.balance} {invoice.currency} by {invoice.due_date:%d %B %Y} to "
        f"{settings.SELLER_BANK_DETAILS}, quoting {invoice.number}."
    )


def invoice_attachment(*, invoice_id: int) -> tuple[str, bytes, str]:
    """Used by the outbox to attach the PDF to invoice emails."""
    invoice = Invoice.objects.select_related("payment__order").get(pk=invoice_id)
    return f"{invoice.number}.pdf", invoice_pdf(invoice), "application/pdf"

"""Invoice numbers stay gapless under concurrency, on PostgreSQL with real threads started
together: card captures, invoices on terms and transactions that take a number and then roll
back, all at once."""

import pytest
from django.db import transaction
from django.utils import timezone

from orders.models import Order, OrderStatus
from orders.tests.factories import CustomerFactory, payment_securing_deferred, place_order
from payments import services
from payments.invoices import next_invoice_number
from payments.models import CreditAccount, Invoice, InvoiceSequence, Payment, PaymentStatus
from payments.services import PaymentInput
from tests.threads import run_together

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]


class RolledBack(Exception):
    pass


def test_card_captures_and_terms_invoices_at_once_leave_no_gap(catalogue):
    # given six card orders authorised and six orders on terms, none of them collected yet
    CreditAccount.objects.create(
        customer=CustomerFactory(email="buyer@acme.example"), credit_limit=10_000
    )
    with payment_securing_deferred():
        cards = [place_order([("MUG-001", 1)], email=f"c{i}@example.com").order for i in range(6)]
        terms = [
            place_order(
                [("MUG-001", 1)], email="buyer@acme.example", payment=PaymentInput("invoice")
            ).order
            for _ in range(6)
        ]
    card_payments = [Payment.objects.get(order=o, status=PaymentStatus.AUTHORIZED) for o in cards]
    terms_payments = [Payment.objects.get(order=o, status=PaymentStatus.PENDING) for o in terms]
    year = timezone.localdate().year

    # when all twelve are collected at the same moment, while four other transactions each
    # take a number and roll back
    def work(index: int):
        if index < 6:
            return services.payment_capture_and_secure(
                payment_id=card_payments[index].pk, actor="payments"
            ).status
        if index < 12:
            return services.invoice_issue(payment_id=terms_payments[index - 6].pk).status
        with transaction.atomic():
            next_invoice_number(year)
            raise RolledBack

    results = run_together(16, work)

    # then every payment has its invoice, and the numbers run 1 to 12 without a gap
    assert results[:6] == [PaymentStatus.CAPTURED] * 6, results
    assert results[6:12] == [PaymentStatus.INVOICED] * 6, results
    assert all(isinstance(r, RolledBack) for r in results[12:]), results
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-{year}-{n:06d}" for n in range(1, 13)]
    assert InvoiceSequence.objects.get(year=year).last_number == 12
    assert Invoice.objects.filter(payment__in=card_payments, due_date__isnull=True).count() == 6
    assert set(
        Order.objects.filter(pk__in=[o.pk for o in cards]).values_list("status", flat=True)
    ) == {OrderStatus.READY}

"""Payments in the staff console: Finance acts, everyone else reads."""

from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders.models import Order
from orders.permissions import CUSTOMER_SERVICE, FINANCE, WAREHOUSE
from orders.tests.factories import CustomerFactory, place_order, staff_user
from payments import services
from payments.models import CreditAccount, Invoice, Payment, PaymentStatus, Refund
from payments.providers.base import ProviderUnavailable
from payments.providers.test import TestGateway
from payments.selectors import credit_exposure
from payments.services import PaymentInput
from payments.tests.pdf_text import pdf_text

pytestmark = pytest.mark.django_db
P = PaymentStatus
INVOICE = PaymentInput(method="invoice")


def _order(capture, **kwargs) -> Order:
    with capture(execute=True):
        order = place_order([("MUG-001", 2)], **kwargs).order
    return Order.objects.get(pk=order.pk)


def _buttons(response) -> set[str]:
    html = response.content.decode()
    return {
        name
        for name in ("capture", "void", "refund", "record_invoice_payment")
        if f'name="action" value="{name}"' in html
    }


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.mark.parametrize(
    ("group", "expected"),
    [(FINANCE, {"refund"}), (CUSTOMER_SERVICE, set()), (WAREHOUSE, set())],
)
def test_only_finance_sees_the_refund_button(
    client, catalogue, django_capture_on_commit_callbacks, group, expected
):
    payment = Payment.objects.get(order=_order(django_capture_on_commit_callbacks))
    client.force_login(staff_user(group))
    response = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    assert response.status_code == 200
    assert _buttons(response) == expected


def test_finance_refunds_through_the_console(client, catalogue, django_capture_on_commit_callbacks):
    payment = Payment.objects.get(order=_order(django_capture_on_commit_callbacks))
    client.force_login(staff_user(FINANCE))
    url = reverse("admin:payments_payment_action", args=[payment.pk, "refund"])
    form = {"amount": "10.00", "reason": "Broken handle", "idempotency_key": "page-1"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, form, follow=True)
    # (the provider call runs after the commit, which this test holds back)
    assert _messages(response)[0].startswith("Refund of 10.00 EUR requested")
    # a double click on the same page refunds nothing more
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, form, follow=True)
    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("10.00")
    assert Refund.objects.count() == 1


def test_a_refund_over_the_balance_is_refused_with_a_message(
    client, catalogue, django_capture_on_commit_callbacks
):
    payment = Payment.objects.get(order=_order(django_capture_on_commit_callbacks))
    client.force_login(staff_user(FINANCE))
    url = reverse("admin:payments_payment_action", args=[payment.pk, "refund"])
    response = client.post(
        url, {"amount": "99", "reason": "x", "idempotency_key": "k"}, follow=True
    )
    assert "At most 25.00 EUR can be refunded." in _messages(response)[0]
    assert not Refund.objects.exists()


def test_customer_service_cannot_refund_by_posting(
    client, catalogue, django_capture_on_commit_callbacks
):
    payment = Payment.objects.get(order=_order(django_capture_on_commit_callbacks))
    client.force_login(staff_user(CUSTOMER_SERVICE))
    url = reverse("admin:payments_payment_action", args=[payment.pk, "refund"])
    response = client.post(url, {"amount": "5", "reason": "x", "idempotency_key": "k"}, follow=True)
    assert "Nothing was changed" in _messages(response)[0]
    assert not Refund.objects.exists()
    assert client.get(url).status_code == 405


def test_finance_captures_and_voids_authorised_payments(
    client, catalogue, django_capture_on_commit_callbacks
):
    with mock.patch("payments.tasks.secure_order_payment.delay"):
        first = _order(django_capture_on_commit_callbacks)
        second = _order(django_capture_on_commit_callbacks)
    client.force_login(staff_user(FINANCE))
    one, two = Payment.objects.get(order=first), Payment.objects.get(order=second)
    page = client.get(reverse("admin:payments_payment_change", args=[one.pk]))
    assert _buttons(page) == {"capture", "void"}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:payments_payment_action", args=[one.pk, "capture"]))
    client.post(reverse("admin:payments_payment_action", args=[two.pk, "void"]))
    assert Payment.objects.get(pk=one.pk).status == P.CAPTURED
    assert Order.objects.get(pk=first.pk).status == "ready"
    assert Payment.objects.get(pk=two.pk).status == P.VOIDED


def test_a_payment_still_being_authorised_offers_finance_nothing_to_do(client, catalogue):
    # given: the provider has not answered the authorisation yet
    with mock.patch.object(TestGateway, "authorize", side_effect=ProviderUnavailable("down")):
        payment = Payment.objects.get(order=place_order().order)
    assert payment.status == P.PENDING
    client.force_login(staff_user(FINANCE))
    page = client.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    assert _buttons(page) == set()
    client.post(reverse("admin:payments_payment_action", args=[payment.pk, "void"]))
    assert Payment.objects.get(pk=payment.pk).status == P.PENDING
    assert not payment.operations.filter(kind="void").exists()


def test_finance_marks_an_invoice_paid_and_downloads_its_pdf(
    client, business, catalogue, django_capture_on_commit_callbacks
):
    order = _order(
        django_capture_on_commit_callbacks,
        email="buyer@acme.example",
        payment=PaymentInput(method="invoice"),
    )
    payment = Payment.objects.get(order=order)
    invoice = Invoice.objects.get(payment=payment)
    client.force_login(staff_user(FINANCE))
    response = client.post(
        reverse("admin:payments_payment_action", args=[payment.pk, "record_invoice_payment"]),
        {"amount": str(invoice.amount), "reference": "SEPA 123"},
        follow=True,
    )
    assert _messages(response) == ["Recorded. 0.00 EUR still due."]
    assert Payment.objects.get(pk=payment.pk).status == P.PAID
    pdf = client.get(reverse("admin:payments_invoice_pdf", args=[invoice.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    assert invoice.number in pdf_text(pdf.content)


def test_the_order_page_shows_what_is_paid_refunded_and_due(
    client, catalogue, django_capture_on_commit_callbacks
):
    order = _order(django_capture_on_commit_callbacks)
    client.force_login(staff_user(CUSTOMER_SERVICE))
    html = client.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert "<dt>Paid</dt><dd>25.00</dd>" in html
    assert "<dt>Balance due</dt><dd>0.00</dd>" in html
    assert "visa •••• 4242" in html


def test_the_payments_list_filters_and_searches(
    client, catalogue, django_capture_on_commit_callbacks
):
    order = _order(django_capture_on_commit_callbacks)
    payment = Payment.objects.get(order=order)
    client.force_login(staff_user(FINANCE))
    url = reverse("admin:payments_payment_changelist")
    for query in (f"?q={order.number}", f"?q={payment.provider_reference}", "?status=captured"):
        response = client.get(url + query)
        assert list(response.context["cl"].result_list) == [payment], query
    assert list(client.get(url + "?status=failed").context["cl"].result_list) == []


def _credit_accounts(count: int, *, start: int) -> None:
    for n in range(start, start + count):
        customer = CustomerFactory(email=f"buyer{n}@firm.example", company=f"Firm {n}")
        CreditAccount.objects.create(customer=customer, terms_days=30, credit_limit=1000)


def test_the_credit_accounts_list_takes_a_constant_number_of_queries(
    client, catalogue, business, django_capture_on_commit_callbacks
):
    # given: two accounts, each owing an open invoice, one of them paid in part
    with django_capture_on_commit_callbacks(execute=True):
        place_order([("MUG-001", 10)], email="buyer@acme.example", payment=INVOICE)
    _credit_accounts(1, start=0)
    with django_capture_on_commit_callbacks(execute=True):
        owing = place_order([("MUG-001", 4)], email="buyer0@firm.example", payment=INVOICE).order
    services.invoice_record_payment(
        invoice_id=Invoice.objects.get(payment__order=owing).pk, amount="12", actor="finance"
    )
    client.force_login(staff_user(FINANCE))
    url = reverse("admin:payments_creditaccount_changelist")
    client.get(url)  # warm caches (content types, session) so both runs compare alike

    # when
    with CaptureQueriesContext(connection) as few:
        response = client.get(url)
    listed = response.context["cl"].result_list
    assert len(listed) == 2
    _credit_accounts(8, start=1)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)

    # then
    assert len(response.context["cl"].result_list) == 10
    assert len(many) == len(few), "\n".join(q["sql"] for q in many.captured_queries)
    owed = {account.customer.email: account.open_balance for account in listed}
    assert owed == {
        "buyer@acme.example": Decimal("105.00"),
        "buyer0@firm.example": owing.grand_total - Decimal("12.00"),
    }
    for account in response.context["cl"].result_list:
        assert account.open_balance == credit_exposure(account.customer_id)

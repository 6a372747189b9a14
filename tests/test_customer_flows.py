"""The customer site with every phase switched on: card checkout through the test gateway, a
declined card and the pay-again page, invoice terms for business accounts with the invoice
PDF, cancelling a paid order, and the links in the emails."""

import re
from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from orders.models import Customer, Order, OrderStatus
from orders.tests.factories import UserFactory, checkout_form, place_order
from payments.models import CreditAccount, Payment, PaymentStatus
from payments.providers.base import CardDetails
from payments.services import PaymentInput, pay_link_token

pytestmark = pytest.mark.django_db
GOOD_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def _checkout(client, capture, *, card=GOOD_CARD, items=(("MUG-001", 2),), **extra):
    data = checkout_form(client, items, card_number=card, **extra)
    with capture(execute=True):
        response = client.post(reverse("orders:checkout"), data)
    return response


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def _link_in(message, pattern) -> str:
    return _path(re.search(pattern, message.body).group(0))


def test_a_guest_pays_by_card_and_follows_the_order_from_the_email(
    client, catalogue, django_capture_on_commit_callbacks
):
    response = _checkout(client, django_capture_on_commit_callbacks)
    order = Order.objects.get()
    assert response["Location"] == reverse("orders:order-received", args=[order.number])
    assert order.status == OrderStatus.READY
    assert Payment.objects.get(order=order).status == PaymentStatus.CAPTURED
    received = client.get(response["Location"]).content.decode()
    assert f"We have received order {order.number}" in received
    assert "did not go through" not in received
    confirmation = next(m for m in mail.outbox if m.subject.endswith("is confirmed"))
    link = _link_in(confirmation, r"https?://\S+/orders/track/\S+/")
    page = client.__class__().get(link)  # another browser: no session, no account
    html = page.content.decode()
    assert page.status_code == 200
    assert f"Order {order.number}" in html
    assert "Visa ending 4242: captured" in html
    assert re.search(r"Still to pay</strong></dt><dd><strong>0.00 EUR", html)
    assert "Payment captured" not in html  # staff-only events stay hidden


def test_a_declined_card_holds_the_order_and_the_pay_again_page_takes_a_new_card(
    client, catalogue, django_capture_on_commit_callbacks
):
    response = _checkout(client, django_capture_on_commit_callbacks, card=DECLINED_CARD)
    order = Order.objects.get()
    assert order.status == OrderStatus.ON_HOLD
    received = client.get(response["Location"]).content.decode()
    assert f"Your payment for order {order.number} did not go through" in received
    failed = next(m for m in mail.outbox if "did not go through" in m.subject)
    pay = _link_in(failed, r"https?://\S+/orders/pay/\S+/")
    assert "/orders/track/" in failed.body  # and a link to follow the order
    visitor = client.__class__()
    page = visitor.get(pay)
    assert page.status_code == 200 and "Pay 25.00 EUR" in page.content.decode()
    # a bad card number is refused on its field; nothing is charged
    bad = visitor.post(
        pay, {"card_number": "1234", "exp_month": "1", "exp_year": "2035", "cvc": "1"}
    )
    assert bad.status_code == 400
    assert "Enter the card number" in bad.content.decode()
    assert Payment.objects.filter(order=order).count() == 1
    # declined again: a clear message, the order still waits
    with django_capture_on_commit_callbacks(execute=True):
        again = visitor.post(
            pay, {"card_number": DECLINED_CARD, "exp_month": "1", "exp_year": "2035", "cvc": "123"}
        )
    assert again.status_code == 400
    assert "The card was declined" in again.content.decode()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ON_HOLD
    # a good card: paid, and the order goes on to the warehouse
    with django_capture_on_commit_callbacks(execute=True):
        paid = visitor.post(
            pay, {"card_number": GOOD_CARD, "exp_month": "1", "exp_year": "2035", "cvc": "123"}
        )
    assert paid.status_code == 302
    assert "/orders/track/" in paid["Location"]
    assert "went through" in visitor.get(paid["Location"]).content.decode()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.READY
    # the link takes no second payment
    done = visitor.get(pay).content.decode()
    assert "needs no payment now" in done and "card_number" not in done


def test_the_page_after_a_declined_card_leads_with_the_payment_problem(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given: a checkout whose card is declined
    response = _checkout(client, django_capture_on_commit_callbacks, card=DECLINED_CARD)
    order = Order.objects.get()

    # when: the customer lands on the page after checkout
    html = client.get(response["Location"]).content.decode()

    # then: no thanks and no tick; the heading is the payment problem, the pay button comes first
    assert "Thank you" not in html and "✓" not in html
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S).group(1)
    assert heading == f"Your payment for order {order.number} did not go through"
    assert f"<title>Payment needed: order {order.number}" in html
    pay = html.index(f">Pay for order {order.number}</a>")
    assert pay < html.index(">View your order</a>")
    assert re.search(r'href="/orders/pay/[^"]+/">Pay for order', html)


def test_pay_again_links_that_are_tampered_with_or_expired_are_refused(
    client, catalogue, django_capture_on_commit_callbacks, settings
):
    declined = PaymentInput(method="card", card=CardDetails(token="tok_chargeDeclined"))
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(payment=declined).order
    token = pay_link_token(order)
    tampered = client.get(reverse("orders:pay-again", args=[token[:-2] + "zz"]))
    assert tampered.status_code == 404 and "not valid" in tampered.content.decode()
    settings.PAY_LINK_MAX_AGE_DAYS = 1
    with mock.patch("django.core.signing.time.time", return_value=10**10):
        expired = client.get(reverse("orders:pay-again", args=[token]))
    assert expired.status_code == 404 and "expired" in expired.content.decode()
    card = {"card_number": GOOD_CARD, "exp_month": "1", "exp_year": "2035", "cvc": "123"}
    with mock.patch("django.core.signing.time.time", return_value=10**10):
        client.post(reverse("orders:pay-again", args=[token]), card)
    assert Payment.objects.filter(order=order).count() == 1


def test_invoice_terms_are_offered_only_to_business_accounts(
    client, catalogue, django_capture_on_commit_callbacks
):
    # a guest sees only the card, and cannot post "invoice"
    client.post(reverse("orders:cart-add"), {"sku": "MUG-001", "quantity": 1})
    assert "On invoice" not in client.get(reverse("orders:checkout")).content.decode()
    # a business customer with an active credit account sees the option and uses it
    buyer = UserFactory(username="buyer@acme.example", email="buyer@acme.example", is_staff=False)
    customer = Customer.objects.create(email="buyer@acme.example", name="Acme", user=buyer)
    CreditAccount.objects.create(customer=customer, terms_days=30, credit_limit=Decimal("500"))
    business = client.__class__()
    business.force_login(buyer)
    business.post(reverse("orders:cart-add"), {"sku": "MUG-001", "quantity": 3})
    assert "On invoice" in business.get(reverse("orders:checkout")).content.decode()
    response = _checkout(
        business, django_capture_on_commit_callbacks, items=(), payment_method="invoice", card=""
    )
    order = Order.objects.get()
    assert response.status_code == 302
    assert order.status == OrderStatus.READY
    payment = Payment.objects.get(order=order)
    assert payment.status == PaymentStatus.INVOICED
    page = business.get(reverse("orders:account-order", args=[order.number])).content.decode()
    number = payment.invoice_record.number
    assert f"Download invoice {number}" in page
    pdf = business.get(reverse("orders:account-order-invoice", args=[order.number]))
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert f'filename="{number}.pdf"' in pdf["Content-Disposition"]
    # someone else gets 404 for it
    other = UserFactory(username="eve@example.com", email="eve@example.com", is_staff=False)
    client.force_login(other)
    url = reverse("orders:account-order-invoice", args=[order.number])
    assert client.get(url).status_code == 404
    # and the invoice email links to the account page
    invoice_mail = next(m for m in mail.outbox if m.subject.startswith("Invoice for order"))
    assert reverse("orders:account-order", args=[order.number]) in invoice_mail.body


def test_a_customer_cancels_a_paid_order_and_is_refunded(
    client, catalogue, django_capture_on_commit_callbacks
):
    ada = UserFactory(username="ada@example.com", email="ada@example.com", is_staff=False)
    client.force_login(ada)
    _checkout(client, django_capture_on_commit_callbacks)
    order = Order.objects.get()
    assert order.status == OrderStatus.READY and order.customer.user == ada
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("orders:account-order-cancel", args=[order.number]),
            {"reason": "Bought it elsewhere"},
            follow=True,
        )
    assert "is cancelled" in response.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert Payment.objects.get(order=order).status == PaymentStatus.REFUNDED
    page = client.get(reverse("orders:account-order", args=[order.number])).content.decode()
    assert re.search(r"<dt>Refunded</dt><dd>25.00 EUR</dd>", page)
    assert "Cancel order" not in page
    cancelled = next(m for m in mail.outbox if m.subject.endswith("has been cancelled"))
    assert reverse("orders:account-order", args=[order.number]) in cancelled.body


def test_a_card_the_gateway_rejects_is_an_error_on_the_form(
    client, catalogue, django_capture_on_commit_callbacks
):
    response = _checkout(client, django_capture_on_commit_callbacks, card="4000 0000 0000 0003")
    assert response.status_code == 400
    assert "This card number is not valid" in response.content.decode()
    assert not Order.objects.exists()

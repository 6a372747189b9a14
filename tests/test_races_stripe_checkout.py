"""A payment on Stripe Checkout's page reported three ways at once, with real threads on
PostgreSQL (started together at a barrier): Stripe's webhook, the customer's return (which
asks Stripe for the session) and the reconcile task. Each locks the order, then the payment,
then the page: one records the authorisation, the others change nothing; no deadlock, no
server error, one capture."""

import json

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from orders.models import EventType, Order, OrderStatus
from orders.tests.factories import checkout_form
from payments.models import CheckoutSession, Payment, PaymentStatus
from payments.services.hosted_checkout import checkout_reconcile
from payments.tests.fake_stripe import FakeStripe, sign
from tests.threads import run_together

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]
CARD_FIELDS = ("card_number", "exp_month", "exp_year", "cvc")


@pytest.fixture
def stripe_server(settings):
    server = FakeStripe().start()
    settings.PAYMENT_CARD_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_secret"
    cache.clear()
    yield server
    server.stop()
    cache.clear()


@pytest.mark.parametrize("round_", range(3))
def test_webhook_return_and_reconcile_at_once_record_the_payment_once(
    catalogue, stripe_server, round_
):
    # given: a guest checked out and paid on Stripe's page
    customer = Client()
    data = checkout_form(customer, (("MUG-001", 2),))
    data = {key: value for key, value in data.items() if key not in CARD_FIELDS}
    assert customer.post(reverse("orders:checkout"), data).status_code == 303
    order = Order.objects.get()
    checkout = CheckoutSession.objects.get(payment__order=order)
    event = stripe_server.pay(checkout.session_id)
    body = json.dumps(event).encode()
    success = stripe_server.success_url(checkout.session_id)

    # when: the webhook, the return and the reconcile task arrive together
    def work(index: int) -> object:
        if index == 0:
            response = Client().post(
                "/payments/webhooks/stripe/",
                body,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=sign(body),
            )
            return response.status_code
        if index == 1:
            return customer.get(success).status_code
        checkout_reconcile(checkout_id=checkout.pk)
        return "reconciled"

    results = run_together(3, work)

    # then: no error, one authorisation, one capture, and the order is ready
    assert results == [200, 302, "reconciled"], results
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.READY
    payment = Payment.objects.get(order=order)
    assert payment.status == PaymentStatus.CAPTURED
    assert order.events.filter(type=EventType.PAYMENT_AUTHORIZED).count() == 1
    captures = stripe_server.calls(f"/v1/payment_intents/{payment.provider_reference}/capture")
    assert len(captures) == 1

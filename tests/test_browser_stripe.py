"""Stripe Checkout in a real browser (Playwright driving Debian's chromium) against a live
server and the local fake Stripe, whose payment page stands in for Stripe's: a guest checks
out with no card field on our page, pays on Stripe's page and comes back to a paid order; a
guest who leaves Stripe's page is told nothing was charged and pays from there."""

import os
import re

import pytest

from orders.models import Order, OrderStatus
from payments.models import Payment, PaymentStatus
from payments.tests.fake_stripe import FakeStripe
from tests.test_browser import CHROMIUM, browser_page  # noqa: F401 - the fixture

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium); CI has it",
    ),
]


@pytest.fixture
def stripe_page(settings, live_server):
    server = FakeStripe().start()
    settings.PAYMENT_CARD_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_secret"
    server.webhook_url = f"{live_server.url}/payments/webhooks/stripe/"
    settings.SITE_URL = live_server.url  # where Stripe's page sends the customer back
    yield server
    server.stop()


def _check_out(page, base: str) -> None:
    page.goto(f"{base}/products/MUG-001/")
    page.get_by_role("button", name="Add to cart").click()
    page.wait_for_url(f"{base}/cart/")
    page.get_by_role("link", name="Go to checkout").click()
    page.get_by_label("Email").fill("guest@example.com")
    page.get_by_label("Full name").first.fill("Ada Lovelace")
    page.get_by_label("Street and house number").first.fill("Torstraße 1")
    page.get_by_label("City").first.fill("Berlin")
    page.get_by_label("Postal code").first.fill("10119")
    page.get_by_label("Country").first.select_option("DE")
    page.get_by_label("Standard").check()
    assert page.locator("input[autocomplete^=cc-], select[autocomplete^=cc-]").count() == 0
    assert page.locator("#provider-page-note").is_visible()
    page.get_by_role("button", name="Place order").click()


def test_a_guest_pays_on_stripes_page_and_comes_back_to_a_paid_order(
    browser_page,  # noqa: F811
    live_server,
    catalogue,
    stripe_page,
):
    page, base = browser_page, live_server.url
    _check_out(page, base)
    # on Stripe's page, for the order's total
    page.wait_for_url(re.compile(re.escape(stripe_page.url) + r"/c/pay/cs_test_\d+$"))
    order = Order.objects.get()
    assert page.get_by_role("heading", level=1).inner_text() == f"Pay {order.grand_total} EUR"
    page.get_by_role("button", name="Pay").click()
    # back on the page after checkout, paid
    page.wait_for_url(re.compile(r".*/checkout/received/\d+/$"))
    body = page.content()
    assert f"We have received order {order.number}" in body
    assert "We will email you when it ships." in body
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.READY
    assert Payment.objects.get(order=order).status == PaymentStatus.CAPTURED


def test_a_guest_who_leaves_stripes_page_is_told_nothing_was_charged_and_pays(
    browser_page,  # noqa: F811
    live_server,
    catalogue,
    stripe_page,
):
    page, base = browser_page, live_server.url
    stripe_page.webhook_url = ""  # this time the customer's return records the payment
    _check_out(page, base)
    page.wait_for_url(re.compile(re.escape(stripe_page.url) + r"/c/pay/cs_test_\d+$"))
    page.get_by_role("link", name="Back to the shop").click()
    page.wait_for_url(re.compile(r".*/orders/pay/[^/]+/$"))
    body = page.content()
    assert "nothing was charged" in body and "is not paid yet" in body
    order = Order.objects.get()
    assert Payment.objects.get(order=order).status == PaymentStatus.PENDING
    page.get_by_role("button", name=re.compile(r"^Pay .* on Stripe")).click()
    page.wait_for_url(re.compile(re.escape(stripe_page.url) + r"/c/pay/cs_test_\d+$"))
    page.get_by_role("button", name="Pay").click()
    page.wait_for_url(re.compile(r".*/checkout/received/\d+/$"))
    assert Order.objects.get(pk=order.pk).status == OrderStatus.READY

"""While no card is charged (the test gateway; Stripe with a test-mode key or with another
server in place of Stripe's), every shop page says that no real payments are taken; with a
real provider, none does. The checks that keep production from taking test payments unbidden
are run under production settings in tests/test_deploy_settings.py."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from orders.selectors import order_link_token
from orders.tests.factories import UserFactory, checkout_form, place_order
from payments.checks import check_card_provider, check_card_provider_for_deploy

pytestmark = pytest.mark.django_db

BANNER = "no real payments are taken"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def _shop_pages(client) -> dict[str, str]:
    """Every kind of customer page: the shop, checkout, the account pages, a guest's order
    page, a page that is not there. Returns path -> HTML."""
    order = place_order([("MUG-001", 1)], email="ada@example.com").order
    checkout_form(client)  # a cart, so that the checkout opens
    paths = [
        reverse("orders:product-list"),
        reverse("orders:product-detail", args=["MUG-001"]),
        reverse("orders:cart"),
        reverse("orders:checkout"),
        reverse("orders:order-link", args=[order_link_token(order)]),
        reverse("orders:login"),
        reverse("orders:register"),
        reverse("orders:password-reset"),
        "/no-such-page/",
    ]
    pages = {path: client.get(path) for path in paths}
    customer = UserFactory(username="grace@example.com", email="grace@example.com")
    client.force_login(customer)
    pages[reverse("orders:account-orders")] = client.get(reverse("orders:account-orders"))
    assert all(
        page.status_code == (404 if path == "/no-such-page/" else 200)
        for path, page in pages.items()
    ), {path: page.status_code for path, page in pages.items()}
    return {path: page.content.decode() for path, page in pages.items()}


def test_every_shop_page_says_test_mode_while_the_test_gateway_takes_cards(
    client, catalogue, settings
):
    # given the test gateway, as in the embedded demo (and production with the opt-in)
    settings.PAYMENT_CARD_PROVIDER = "test"

    # when a customer opens the shop's pages
    pages = _shop_pages(client)

    # then each one says so, at the top
    assert [path for path, html in pages.items() if BANNER not in html] == []
    assert all(
        html.index('class="test-mode-banner"') < html.index('class="site-header"')
        for html in pages.values()
    )


def _live_stripe(settings):
    settings.PAYMENT_CARD_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_live_x"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_x"
    settings.STRIPE_API_BASE = ""


def test_no_shop_page_says_test_mode_with_a_real_provider(client, catalogue, settings):
    _live_stripe(settings)

    pages = _shop_pages(client)

    assert [path for path, html in pages.items() if BANNER in html] == []


STRIPE_IN_TEST_MODE = {
    "a test secret key": {"STRIPE_SECRET_KEY": "sk_test_x"},
    "a test restricted key": {"STRIPE_SECRET_KEY": "rk_test_x"},
    "another API server": {"STRIPE_API_BASE": "http://127.0.0.1:12111"},
}


@pytest.mark.parametrize("test_mode", STRIPE_IN_TEST_MODE.values(), ids=STRIPE_IN_TEST_MODE)
def test_every_shop_page_says_test_mode_while_stripe_charges_no_card(
    client, catalogue, settings, test_mode
):
    # given Stripe, but in test mode (or a fake Stripe), allowed as on a staging site
    _live_stripe(settings)
    for name, value in test_mode.items():
        setattr(settings, name, value)

    pages = _shop_pages(client)

    assert [path for path, html in pages.items() if BANNER not in html] == []


@pytest.mark.parametrize("test_mode", STRIPE_IN_TEST_MODE.values(), ids=STRIPE_IN_TEST_MODE)
def test_stripe_in_test_mode_is_refused_for_deploy_unless_allowed(settings, test_mode):
    _live_stripe(settings)
    assert check_card_provider_for_deploy() == []
    for name, value in test_mode.items():
        setattr(settings, name, value)

    settings.PAYMENT_ALLOW_TEST_GATEWAY = False
    [refused] = check_card_provider_for_deploy()
    assert refused.id == "payments.E006"
    assert "no card is charged" in refused.msg

    settings.PAYMENT_ALLOW_TEST_GATEWAY = True
    assert check_card_provider_for_deploy() == []


def test_the_test_gateway_is_refused_for_deploy_unless_allowed(settings):
    settings.PAYMENT_CARD_PROVIDER = "test"
    settings.PAYMENT_ALLOW_TEST_GATEWAY = False
    assert [m.id for m in check_card_provider_for_deploy()] == ["payments.E001"]

    settings.PAYMENT_ALLOW_TEST_GATEWAY = True
    assert check_card_provider_for_deploy() == []


def test_stripe_needs_its_secrets_for_deploy(settings):
    settings.PAYMENT_CARD_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = "whsec_x"
    [missing] = check_card_provider_for_deploy()
    assert missing.id == "payments.E002"
    assert "STRIPE_SECRET_KEY is not set" in missing.msg

    settings.STRIPE_SECRET_KEY = "sk_live_x"
    assert check_card_provider_for_deploy() == []


def test_an_unknown_card_provider_is_an_error_everywhere(settings):
    settings.PAYMENT_CARD_PROVIDER = "paypal"
    assert [m.id for m in check_card_provider()] == ["payments.E003"]
    settings.PAYMENT_CARD_PROVIDER = "invoice"  # a payment method, not a card provider
    assert [m.id for m in check_card_provider()] == ["payments.E003"]

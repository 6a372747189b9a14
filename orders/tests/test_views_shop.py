"""The shop through HTTP: product list with search and pagination, product page, the cart,
and checkout (validation, idempotency, the order-received page). Payments are off in this
app's tests; checkout with real card payments is in tests/test_customer_flows.py."""

import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse

from orders.models import Order, OrderStatus
from orders.shop.session_cart import CHECKOUT_KEY
from orders.tests.factories import ProductFactory, UserFactory, place_order, with_shown_total
from warehouse.models import StockItem

pytestmark = pytest.mark.django_db

CARD = {
    "payment_method": "card",
    "card_number": "4242 4242 4242 4242",
    "exp_month": "12",
    "exp_year": "2035",
    "cvc": "123",
}
ADDRESS = {
    "shipping-name": "Ada Lovelace",
    "shipping-line1": "Torstraße 1",
    "shipping-city": "Berlin",
    "shipping-postal_code": "10119",
    "shipping-country": "DE",
}


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def _add(client, sku, quantity=1):
    return client.post(reverse("orders:cart-add"), {"sku": sku, "quantity": quantity})


def _token(client):
    response = client.get(reverse("orders:checkout"))
    assert response.status_code == 200
    return client.session[CHECKOUT_KEY]


def _checkout_data(token, **overrides):
    data = {
        "checkout_token": token,
        "email": "guest@example.com",
        "shipping_method": "standard",
        "billing_same": "on",
        **ADDRESS,
        **CARD,
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def _placing(client, token, **overrides):
    """The checkout as posted with "Place order": with the total the page shows for it."""
    return with_shown_total(client, _checkout_data(token, **overrides))


# --- catalogue ----------------------------------------------------------------------------


def test_the_home_page_lists_products_with_price_and_availability(client, catalogue):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Mug" in html and "10.00 EUR" in html
    assert "In stock" in html  # 60 mugs
    assert "Only 3 left" in html  # 3 lamps
    assert "Instant download" in html  # the ebook
    assert reverse("orders:product-detail", args=["MUG-001"]) in html


def test_search_finds_by_name_and_sku_and_says_when_nothing_matches(client, catalogue):
    html = client.get("/", {"q": "lamp"}).content.decode()
    assert "LAMP-001" in html and "MUG-001" not in html
    assert "TEE-001" in client.get("/", {"q": "tee-001"}).content.decode()
    empty = client.get("/", {"q": "zeppelin"})
    assert empty.status_code == 200
    assert "No products match" in empty.content.decode()


def test_products_are_paginated(client, catalogue, settings):
    settings.SHOP_PAGE_SIZE = 2
    first = client.get("/").content.decode()
    assert "Page 1 of 2" in first
    second = client.get("/", {"page": 2}).content.decode()
    assert "Page 2 of 2" in second
    # a page number out of range or not a number shows a real page, not an error
    assert client.get("/", {"page": 99}).status_code == 200
    assert client.get("/", {"page": "x"}).status_code == 200


def test_the_product_page_shows_price_availability_and_add_to_cart(client, catalogue):
    response = client.get(reverse("orders:product-detail", args=["LAMP-001"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "90.00 EUR" in html and "Only 3 left" in html
    assert "Add to cart" in html and "csrfmiddlewaretoken" in html


def test_an_unknown_or_inactive_product_is_404(client, catalogue):
    ProductFactory(sku="OLD-001", is_active=False)
    assert client.get(reverse("orders:product-detail", args=["NOPE"])).status_code == 404
    assert client.get(reverse("orders:product-detail", args=["OLD-001"])).status_code == 404


def test_an_out_of_stock_product_cannot_be_added_from_its_page(client, catalogue):
    StockItem.objects.filter(product__sku="LAMP-001").update(reserved=3)
    html = client.get(reverse("orders:product-detail", args=["LAMP-001"])).content.decode()
    assert "out of stock" in html
    assert "Add to cart" not in html


# --- cart ---------------------------------------------------------------------------------


def test_add_update_and_remove_cart_lines(client, catalogue):
    assert _add(client, "MUG-001", 2).status_code == 302
    _add(client, "TEE-001")
    html = client.get(reverse("orders:cart")).content.decode()
    assert "20.00 EUR" in html  # 2 mugs
    assert "40.00 EUR" in html  # the subtotal
    client.post(reverse("orders:cart-update"), {"sku": "MUG-001", "quantity": 5})
    assert client.session["cart"] == {"MUG-001": 5, "TEE-001": 1}
    client.post(reverse("orders:cart-update"), {"sku": "MUG-001", "quantity": 1, "remove": "1"})
    assert client.session["cart"] == {"TEE-001": 1}
    client.post(reverse("orders:cart-update"), {"sku": "TEE-001", "quantity": 0})
    assert "Your cart is empty" in client.get(reverse("orders:cart")).content.decode()


@pytest.mark.parametrize(
    ("sku", "quantity"),
    [
        ("MUG-001", 0),
        ("MUG-001", 100),
        ("MUG-001", "two"),
        ("MUG-001", "٣"),  # Arabic-Indic 3
        ("MUG-001", "３"),  # full-width 3
        ("MUG-001", "1_0"),
        ("MUG-001", "3.0"),
        ("NOPE-1", 1),
        ("", 1),
    ],
)
def test_bad_cart_input_is_refused_with_a_message(client, catalogue, sku, quantity):
    response = _add(client, sku, quantity)
    assert response.status_code == 302
    assert client.session.get("cart", {}) == {}
    page = client.get(response["Location"]).content.decode()
    assert 'class="message message-error"' in page


def test_a_quantity_in_other_digits_is_refused_and_the_cart_line_kept(client, catalogue):
    _add(client, "MUG-001", 2)
    response = client.post(reverse("orders:cart-update"), {"sku": "MUG-001", "quantity": "٣"})
    assert client.session["cart"] == {"MUG-001": 2}
    page = client.get(response["Location"]).content.decode()
    assert "Enter a whole number. Use the digits 0-9." in page


@pytest.mark.parametrize(("asked", "shown"), [("2", 2), ("٢", 1), ("２", 1), ("2.0", 1)])
def test_the_page_number_is_read_in_ascii_digits_only(client, catalogue, settings, asked, shown):
    settings.SHOP_PAGE_SIZE = 2
    response = client.get(reverse("orders:product-list"), {"page": asked})
    assert response.status_code == 200
    assert response.context["page"].number == shown


def test_the_cart_reads_prices_from_the_catalogue(client, catalogue):
    _add(client, "MUG-001", 2)
    catalogue["mug"].price = Decimal("12.50")
    catalogue["mug"].save()
    assert "25.00 EUR" in client.get(reverse("orders:cart")).content.decode()


def test_a_product_taken_off_sale_leaves_the_cart_with_a_message(client, catalogue):
    _add(client, "MUG-001")
    _add(client, "TEE-001")
    catalogue["tee"].is_active = False
    catalogue["tee"].save()
    html = client.get(reverse("orders:cart")).content.decode()
    assert "TEE-001 is no longer for sale" in html
    assert client.session["cart"] == {"MUG-001": 1}


def test_the_cart_only_takes_posts(client, catalogue):
    assert client.get(reverse("orders:cart-add")).status_code == 405
    assert client.get(reverse("orders:cart-update")).status_code == 405


def test_a_forged_session_cart_is_ignored(client, catalogue):
    session = client.session
    session["cart"] = {"MUG-001": "lots", "TEE-001": -4, "LAMP-001": 1, 3: 3}
    session.save()
    html = client.get(reverse("orders:cart")).content.decode()
    assert "LAMP-001" in html and "MUG-001" not in html


# --- checkout -----------------------------------------------------------------------------


def test_checkout_with_an_empty_cart_goes_back_to_the_cart(client, catalogue):
    response = client.get(reverse("orders:checkout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("orders:cart")


def test_checkout_places_one_order_and_lands_on_the_received_page(
    client, catalogue, django_capture_on_commit_callbacks
):
    _add(client, "MUG-001", 2)
    _add(client, "EBOOK-001")
    token = _token(client)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("orders:checkout"), _placing(client, token))
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("orders:order-received", args=[order.number])
    assert (order.channel, order.source, order.idempotency_key) == ("web", "web", token)
    assert order.email == "guest@example.com"
    assert order.customer.name == "Ada Lovelace"
    assert order.grand_total == Decimal("30.00")  # 2 x 10 + 5 + shipping 5
    assert sorted(order.lines.values_list("sku", "quantity")) == [
        ("EBOOK-001", 1),
        ("MUG-001", 2),
    ]
    assert order.billing_address.as_lines() == order.shipping_address.as_lines()
    assert client.session["cart"] == {}
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert f"We have received order {order.number}" in page.content.decode()


def test_a_double_click_or_reload_places_one_order(client, catalogue):
    _add(client, "MUG-001")
    data = _placing(client, _token(client))
    first = client.post(reverse("orders:checkout"), data)
    second = client.post(reverse("orders:checkout"), data)
    assert Order.objects.count() == 1
    assert first["Location"] == second["Location"]
    assert StockItem.objects.get(product__sku="MUG-001", warehouse__code="ber").reserved == 1


def test_two_posts_of_one_token_before_the_session_saves_place_one_order(client, catalogue):
    # The second post of a double click can arrive with the session as it was before the
    # first one finished: the idempotency key still returns the first order.
    _add(client, "MUG-001")
    token = _token(client)
    data = _placing(client, token)
    saved = dict(client.session.items())
    client.post(reverse("orders:checkout"), data)
    session = client.session
    for key, value in saved.items():
        session[key] = value
    session.save()
    response = client.post(reverse("orders:checkout"), data)
    assert Order.objects.count() == 1
    assert response["Location"].endswith(f"/{Order.objects.get().number}/")


def test_an_out_of_date_checkout_token_places_nothing(client, catalogue):
    _add(client, "MUG-001")
    _token(client)
    response = client.post(reverse("orders:checkout"), _checkout_data("forged-token"))
    assert response.status_code == 200
    assert "out of date" in response.content.decode()
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"email": "not-an-email"}, "id_email", "Enter a valid email address."),
        ({"shipping-name": ""}, "id_shipping-name", "This field is required."),
        ({"shipping-line1": ""}, "id_shipping-line1", "This field is required."),
        (
            {"shipping-postal_code": "ABC"},
            "id_shipping-postal_code",
            "&#x27;ABC&#x27; is not a valid postal code for Germany.",
        ),
        ({"shipping-country": "XX"}, "id_shipping-country", "Select a valid choice."),
        ({"shipping_method": "teleport"}, "id_shipping_method", "Select a valid choice."),
        ({"card_number": "4242 4242 4242 4241"}, "id_card_number", "not valid"),
        ({"exp_year": "2001"}, "id_exp_year", "Select a valid choice."),
        ({"cvc": "12"}, "id_cvc", "security code"),
        ({"payment_method": "invoice"}, "id_payment_method", "Select a valid choice."),
    ],
)
def test_bad_checkout_input_is_shown_on_its_field_and_places_nothing(
    client, catalogue, overrides, field, message
):
    _add(client, "MUG-001")
    response = client.post(reverse("orders:checkout"), _checkout_data(_token(client), **overrides))
    html = response.content.decode()
    assert response.status_code == 400
    assert message in html
    tags = re.findall(rf'<(?:input|select|textarea)[^>]*id="{field}(?:_\d+)?"[^>]*>', html)
    assert tags and all('aria-invalid="true"' in tag for tag in tags), tags
    assert not Order.objects.exists()
    # the card number and security code are never sent back to the browser
    for name in ("card_number", "cvc"):
        tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)
        assert "value=" not in tag


def test_a_separate_billing_address_is_validated_and_used(client, catalogue):
    _add(client, "MUG-001")
    token = _token(client)
    bad = _checkout_data(token, billing_same=None, **{"billing-name": "Ada"})
    response = client.post(reverse("orders:checkout"), bad)
    assert response.status_code == 400
    assert 'id="id_billing-line1"' in response.content.decode()
    assert not Order.objects.exists()
    good = _placing(
        client,
        token,
        billing_same=None,
        **{
            "billing-name": "Acme Ltd",
            "billing-line1": "1 Main St",
            "billing-city": "London",
            "billing-postal_code": "N1 9GU",
            "billing-country": "GB",
        },
    )
    assert client.post(reverse("orders:checkout"), good).status_code == 302
    order = Order.objects.get()
    assert order.billing_address.city == "London"
    assert order.shipping_address.city == "Berlin"


def test_digital_only_orders_need_no_shipping_address(client, catalogue):
    _add(client, "EBOOK-001")
    html = client.get(reverse("orders:checkout")).content.decode()
    assert "Shipping address" not in html
    data = {
        "checkout_token": client.session[CHECKOUT_KEY],
        "email": "reader@example.com",
        "billing-name": "Ada Lovelace",
        "billing-line1": "Torstraße 1",
        "billing-city": "Berlin",
        "billing-postal_code": "10119",
        "billing-country": "DE",
        **CARD,
    }
    assert (
        client.post(reverse("orders:checkout"), with_shown_total(client, data)).status_code == 302
    )
    order = Order.objects.get()
    assert order.shipping_address is None and order.shipping_method is None


def test_too_little_stock_at_checkout_is_a_clear_error(client, catalogue):
    _add(client, "LAMP-001", 3)
    token = _token(client)
    StockItem.objects.filter(product__sku="LAMP-001").update(reserved=2)
    response = client.post(reverse("orders:checkout"), _placing(client, token))
    assert response.status_code == 400
    assert "LAMP-001: only 1 left" in response.content.decode()
    assert not Order.objects.exists()


def test_checkout_rereads_prices_from_the_catalogue(client, catalogue):
    # given the checkout showing a mug at 10.00 (15.00 with shipping)
    _add(client, "MUG-001")
    data = _placing(client, _token(client))

    # when the mug's price goes up before "Place order"
    catalogue["mug"].price = Decimal("11.00")
    catalogue["mug"].save()
    response = client.post(reverse("orders:checkout"), data)

    # then nothing is placed: the page shows the new total and says why
    assert response.status_code == 200
    assert not Order.objects.exists()
    assert [str(m) for m in response.context["messages"]] == [
        "The total changed to 16.00 EUR (the page showed 15.00 EUR) because the items now "
        "come to 11.00 EUR (the page showed 10.00) and the tax for Germany (19%) is 2.55 EUR "
        "(the page showed 2.39). Please check it and place the order."
    ]
    assert 'id="summary-total"><strong>16.00 EUR' in response.content.decode()

    # and placed again from that page, it is placed at the new price
    shown = re.search(r'name="shown_total" value="([^"]*)"', response.content.decode()).group(1)
    assert (
        client.post(reverse("orders:checkout"), {**data, "shown_total": shown}).status_code == 302
    )
    assert Order.objects.get().lines.get().unit_price == Decimal("11.00")


def test_a_logged_in_customer_checks_out_with_their_account_email(client, catalogue):
    user = UserFactory(username="ada@example.com", email="ada@example.com", is_staff=False)
    client.force_login(user)
    _add(client, "MUG-001")
    data = _placing(client, _token(client), email="someone-else@example.com")
    client.post(reverse("orders:checkout"), data)
    order = Order.objects.get()
    assert order.email == "ada@example.com"
    assert order.customer.user == user
    assert order.events.get(type="placed").actor == user


def test_the_received_page_is_only_for_the_session_that_placed_the_order(client, catalogue):
    order = place_order(payment=None).order
    url = reverse("orders:order-received", args=[order.number])
    assert client.get(url).status_code == 404
    assert client.get(reverse("orders:order-received", args=["999999"])).status_code == 404


def test_checkout_is_rate_limited(client, catalogue, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "checkout": "2/600"}
    _add(client, "MUG-001")
    bad = _checkout_data(_token(client), email="nope")
    assert client.post(reverse("orders:checkout"), bad).status_code == 400
    assert client.post(reverse("orders:checkout"), bad).status_code == 400
    limited = client.post(reverse("orders:checkout"), bad)
    assert limited.status_code == 429
    assert "Please wait a moment" in limited.content.decode()
    assert int(limited["Retry-After"]) > 0
    assert not Order.objects.exists()


def test_every_form_carries_a_csrf_token(client, catalogue):
    enforcing = client.__class__(enforce_csrf_checks=True)
    response = enforcing.post(reverse("orders:cart-add"), {"sku": "MUG-001", "quantity": 1})
    assert response.status_code == 403
    assert "Nothing was changed" in response.content.decode()
    _add(client, "MUG-001")
    for url in (reverse("orders:product-detail", args=["MUG-001"]), reverse("orders:checkout")):
        assert "csrfmiddlewaretoken" in client.get(url).content.decode()


def test_the_order_status_after_checkout_is_received(client, catalogue):
    _add(client, "MUG-001")
    client.post(reverse("orders:checkout"), _placing(client, _token(client)))
    assert Order.objects.get().status == OrderStatus.RECEIVED


def test_a_returning_customer_starts_from_their_last_shipping_address(client, catalogue):
    user = UserFactory(username="ada@example.com", email="ada@example.com", is_staff=False)
    place_order(email="ada@example.com", user=user, payment=None)
    client.force_login(user)
    _add(client, "MUG-001")
    html = client.get(reverse("orders:checkout")).content.decode()
    assert 'value="Torstraße 1"' in html and 'value="10119"' in html
    assert 'value="ada@example.com"' in html and "disabled" in html


def test_an_out_of_date_form_never_echoes_the_card(client, catalogue):
    _add(client, "MUG-001")
    _token(client)
    html = client.post(reverse("orders:checkout"), _checkout_data("old")).content.decode()
    assert "4242 4242 4242 4242" not in html.split("Test mode")[0]
    assert 'value="Torstraße 1"' in html  # the rest of what they typed is kept

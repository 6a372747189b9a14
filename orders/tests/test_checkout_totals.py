"""The checkout shows what the order will cost before it is placed (items, shipping for the
chosen method, tax for the destination, the total), and those are the placed order's figures;
it offers only the shipping methods whose zone takes the address. Run on the demo catalogue
(`seed_demo`): every shipping method against every country the demo has a tax rate for."""

import json
import re
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse

from orders.management.commands.seed_demo import SHIPPING_METHODS, TAX_RATES, seed_catalogue
from orders.models import Order, TaxRate
from orders.tests.factories import UserFactory, checkout_form
from warehouse.models import ShippingMethod

pytestmark = pytest.mark.django_db

CART = (("MUG-001", 2), ("KETTLE-01", 1))  # 2 × 14.90 + 49.00 = 78.80
ADDRESSES = {
    "DE": {"shipping-city": "Berlin", "shipping-postal_code": "10119"},
    "AT": {"shipping-city": "Wien", "shipping-postal_code": "1010"},
    "FR": {"shipping-city": "Paris", "shipping-postal_code": "75001"},
    "NL": {"shipping-city": "Amsterdam", "shipping-postal_code": "1012 AB"},
    "GB": {"shipping-city": "London", "shipping-postal_code": "N1 9GU"},
    "US": {"shipping-city": "New York", "shipping-postal_code": "10001"},
}
COUNTRIES = [country for country, _name, _rate in TAX_RATES]
FIGURES = ("items", "shipping", "tax", "total")


def _combinations(*, served: bool) -> list[tuple[str, str]]:
    """(method, country) pairs of the demo data whose zone does (or does not) take the
    country's test address."""
    pairs = []
    for code, *_details, countries, prefixes in SHIPPING_METHODS:
        zone = ShippingMethod(countries=countries, postal_code_prefixes=prefixes)
        for country in COUNTRIES:
            postal_code = ADDRESSES[country]["shipping-postal_code"]
            if zone.serves(country, postal_code) == served:
                pairs.append((code, country))
    return pairs


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def demo(db):
    seed_catalogue()


def _address(country: str) -> dict[str, str]:
    return {"shipping-country": country, **ADDRESSES[country]}


def _figures(html: str) -> dict[str, Decimal | None]:
    """The summary's figures as the page shows them (None where it shows a dash)."""
    shown = {}
    for name in FIGURES:
        match = re.search(rf'id="summary-{name}">(?:<strong>)?([^<]*)<', html)
        assert match, f"no {name} in the summary"
        value = match.group(1).strip()
        shown[name] = Decimal(value.split()[0]) if value != "–" else None
    return shown


def _offered(html: str) -> set[str]:
    return set(re.findall(r'name="shipping_method" value="([^"]+)"', html))


def test_the_demo_data_has_an_address_for_every_country_and_both_kinds_of_pair():
    assert set(COUNTRIES) <= set(ADDRESSES)
    assert _combinations(served=True)
    assert _combinations(served=False)


@pytest.mark.parametrize("prices_include_tax", [True, False], ids=["incl-tax", "plus-tax"])
@pytest.mark.parametrize(("method", "country"), _combinations(served=True))
def test_the_total_shown_before_placing_is_the_placed_orders_total(
    client, demo, settings, method, country, prices_include_tax
):
    # given a cart and the checkout filled in for an address the method delivers to
    settings.PRICES_INCLUDE_TAX = prices_include_tax
    data = checkout_form(client, CART, shipping_method=method, **_address(country))

    # when the customer asks for the total ("Update total": nothing is placed)
    page = client.post(reverse("orders:checkout"), {**data, "update_total": "1"})

    # then the page shows the items, shipping, tax and total, offers the method, places nothing
    assert page.status_code == 200
    html = page.content.decode()
    shown = _figures(html)
    assert None not in shown.values()
    assert method in _offered(html)
    assert not Order.objects.exists()

    # and when the order is placed, its figures are the ones shown
    response = client.post(reverse("orders:checkout"), data)
    assert response.status_code == 302
    order = Order.objects.get()
    placed = {
        "items": order.lines_total,
        "shipping": order.shipping_total,
        "tax": order.tax_total,
        "total": order.grand_total,
    }
    assert shown == placed
    assert order.shipping_method.code == method
    assert order.tax_rate == TaxRate.objects.get(country=country).rate
    assert order.prices_include_tax is prices_include_tax
    rate = f"{order.tax_rate.normalize():f}%"
    assert f"Tax ({rate}{', included' if prices_include_tax else ''})" in html


@pytest.mark.parametrize(
    ("method", "country", "prices_include_tax", "expected"),
    [
        # 78.80 + 4.90 = 83.70 including 19% (13.36)
        ("standard", "DE", True, ("78.80", "4.90", "13.36", "83.70")),
        # 78.80 + 14.90 = 93.70, plus 20% (18.74)
        ("express", "GB", False, ("78.80", "14.90", "18.74", "112.44")),
        # free delivery in Berlin: 78.80 including 19% (12.58)
        ("local", "DE", True, ("78.80", "0.00", "12.58", "78.80")),
        ("express", "US", False, ("78.80", "14.90", "0.00", "93.70")),
    ],
)
def test_the_summary_adds_up(client, demo, settings, method, country, prices_include_tax, expected):
    settings.PRICES_INCLUDE_TAX = prices_include_tax
    data = checkout_form(client, CART, shipping_method=method, **_address(country))

    page = client.post(reverse("orders:checkout"), {**data, "update_total": "1"})

    shown = _figures(page.content.decode())
    assert shown == dict(zip(FIGURES, map(Decimal, expected), strict=True))


@pytest.mark.parametrize(("method", "country"), _combinations(served=False))
def test_a_method_outside_its_zone_is_not_offered_and_refused_on_the_page(
    client, demo, method, country
):
    # given the checkout filled in for an address the method does not deliver to
    data = checkout_form(client, CART, shipping_method=method, **_address(country))

    # when the customer asks for the total, the method is not offered and another is chosen
    page = client.post(reverse("orders:checkout"), {**data, "update_total": "1"})
    html = page.content.decode()
    assert method not in _offered(html)
    assert re.search(r'name="shipping_method" value="[^"]+"[^>]*checked', html)

    # and when the order is placed with it anyway, it is refused on the delivery field
    response = client.post(reverse("orders:checkout"), data)
    assert response.status_code == 400
    errors = response.context["form"].errors["shipping_method"]
    name = ShippingMethod.objects.get(code=method).name
    assert errors == [
        f"{name} does not deliver to {_country_name(country)}. Choose one of the options shown."
    ]
    assert not Order.objects.exists()


def _country_name(code: str) -> str:
    from orders.countries import country_name

    return country_name(code)


def test_own_delivery_berlin_is_refused_outside_its_postal_codes(client, demo):
    # given an address in Munich (DE, but not Berlin's 10, 12, 13, 140 or 141)
    data = checkout_form(
        client,
        CART,
        shipping_method="local",
        **{"shipping-country": "DE", "shipping-city": "München", "shipping-postal_code": "80331"},
    )

    # then Own delivery (Berlin) is not offered for it, and is refused when posted
    page = client.post(reverse("orders:checkout"), {**data, "update_total": "1"})
    assert _offered(page.content.decode()) == {"standard", "express"}
    response = client.post(reverse("orders:checkout"), data)
    assert response.status_code == 400
    assert response.context["form"].errors["shipping_method"] == [
        "Own delivery (Berlin) delivers in Germany only to postal codes starting with 10, 12, "
        "13, 140 or 141, not to 80331. Choose one of the options shown."
    ]
    assert not Order.objects.exists()


def test_before_a_country_is_chosen_every_method_is_offered_with_where_it_goes(client, demo):
    # given a guest with a cart (no address yet)
    checkout_form(client, CART)

    # when the checkout opens
    html = client.get(reverse("orders:checkout")).content.decode()

    # then every method is offered, the local one saying where it goes, and the summary asks
    # for the country before it shows the tax and the total
    assert _offered(html) == {"standard", "express", "local"}
    assert "Own delivery (Berlin): 0.00 EUR" in html
    assert "Germany: postal codes starting 10, 12, 13, 140, 141 only" in html
    assert _figures(html) == {"items": Decimal("78.80"), "shipping": Decimal("4.90")} | {
        "tax": None,
        "total": None,
    }
    assert "Choose the shipping country to see the tax and the total." in html


def test_a_returning_customer_sees_the_total_for_their_last_address_at_once(client, demo):
    # given a customer whose last order went to London
    user = UserFactory(username="ada@example.com", email="ada@example.com", is_staff=False)
    client.force_login(user)
    data = checkout_form(client, CART, shipping_method="express", **_address("GB"))
    assert client.post(reverse("orders:checkout"), data).status_code == 302
    checkout_form(client, CART)

    # when the checkout opens
    html = client.get(reverse("orders:checkout")).content.decode()

    # then only the methods for London are offered, and the total (standard, 20% included)
    # is there before anything is posted
    assert _offered(html) == {"standard", "express"}
    assert _figures(html)["total"] == Decimal("83.70")


def test_no_method_for_the_address_is_a_clear_error(client, demo):
    # given an address in Japan, which no demo method delivers to
    address = {
        "shipping-country": "JP",
        "shipping-city": "Tokyo",
        "shipping-postal_code": "100-0001",
    }
    data = checkout_form(client, CART, shipping_method="standard", **address)

    # when the total is asked for, the page says there is no delivery option and no total
    page = client.post(reverse("orders:checkout"), {**data, "update_total": "1"})
    html = page.content.decode()
    assert _offered(html) == set()
    message = "We have no delivery option for Japan 100-0001. Please choose another address."
    assert message in html
    assert _figures(html)["total"] is None

    # and placing is refused on the delivery field
    response = client.post(reverse("orders:checkout"), {**data, "shipping_method": ""})
    assert response.status_code == 400
    assert response.context["form"].errors["shipping_method"] == [message]
    assert not Order.objects.exists()


# --- digital goods: no shipping, tax for the billing country ------------------------------


@pytest.mark.parametrize("country", ["DE", "GB", "US"])
def test_a_digital_cart_shows_no_shipping_and_the_tax_of_the_billing_country(client, demo, country):
    # given an ebook in the cart and the billing address in `country`
    billing = {
        f"billing-{name.split('-', 1)[1]}": value for name, value in _address(country).items()
    }
    data = checkout_form(
        client,
        (("EBOOK-COFFEE", 1),),
        **{"billing-name": "Ada Lovelace", "billing-line1": "Torstraße 1", **billing},
    )
    for name in [key for key in data if key.startswith("shipping")] + ["billing_same"]:
        data.pop(name)

    # when the total is asked for
    page = client.post(reverse("orders:checkout"), {**data, "update_total": "1"})
    html = page.content.decode()

    # then there is no shipping line, and the figures are the placed order's
    assert 'id="summary-shipping"' not in html
    shown = {
        name: Decimal(re.search(rf'id="summary-{name}">(?:<strong>)?(\S+)', html).group(1))
        for name in ("items", "tax", "total")
    }
    assert client.post(reverse("orders:checkout"), data).status_code == 302
    order = Order.objects.get()
    assert order.shipping_method is None
    assert shown == {"items": order.lines_total, "tax": order.tax_total, "total": order.grand_total}
    assert order.tax_rate == TaxRate.objects.get(country=country).rate


# --- the summary the page's script asks for -------------------------------------------------


def _summary(client, data):
    sent = {key: value for key, value in data.items() if key not in ("card_number", "cvc")}
    response = client.post(reverse("orders:checkout-summary"), sent)
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    return json.loads(response.content)


def test_the_summary_follows_the_country_and_the_method(client, demo):
    # given the checkout for Berlin with the free local delivery
    data = checkout_form(client, CART, shipping_method="local", **_address("DE"))

    # when the script asks for the summary
    berlin = _summary(client, data)

    # then Berlin gets the three options and the local delivery's total
    assert _offered(berlin["delivery"]) == {"standard", "express", "local"}
    assert _figures(berlin["summary"])["total"] == Decimal("78.80")

    # when the country changes to the United Kingdom, the local delivery goes, the default
    # (standard) is chosen, and the total is London's (20% included)
    london = _summary(client, {**data, **_address("GB")})
    assert _offered(london["delivery"]) == {"standard", "express"}
    assert re.search(r'value="standard"[^>]*checked', london["delivery"])
    assert _figures(london["summary"]) == {
        "items": Decimal("78.80"),
        "shipping": Decimal("4.90"),
        "tax": Decimal("13.95"),
        "total": Decimal("83.70"),
    }

    # and when the method changes to express, so does the total
    express = _summary(client, {**data, **_address("GB"), "shipping_method": "express"})
    assert _figures(express["summary"])["total"] == Decimal("93.70")
    assert not Order.objects.exists()


def test_the_summary_needs_a_cart_and_a_post(client, demo):
    response = client.post(reverse("orders:checkout-summary"), {"shipping-country": "DE"})
    assert response.status_code == 409
    assert json.loads(response.content) == {"error": "Your cart is empty."}
    assert client.get(reverse("orders:checkout-summary")).status_code == 405


def test_the_summary_takes_a_constant_number_of_queries(
    client, demo, django_assert_max_num_queries
):
    data = checkout_form(client, CART, shipping_method="standard", **_address("DE"))
    with django_assert_max_num_queries(6):
        _summary(client, data)
    many = (*CART, ("TEE-M-BLK", 1), ("LAMP-DESK", 1), ("EBOOK-COFFEE", 1))
    data = checkout_form(client, many, shipping_method="standard", **_address("DE"))
    with django_assert_max_num_queries(6):
        _summary(client, data)


def test_the_summary_carries_the_figures_it_shows_for_place_order(client, demo):
    # given the checkout for Berlin, standard delivery
    data = checkout_form(client, CART, shipping_method="standard", **_address("DE"))

    # when the script asks for the summary, for Berlin and then for Vienna
    for country in ("DE", "AT"):
        summary = _summary(client, {**data, **_address(country)})["summary"]

        # then the summary it puts in place carries the figures it shows, for Place order
        shown = _shown_value(summary)
        figures = _figures(summary)
        currency, items, method, shipping, tax, total = shown.split("|")
        assert (currency, method) == ("EUR", "standard")
        assert tuple(map(Decimal, (items, shipping, tax, total))) == tuple(figures.values())

    # and a summary without a total (no country yet) carries none
    no_country = _summary(client, {**data, "shipping-country": ""})["summary"]
    assert _shown_value(no_country) == ""


def _shown_value(html: str) -> str:
    return re.search(r'<input type="hidden" name="shown_total" value="([^"]*)"', html).group(1)


def _posted_form(html: str, data: dict[str, str]) -> dict[str, str]:
    """`data` as the page in `html` posts it with "Place order": with its shown total."""
    return {**data, "shown_total": _shown_value(html)}


def test_an_order_is_not_placed_at_a_total_the_page_did_not_show(client, demo, settings):
    # given prices before tax, two mugs, and the page showing the total for Berlin with
    # standard delivery: 29.80 + 4.90 = 34.70, plus 19% = 41.29
    settings.PRICES_INCLUDE_TAX = False
    berlin = checkout_form(client, (("MUG-001", 2),), shipping_method="standard", **_address("DE"))
    page = client.post(reverse("orders:checkout"), {**berlin, "update_total": "1"})
    assert _figures(page.content.decode())["total"] == Decimal("41.29")

    # when the country is changed to Austria and "Place order" pressed at once (no "Update
    # total", or before the script's new total arrived)
    vienna = {**_posted_form(page.content.decode(), berlin), **_address("AT")}
    response = client.post(reverse("orders:checkout"), vienna)

    # then nothing is placed: the page shows Austria's total and says why
    assert response.status_code == 200
    assert not Order.objects.exists()
    html = response.content.decode()
    assert _figures(html) == {
        "items": Decimal("29.80"),
        "shipping": Decimal("4.90"),
        "tax": Decimal("6.94"),
        "total": Decimal("41.64"),
    }
    assert [str(message) for message in response.context["messages"]] == [
        "The total changed to 41.64 EUR (the page showed 41.29 EUR) because the tax for "
        "Austria (20%) is 6.94 EUR (the page showed 6.59). Please check it and place the order."
    ]
    assert 'value="Wien"' in html  # what was typed is kept

    # when "Place order" is pressed on that page, the order is placed at the total it showed
    response = client.post(reverse("orders:checkout"), _posted_form(html, vienna))
    assert response.status_code == 302
    order = Order.objects.get()
    assert (order.tax_total, order.grand_total) == (Decimal("6.94"), Decimal("41.64"))
    assert order.shipping_address.country == "AT"


def test_placing_at_the_total_the_page_showed_takes_one_post(client, demo):
    # given a returning customer, whose checkout opens with the total for their last address
    user = UserFactory(username="ada@example.com", email="ada@example.com", is_staff=False)
    client.force_login(user)
    data = checkout_form(client, CART, shipping_method="express", **_address("GB"))
    assert client.post(reverse("orders:checkout"), data).status_code == 302
    checkout_form(client, CART)
    page = client.get(reverse("orders:checkout")).content.decode()
    assert _figures(page)["total"] == Decimal("83.70")
    data = checkout_form(client, (), shipping_method="standard", **_address("GB"))

    # when "Place order" is pressed on that page
    response = client.post(reverse("orders:checkout"), _posted_form(page, data))

    # then the order is placed, at that total, in one post
    assert response.status_code == 302
    assert Order.objects.order_by("-pk").first().grand_total == Decimal("83.70")


def test_without_a_total_shown_the_page_shows_it_before_placing(client, demo):
    # given a guest's checkout, which opens without a country and so without a total
    data = checkout_form(client, CART, shipping_method="standard", **_address("DE"))
    page = client.get(reverse("orders:checkout")).content.decode()
    assert _figures(page)["total"] is None

    # when the address is typed and "Place order" pressed without asking for the total
    response = client.post(reverse("orders:checkout"), _posted_form(page, data))

    # then the page shows the total and asks to check it; nothing is placed
    assert response.status_code == 200
    assert not Order.objects.exists()
    assert [str(message) for message in response.context["messages"]] == [
        "The total for this address and delivery is 83.70 EUR. Please check it and place the order."
    ]
    html = response.content.decode()
    assert _figures(html)["total"] == Decimal("83.70")

    # and "Place order" on that page places it
    assert client.post(reverse("orders:checkout"), _posted_form(html, data)).status_code == 302
    assert Order.objects.get().grand_total == Decimal("83.70")


def test_a_changed_delivery_is_named_in_the_message(client, demo):
    # given the page showing Berlin's total with standard delivery (4.90)
    data = checkout_form(client, CART, shipping_method="standard", **_address("DE"))
    page = client.post(reverse("orders:checkout"), {**data, "update_total": "1"})

    # when express (14.90) is chosen and "Place order" pressed before the page showed it
    response = client.post(
        reverse("orders:checkout"),
        {**_posted_form(page.content.decode(), data), "shipping_method": "express"},
    )

    # then the message names the delivery and its price
    assert not Order.objects.exists()
    (message,) = [str(message) for message in response.context["messages"]]
    assert message.startswith(
        "The total changed to 93.70 EUR (the page showed 83.70 EUR) because the delivery is "
        "Express and shipping is 14.90 EUR (the page showed 4.90) and the tax for Germany"
    )


def test_a_changed_tax_is_shown_first_even_when_the_total_stays(client, demo):
    # given prices including tax, and the page showing Berlin's total (19% included)
    data = checkout_form(client, CART, shipping_method="standard", **_address("DE"))
    page = client.post(reverse("orders:checkout"), {**data, "update_total": "1"})
    assert _figures(page.content.decode())["tax"] == Decimal("13.36")

    # when the address moves to Vienna (20% included: the same total, another tax)
    vienna = {**_posted_form(page.content.decode(), data), **_address("AT")}
    response = client.post(reverse("orders:checkout"), vienna)

    # then the page shows the tax the order would have, and says the total stays
    assert not Order.objects.exists()
    assert [str(message) for message in response.context["messages"]] == [
        "The order summary changed because the tax for Austria (20%) is 13.95 EUR (the page "
        "showed 13.36); the total is still 83.70 EUR. Please check it and place the order."
    ]
    html = response.content.decode()
    assert _figures(html)["tax"] == Decimal("13.95")
    assert client.post(reverse("orders:checkout"), _posted_form(html, vienna)).status_code == 302
    assert Order.objects.get().tax_total == Decimal("13.95")


def test_the_summary_is_rate_limited_in_a_scope_of_its_own(client, demo, settings):
    # given a limit of 3 summaries per 10 minutes (RATE_LIMIT_CHECKOUT_SUMMARY)
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "checkout_summary": "3/600"}
    data = checkout_form(client, CART, shipping_method="standard", **_address("DE"))  # 1

    # when the script asks for it more often than that
    _summary(client, data)
    _summary(client, data)
    limited = client.post(reverse("orders:checkout-summary"), data)

    # then the next is refused with 429 and when to try again (the page's script then shows
    # its "Update total" button)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0

    # and the checkout itself is counted apart: its "Update total" and "Place order" work
    page = client.post(reverse("orders:checkout"), {**data, "update_total": "1"})
    assert _figures(page.content.decode())["total"] == Decimal("83.70")
    assert client.post(reverse("orders:checkout"), data).status_code == 302

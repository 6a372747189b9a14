"""Country codes are ISO 3166-1 alpha-2 codes from pycountry's list wherever an address, a tax
rate, a warehouse or SHIPPING_COUNTRIES names one: "XX" is refused with a clear message."""

import io

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse

from orders.countries import check_orders_to_unknown_countries, check_shipping_countries
from orders.models import Address, HoldReason, Order, OrderStatus, TaxRate
from orders.permissions import MANAGERS
from orders.services import (
    address_problems,
    order_hold,
)
from orders.shop.forms.addresses import AddressForm, country_choices
from orders.tests.factories import CustomerFactory, UserFactory, place_order, staff_user
from orders.tests.test_admin import _draft_data, _inline_management_data
from warehouse.models import Warehouse

pytestmark = pytest.mark.django_db


def _address(country: str) -> Address:
    return Address(
        name="Ada", line1="1 Main St", city="Berlin", postal_code="10119", country=country
    )


@pytest.mark.parametrize("code", ["XX", "ZZ", "UK", "EU", "١٢"])
def test_the_placement_service_refuses_codes_that_are_no_country(code):
    problems = address_problems(_address(code))
    assert problems == [
        f"“{code}” is not a country code: use the two-letter ISO code, such as DE, GB or US."
    ]


def test_the_model_refuses_a_code_that_is_no_country_and_asks_for_capitals():
    with pytest.raises(ValidationError) as refused:
        _address("XX").full_clean()
    assert "is not a country code" in refused.value.message_dict["country"][0]
    with pytest.raises(ValidationError) as lower:
        _address("de").full_clean()
    assert lower.value.message_dict["country"] == ["Write the country code in capitals: DE."]
    _address("DE").full_clean()


def test_checkout_never_offers_a_configured_code_that_is_no_country(settings):
    settings.SHIPPING_COUNTRIES = ["DE", "XX"]
    assert country_choices() == [("", "Choose a country"), ("DE", "Germany")]
    form = AddressForm({"name": "Ada", "line1": "1 Main St", "city": "X", "country": "XX"})
    assert "country" in form.errors


def test_billing_addresses_may_be_in_any_iso_country():
    codes = {code for code, _name in AddressForm(deliverable=False).fields["country"].choices}
    assert {"BR", "KE", "VN", "AQ"} <= codes
    assert "XX" not in codes


def test_a_bad_shipping_countries_setting_is_a_system_check_error(settings):
    settings.SHIPPING_COUNTRIES = ["DE", "XX"]
    errors = check_shipping_countries()
    assert [error.id for error in errors] == ["orders.E001"]
    assert "'XX'" in errors[0].msg
    with pytest.raises(SystemCheckError, match=r"orders\.E001"):
        call_command("check")
    settings.SHIPPING_COUNTRIES = ["DE", "GB"]
    assert check_shipping_countries() == []


def test_a_staff_draft_to_xx_is_refused_on_the_country_field(client, catalogue):
    client.force_login(staff_user(MANAGERS))
    add_url = reverse("admin:orders_order_add")
    page = client.get(add_url)
    data = {
        **_draft_data(catalogue, CustomerFactory(), shipping_country="XX"),
        **_inline_management_data(page, lines=1),
        "lines-0-product": str(catalogue["mug"].pk),
        "lines-0-quantity": "1",
    }
    response = client.post(add_url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["shipping_country"] == [
        "“XX” is not a country code: use the two-letter ISO code, such as DE, GB or US."
    ]
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("url", "data", "model"),
    [
        ("admin:orders_taxrate_add", {"name": "VAT", "rate": "20.00"}, TaxRate),
        (
            "admin:warehouse_warehouse_add",
            {"code": "xx1", "name": "Nowhere", "city": "X", "priority": "1", "is_active": "on"},
            Warehouse,
        ),
    ],
)
def test_the_staff_console_refuses_xx_for_tax_rates_and_warehouses(admin_client, url, data, model):
    response = admin_client.post(reverse(url), {**data, "country": "XX"})
    assert response.status_code == 200
    assert "is not a country code" in response.context["adminform"].form.errors["country"][0]
    assert not model.objects.filter(country="XX").exists()


# --- orders placed before codes were checked ------------------------------------------------


def _legacy_order(country: str, status: str = "received", **kwargs) -> Order:
    """An order whose shipping country was stored before codes were checked."""
    order = place_order(payment=None, **kwargs).order
    Address.objects.filter(pk=order.shipping_address_id).update(country=country)
    Order.objects.filter(pk=order.pk).update(status=status)
    return Order.objects.get(pk=order.pk)


def _open_address_holds(order: Order) -> int:
    return order.holds.filter(reason=HoldReason.ADDRESS_INVALID, released_at__isnull=True).count()


def test_check_country_codes_holds_orders_still_to_ship_to_no_country(catalogue):
    # given
    received = _legacy_order("XX")
    confirmed = _legacy_order("UK", "confirmed")
    held_for_stock = _legacy_order("de")
    order_hold(order_id=held_for_stock.pk, actor="test", reason=HoldReason.OUT_OF_STOCK)
    fine = _legacy_order("DE")
    shipped = _legacy_order("XX", "shipped")
    cancelled = _legacy_order("XX", "cancelled")
    # when
    out = io.StringIO()
    call_command("check_country_codes", stdout=out)
    # then
    for order in (received, confirmed, held_for_stock):
        order.refresh_from_db()
        assert order.status == OrderStatus.ON_HOLD
        assert _open_address_holds(order) == 1
        assert f"{order.number} (" in out.getvalue()
    assert Order.objects.get(pk=confirmed.pk).held_from == OrderStatus.CONFIRMED
    hold = received.holds.get(reason=HoldReason.ADDRESS_INVALID)
    assert "“XX” is not an ISO 3166-1 country code" in hold.message
    for order, status in ((fine, "received"), (shipped, "shipped"), (cancelled, "cancelled")):
        assert Order.objects.get(pk=order.pk).status == status
        assert order.number not in out.getvalue()
    assert "3 orders with a country code that is not one." in out.getvalue()

    # running it again holds nothing twice
    again = io.StringIO()
    call_command("check_country_codes", stdout=again)
    assert again.getvalue().count("already held for its address") == 3
    for order in (received, confirmed, held_for_stock):
        assert _open_address_holds(order) == 1


def test_check_country_codes_dry_run_only_lists(catalogue):
    order = _legacy_order("XX")
    out = io.StringIO()
    call_command("check_country_codes", "--dry-run", stdout=out)
    assert f"{order.number} (received) ships to “XX”: would be held" in out.getvalue()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.RECEIVED
    assert not order.holds.exists()


def test_a_database_check_warns_while_such_orders_wait(catalogue):
    assert check_orders_to_unknown_countries(databases=["default"]) == []
    _legacy_order("XX")
    _legacy_order("XX", "shipped")
    warnings = check_orders_to_unknown_countries(databases=["default"])
    assert [warning.id for warning in warnings] == ["orders.W001"]
    assert warnings[0].msg.startswith("1 order still to ship has a shipping country")
    assert "check_country_codes" in warnings[0].hint
    # only where a database is asked for: `check --database default`, `migrate`
    assert check_orders_to_unknown_countries() == []
    err = io.StringIO()
    call_command("check", "--database", "default", stderr=err)
    assert "orders.W001" in err.getvalue()


def test_the_customer_can_put_a_country_that_is_no_country_right(client, catalogue):
    # given: an order held by check_country_codes
    cache.clear()
    user = UserFactory(username="ada@example.com", email="ada@example.com", is_staff=False)
    CustomerFactory(email=user.email, user=user)
    order = _legacy_order("XX", email=user.email, user=user)
    call_command("check_country_codes", stdout=io.StringIO())
    client.force_login(user)
    url = reverse("orders:account-order-address", args=[order.number])
    # when: the form offers the countries we ship to, not only "XX"
    form = client.get(url).context["form"]
    offered = {code for code, _name in form.fields["country"].choices}
    assert {"DE", "GB", "FR"} <= offered and "XX" not in offered
    new_address = {
        "name": "Ada",
        "line1": "Torstraße 1",
        "city": "Berlin",
        "postal_code": "10119",
        "country": "DE",
    }
    response = client.post(url, new_address, follow=True)
    # then
    assert "The shipping address is changed." in response.content.decode()
    order.refresh_from_db()
    assert order.shipping_address.country == "DE"
    note = order.events.get(data__change="shipping_country")
    assert not note.customer_visible
    assert "from “XX” (not a country code) to DE" in note.message
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ON_HOLD  # staff release it

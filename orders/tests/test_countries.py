"""Country codes are ISO 3166-1 alpha-2 codes from pycountry's list wherever an address, a tax
rate, a warehouse or SHIPPING_COUNTRIES names one: "XX" is refused with a clear message."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse

from orders.countries import check_shipping_countries
from orders.models import Address, Order, TaxRate
from orders.permissions import MANAGERS
from orders.services import address_problems
from orders.shop.forms.addresses import AddressForm, country_choices
from orders.tests.factories import CustomerFactory, staff_user
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

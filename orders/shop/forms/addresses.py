"""Postal addresses at checkout and on the order page, and the countries we ship to."""

from typing import Any

from django import forms
from django.conf import settings

from orders.countries import NAMES as COUNTRY_NAMES
from orders.countries import country_name
from orders.review import postal_code_problem
from orders.services import AddressInput, address_problems
from orders.shop.forms.customer_form import CustomerForm

# Destinations offered at checkout when SHIPPING_COUNTRIES is not set (it replaces them when
# it is); names and the codes themselves are ISO 3166's (orders.countries).
DEFAULT_DESTINATIONS = (
    "AT", "AU", "BE", "CA", "CH", "CZ", "DE", "DK", "ES", "FI", "FR", "GB", "GR", "HU", "IE",
    "IT", "JP", "LU", "NL", "NO", "NZ", "PL", "PT", "SE", "US",
)  # fmt: skip


def country_choices(only: list[str] | None = None) -> list[tuple[str, str]]:
    """The destinations to offer (`only`, else SHIPPING_COUNTRIES, else the defaults), by name;
    a code that is not a country is never offered (the system check names it)."""
    allowed = [
        code.upper() for code in (only or settings.SHIPPING_COUNTRIES or DEFAULT_DESTINATIONS)
    ]
    choices = [(code, country_name(code)) for code in allowed if code in COUNTRY_NAMES]
    return [("", "Choose a country"), *sorted(choices, key=lambda choice: choice[1])]


class AddressForm(CustomerForm):
    name = forms.CharField(label="Full name", max_length=200)
    company = forms.CharField(label="Company", max_length=200, required=False)
    line1 = forms.CharField(label="Street and house number", max_length=200)
    line2 = forms.CharField(label="Apartment, floor, etc.", max_length=200, required=False)
    postal_code = forms.CharField(label="Postal code", max_length=20, required=False)
    city = forms.CharField(label="City", max_length=100)
    region = forms.CharField(label="Region / state", max_length=100, required=False)
    country = forms.ChoiceField(label="Country")
    phone = forms.CharField(label="Phone", max_length=32, required=False)

    autocomplete = {
        "name": "name",
        "company": "organization",
        "line1": "address-line1",
        "line2": "address-line2",
        "postal_code": "postal-code",
        "city": "address-level2",
        "region": "address-level1",
        "country": "country",
        "phone": "tel",
    }

    def __init__(
        self,
        *args: Any,
        deliverable: bool = True,
        countries: list[str] | None = None,
        section: str = "",
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.deliverable = deliverable
        self.fields["country"].choices = country_choices(countries if deliverable else None)
        if not deliverable:
            # Billing addresses may be anywhere.
            self.fields["country"].choices = country_choices(list(COUNTRY_NAMES))
        for name, token in self.autocomplete.items():
            value = f"{section} {token}" if section else token
            self.fields[name].widget.attrs["autocomplete"] = value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        country = data.get("country", "")
        problem = postal_code_problem(country, data.get("postal_code", ""))
        if problem:
            self.add_error("postal_code", problem)
            return data
        for message in address_problems(self.to_input().to_model(), deliverable=self.deliverable):
            self.add_error("country" if "ship to" in message else None, message)
        return data

    def to_input(self) -> AddressInput:
        data = self.cleaned_data
        return AddressInput(
            name=data["name"],
            company=data.get("company", ""),
            line1=data["line1"],
            line2=data.get("line2", ""),
            postal_code=data.get("postal_code", "").upper(),
            city=data["city"],
            region=data.get("region", ""),
            country=data["country"],
            phone=data.get("phone", ""),
        )

    @classmethod
    def initial_from(cls, address: Any) -> dict[str, str]:
        if address is None:
            return {}
        return {name: getattr(address, name, "") for name in cls.base_fields}

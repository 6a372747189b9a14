"""Countries by their ISO 3166-1 alpha-2 code, from pycountry's copy of the standard rather
than a list of our own: what an address, a tax rate, a warehouse and SHIPPING_COUNTRIES may
name. Codes are stored in capitals."""

from typing import Any

import pycountry
from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ValidationError

NAMES: dict[str, str] = {
    country.alpha_2: getattr(country, "common_name", None) or country.name
    for country in pycountry.countries
}
EXAMPLES = "such as DE, GB or US"


def country_name(code: str) -> str:
    return NAMES.get(code, code)


def country_code_problem(value: str) -> str:
    """Why `value` is not a country code, in words for the person who typed it; "" when it
    is one."""
    if value in NAMES:
        return ""
    if not value:
        return f"The country is missing: use its two-letter ISO code, {EXAMPLES}."
    if value.upper() in NAMES:
        return f"Write the country code in capitals: {value.upper()}."
    return f"“{value}” is not a country code: use the two-letter ISO code, {EXAMPLES}."


def validate_country_code(value: str) -> None:
    problem = country_code_problem(value)
    if problem:
        raise ValidationError(problem, code="invalid_country")


def check_shipping_countries(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A system check: every SHIPPING_COUNTRIES entry is a country code."""
    return [
        Error(
            f"SHIPPING_COUNTRIES names {code!r}, which is not an ISO 3166-1 alpha-2 country code.",
            hint=f"List two-letter codes separated by commas, {EXAMPLES}.",
            obj="settings.SHIPPING_COUNTRIES",
            id="orders.E001",
        )
        for code in settings.SHIPPING_COUNTRIES
        if code not in NAMES
    ]

"""Countries by their ISO 3166-1 alpha-2 code, from pycountry's copy of the standard rather
than a list of our own: what an address, a tax rate, a warehouse and SHIPPING_COUNTRIES may
name. Codes are stored in capitals."""

from typing import TYPE_CHECKING, Any

import pycountry
from django.conf import settings
from django.core import checks
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.template.defaultfilters import pluralize

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from orders.models import Order

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


# Placed and not yet shipped, delivered or cancelled: where a shipping address still matters
# and a hold is still possible (or, for a held order, a further reason).
ORDERS_STILL_TO_SHIP = ("received", "on_hold", "confirmed", "ready", "picking", "packed")


def orders_to_unknown_countries(using: str = "default") -> "QuerySet[Order]":
    """Orders still to ship whose shipping address names no ISO 3166-1 country: placed before
    codes were checked (XX, UK, a lower-case de)."""
    from orders.models import Order

    return (
        Order.objects.using(using)
        .filter(status__in=ORDERS_STILL_TO_SHIP, shipping_address__isnull=False)
        .exclude(shipping_address__country__in=list(NAMES))
        .select_related("shipping_address")
        .order_by("pk")
    )


def check_orders_to_unknown_countries(
    app_configs: Any = None, databases: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    """A database system check (`manage.py check --database default`, and `migrate`):
    orders still to ship to a country code that is not one."""
    messages: list[CheckMessage] = []
    for alias in databases or ():
        try:
            count = orders_to_unknown_countries(alias).count()
        except DatabaseError:  # not migrated yet: nothing to look at
            continue
        if count:
            messages.append(
                checks.Warning(
                    f"{count} order{pluralize(count)} still to ship "
                    f"{pluralize(count, 'has,have')} a shipping country that is not an "
                    f"ISO 3166-1 alpha-2 code (database {alias!r}).",
                    hint="Run `python manage.py check_country_codes` to list them and hold them "
                    "as address_invalid.",
                    id="orders.W001",
                )
            )
    return messages

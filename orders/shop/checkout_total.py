"""The total the checkout page showed, and whether placing the order would charge it.

The page's summary carries its figures in a hidden field (`shown_total`), kept in step with
what it displays: the server renders both, and checkout.js puts the summary (the field with
it) in place whenever it asks for a new one. Placing compares them with the price now
(orders.services.order_quote); when they differ, or the page showed no total, the order is
not placed and the page comes back with the new summary and says why.

The field is not signed: it only says what the customer saw. Whatever it says, the order is
priced by order_place itself; a field made up to match only skips the customer's own check.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from orders.countries import country_name
from orders.services import Quote

FIELD = "shown_total"


@dataclass(frozen=True)
class ShownFigures:
    currency: str
    items: Decimal
    method: str
    shipping: Decimal
    tax: Decimal
    total: Decimal


def shown_value(quote: Quote | None) -> str:
    """The hidden field's value for a summary priced as `quote` ("" when it shows no total):
    "EUR|29.80|standard|4.90|6.59|41.29"."""
    if quote is None:
        return ""
    method = quote.shipping_method.code if quote.shipping_method is not None else ""
    parts = (
        quote.currency,
        quote.lines_total,
        method,
        quote.shipping_total,
        quote.tax_total,
        quote.grand_total,
    )
    return "|".join(str(part) for part in parts)


def parse_shown(value: str) -> ShownFigures | None:
    """What the page showed, from its hidden field; None when it showed no total (or the
    field is not one the page wrote)."""
    parts = (value or "").split("|")
    if len(parts) != 6:
        return None
    currency, items, method, shipping, tax, total = parts
    try:
        amounts = [Decimal(amount) for amount in (items, shipping, tax, total)]
    except InvalidOperation:
        return None
    if not all(amount.is_finite() for amount in amounts):
        return None
    return ShownFigures(currency, amounts[0], method, amounts[1], amounts[2], amounts[3])


def total_change(shown: str, quote: Quote, *, country: str) -> str:
    """Why the order cannot be placed at what the page showed: "" when the page showed
    exactly `quote`'s figures, else a message saying what the total is now and why.
    `country`: the destination's country code (the tax's)."""
    if shown == shown_value(quote):
        return ""
    currency = quote.currency
    before = parse_shown(shown)
    if before is None:
        return (
            f"The total for this address and delivery is {quote.grand_total} {currency}. "
            "Please check it and place the order."
        )
    reasons = []
    if before.currency != currency:
        reasons.append(f"the order is priced in {currency}, not {before.currency}")
    if before.items != quote.lines_total:
        reasons.append(
            f"the items now come to {quote.lines_total} {currency} (the page showed {before.items})"
        )
    method = quote.shipping_method
    if method is not None and before.method != method.code:
        reasons.append(f"the delivery is {method.name}")
    if before.shipping != quote.shipping_total:
        reasons.append(
            f"shipping is {quote.shipping_total} {currency} (the page showed {before.shipping})"
        )
    if before.tax != quote.tax_total:
        rate = f"{quote.tax_rate.normalize():f}%"
        reasons.append(
            f"the tax for {country_name(country)} ({rate}) is {quote.tax_total} {currency} "
            f"(the page showed {before.tax})"
        )
    because = " and ".join(reasons) or "the order's figures changed"
    if before.total != quote.grand_total or before.currency != currency:
        return (
            f"The total changed to {quote.grand_total} {currency} (the page showed "
            f"{before.total} {before.currency}) because {because}. "
            "Please check it and place the order."
        )
    return (
        f"The order summary changed because {because}; the total is still "
        f"{quote.grand_total} {currency}. Please check it and place the order."
    )

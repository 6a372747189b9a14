"""Prices, tax and shipping: what an order costs, from the catalogue, the tax rate of its
destination and its shipping method, and when it is promised to ship."""

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings

from orders.exceptions import InvalidOrder
from orders.models import Order, OrderLine, TaxRate
from warehouse.models import Product, ShippingMethod

CENT = Decimal("0.01")


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def compute_tax(
    *, taxable: Decimal, rate_percent: Decimal, prices_include_tax: bool
) -> tuple[Decimal, Decimal]:
    """Returns (tax, grand total) for an amount stated with or without tax."""
    rate = rate_percent / Decimal(100)
    if prices_include_tax:
        tax = _money(taxable - taxable / (1 + rate))
        return tax, _money(taxable)
    tax = _money(taxable * rate)
    return tax, _money(taxable + tax)


def add_working_days(start: date, days: int) -> date:
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def _shipping_method(code: str | None) -> ShippingMethod | None:
    if not code:
        return None
    try:
        return ShippingMethod.objects.get(code=code, is_active=True)
    except ShippingMethod.DoesNotExist as exc:
        raise InvalidOrder(
            f"Unknown shipping method {code!r}.",
            fields={"shipping_method": [f"{code!r} is not an active shipping method."]},
        ) from exc


def shipping_methods_serving(*, country: str, postal_code: str = "") -> list[ShippingMethod]:
    """The active shipping methods whose zone takes this address, cheapest first."""
    methods = ShippingMethod.objects.filter(is_active=True).order_by("price", "code")
    return [method for method in methods if method.serves(country, postal_code)]


def _tax_rate(country: str) -> Decimal:
    rate = TaxRate.objects.filter(country=country.upper()).values_list("rate", flat=True).first()
    return rate if rate is not None else Decimal("0")


def _price_order(order: Order, lines: Sequence[OrderLine], products: dict[str, Product]) -> None:
    """Snapshot catalogue prices onto the lines and compute the order's totals, once."""
    currency = order.currency
    for line in lines:
        product = products[line.sku]
        if product.currency != currency:
            raise InvalidOrder(
                f"{product.sku} is priced in {product.currency}, the order is in {currency}.",
                fields={"lines": [f"{product.sku}: currency mismatch."]},
            )
        line.product = product
        line.name = product.name
        line.product_kind = product.kind
        line.unit_price = product.price
        line.line_total = _money(product.price * line.quantity)
    order.lines_total = _money(sum((line.line_total for line in lines), Decimal("0")))
    needs_shipping = any(products[line.sku].needs_shipping for line in lines)
    method = order.shipping_method if needs_shipping else None
    order.shipping_method = method
    order.shipping_total = method.price if method else Decimal("0.00")
    destination = order.shipping_address or order.billing_address
    order.tax_rate = _tax_rate(destination.country) if destination else Decimal("0")
    order.prices_include_tax = settings.PRICES_INCLUDE_TAX
    order.tax_total, order.grand_total = compute_tax(
        taxable=order.lines_total + order.shipping_total,
        rate_percent=order.tax_rate,
        prices_include_tax=order.prices_include_tax,
    )

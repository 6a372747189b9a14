"""Placing orders from any channel in one step (`order_place`). Drafts staff fill in first
(orders.services.drafts) share the steps here: validate, price from the catalogue, reserve
stock and leave the order `received` for review."""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from orders import events, lifecycle
from orders.broker import enqueue
from orders.countries import country_code_problem, country_name
from orders.exceptions import InvalidOrder
from orders.models import (
    STAFF_CHANNELS,
    Address,
    Channel,
    Customer,
    EventType,
    Order,
    OrderLine,
)
from orders.services.guards import Actor, _save
from orders.services.pricing import (
    _price_order,
    _shipping_method,
    add_working_days,
    shipping_methods_serving,
)
from warehouse.models import Product, ShippingMethod
from warehouse.services import StockDemand, stock_reserve

logger = logging.getLogger(__name__)


MAX_LINES = 200
MAX_QUANTITY = 10_000


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int


@dataclass(frozen=True)
class AddressInput:
    name: str
    line1: str
    city: str
    country: str
    postal_code: str = ""
    line2: str = ""
    region: str = ""
    company: str = ""
    phone: str = ""

    def to_model(self) -> Address:
        return Address(
            name=self.name.strip(),
            company=self.company.strip(),
            line1=self.line1.strip(),
            line2=self.line2.strip(),
            city=self.city.strip(),
            region=self.region.strip(),
            postal_code=self.postal_code.strip(),
            country=self.country.strip().upper(),
            phone=self.phone.strip(),
        )


@dataclass(frozen=True)
class Quote:
    """What an order would cost, priced as placing it prices it (orders.services.pricing)."""

    currency: str
    lines_total: Decimal
    shipping_method: ShippingMethod | None
    shipping_total: Decimal
    tax_rate: Decimal
    tax_total: Decimal
    grand_total: Decimal
    prices_include_tax: bool


@dataclass
class PlacementResult:
    order: Order
    created: bool
    shortages: dict[str, tuple[int, int]] = field(default_factory=dict)


# --- the steps both ways of placing share -------------------------------------------------


def _on_commit(func: Callable[..., Any], *args: Any) -> None:
    transaction.on_commit(partial(func, *args))


def _enqueue_review(order_id: int) -> None:
    from orders.tasks import review_order

    enqueue(review_order, order_id, later_by="the review sweep", order=order_id)


def _validate_placement(
    *,
    channel: str,
    lines: Sequence[LineInput],
    email: str,
    shipping_address: AddressInput | None,
    billing_address: AddressInput | None,
) -> dict[str, int]:
    errors: dict[str, list[str]] = {}
    if channel not in Channel.values:
        errors["channel"] = [f"Unknown channel {channel!r}."]
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = ["Enter a valid email address."]
    if not lines:
        errors["lines"] = ["An order needs at least one line."]
    elif len(lines) > MAX_LINES:
        errors["lines"] = [f"An order can have at most {MAX_LINES} lines."]
    quantities: dict[str, int] = {}
    for line in lines:
        sku = (line.sku or "").strip().upper()
        if not sku:
            errors.setdefault("lines", []).append("Every line needs a SKU.")
            continue
        if not isinstance(line.quantity, int) or isinstance(line.quantity, bool):
            errors.setdefault("lines", []).append(f"{sku}: quantity must be a whole number.")
            continue
        if line.quantity < 1 or line.quantity > MAX_QUANTITY:
            errors.setdefault("lines", []).append(
                f"{sku}: quantity must be between 1 and {MAX_QUANTITY}."
            )
            continue
        quantities[sku] = quantities.get(sku, 0) + line.quantity
    for label, address in (
        ("shipping_address", shipping_address),
        ("billing_address", billing_address),
    ):
        if address is None:
            continue
        problems = address_problems(address.to_model())
        if problems:
            errors[label] = problems
    if errors:
        raise InvalidOrder("The order is not valid: " + _summarise(errors), fields=errors)
    return quantities


def _summarise(errors: dict[str, list[str]]) -> str:
    return "; ".join(f"{key}: {' '.join(messages)}" for key, messages in errors.items())


def address_problems(address: Address, *, deliverable: bool = False) -> list[str]:
    """What is missing or malformed in an address (empty when it is fine). Placement checks
    that the address is complete; `deliverable` adds what review checks: the postal code's
    format for the country and that we ship there."""
    from orders.review import postal_code_problem

    problems = []
    for attr, label in (("name", "name"), ("line1", "street address"), ("city", "city")):
        if not (getattr(address, attr, "") or "").strip():
            problems.append(f"The {label} is missing.")
    country = (address.country or "").strip().upper()
    problem = country_code_problem(country)
    if problem:
        problems.append(problem)
    elif deliverable:
        allowed = settings.SHIPPING_COUNTRIES
        if allowed and country not in allowed:
            problems.append(f"We do not ship to {country_name(country)}.")
        problem = postal_code_problem(country, address.postal_code or "")
        if problem:
            problems.append(problem)
    return problems


def _signed_in(user: Any) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def _account_for(*, user: Any, channel: str, partner: Any) -> Any:
    """The account an order joins as it is placed: the shop customer signed in to place it.
    Never a partner's order, whoever is named on it."""
    if partner is not None or channel == Channel.API or not _signed_in(user):
        return None
    return user


def _customer_for(*, email: str, name: str, phone: str, user: Any) -> Customer:
    email = email.strip().lower()
    if _signed_in(user):
        customer = Customer.objects.filter(user=user).first()
        if customer is not None:
            return customer
    customer, _ = Customer.objects.get_or_create(
        email=email, defaults={"name": name.strip(), "phone": phone.strip(), "user": user}
    )
    return customer


def _either(values: Sequence[str]) -> str:
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


def _where(address: Address | AddressInput) -> str:
    country = (address.country or "").strip().upper()
    postal_code = (address.postal_code or "").strip().upper()
    return f"{country_name(country)} {postal_code}".strip()


def shipping_method_problem(method: ShippingMethod, address: Address | AddressInput) -> str:
    """Why `method` cannot take an order to `address`, in words for whoever chose it; "" when
    its zone takes the address."""
    if method.serves(address.country, address.postal_code):
        return ""
    country = (address.country or "").strip().upper()
    if country in method.countries:
        postal_code = (address.postal_code or "").strip().upper() or "an address without one"
        return (
            f"{method.name} delivers in {country_name(country)} only to postal codes starting "
            f"with {_either(method.postal_code_prefixes)}, not to {postal_code}."
        )
    return f"{method.name} does not deliver to {country_name(country)}."


def _missing_method_message(address: Address | None) -> str:
    if address is not None and not shipping_methods_serving(
        country=address.country, postal_code=address.postal_code
    ):
        return f"We have no shipping method that delivers to {_where(address)}."
    return "Physical goods need a shipping method."


def _require_shipping_details(order: Order, products: dict[str, Product]) -> None:
    """Physical goods need an address and a shipping method whose zone takes that address."""
    if not any(product.needs_shipping for product in products.values()):
        return
    errors: dict[str, list[str]] = {}
    address = order.shipping_address
    if address is None:
        errors["shipping_address"] = ["Physical goods need a shipping address."]
    if order.shipping_method is None:
        errors["shipping_method"] = [_missing_method_message(address)]
    elif address is not None:
        problem = shipping_method_problem(order.shipping_method, address)
        if problem:
            errors["shipping_method"] = [f"{problem} Choose another shipping method."]
    if errors:
        raise InvalidOrder("The order cannot be shipped: " + _summarise(errors), fields=errors)


def _load_products(skus: Sequence[str]) -> dict[str, Product]:
    products = {p.sku: p for p in Product.objects.filter(sku__in=skus, is_active=True)}
    unknown = sorted(set(skus) - set(products))
    if unknown:
        raise InvalidOrder(
            "Unknown or inactive SKU: " + ", ".join(unknown) + ".",
            fields={"lines": [f"{sku} is not for sale." for sku in unknown]},
        )
    return products


def _finish_placement(
    order: Order,
    lines: list[OrderLine],
    products: dict[str, Product],
    actor: Actor,
    payment: Any = None,
) -> dict[str, tuple[int, int]]:
    """Reserve stock, move the order to `received`, number it and put it on the timeline."""
    result = stock_reserve(
        order=order,
        demands=[StockDemand(line, products[line.sku], line.quantity) for line in lines],
        actor=actor,
        allow_shortage=order.channel in STAFF_CHANNELS,
    )
    now = timezone.now()
    order.place()
    order.number = str(100000 + order.pk)
    order.placed_at = now
    if order.shipping_method_id:
        order.promised_ship_by = add_working_days(
            timezone.localdate(now), order.shipping_method.handling_days
        )
    _save(order, ["status", "number", "placed_at", "promised_ship_by"])
    events.order_placed(order, actor=actor)
    if result.shortages:
        events.record(
            order,
            EventType.STOCK_RESERVED,
            actor=actor,
            message="Not all lines could be reserved; review will hold the order.",
            data={"shortages": {sku: list(pair) for sku, pair in result.shortages.items()}},
        )
    # Payment authorisation registers its after-commit call here, so it runs before review.
    lifecycle.placing(order=order, payment=payment, actor=actor)
    logger.info(
        "order placed",
        extra={"order": order.number, "channel": order.channel, "total": str(order.grand_total)},
    )
    _on_commit(_enqueue_review, order.pk)
    return result.shortages


# --- placement ----------------------------------------------------------------------------


def order_place(
    *,
    channel: str,
    lines: Sequence[LineInput],
    email: str,
    actor: Actor,
    customer_name: str = "",
    phone: str = "",
    shipping_address: AddressInput | None = None,
    billing_address: AddressInput | None = None,
    shipping_method: str | None = None,
    idempotency_key: str = "",
    source: str = "",
    external_reference: str = "",
    customer_note: str = "",
    currency: str | None = None,
    user: Any = None,
    payment: Any = None,
    bill_to: Customer | None = None,
    partner: Any = None,
) -> PlacementResult:
    """Place an order from any channel: validate, price from the catalogue, reserve stock,
    and leave it `received` for review. A repeated idempotency key returns the first order."""
    quantities = _validate_placement(
        channel=channel,
        lines=lines,
        email=email,
        shipping_address=shipping_address,
        billing_address=billing_address,
    )
    if partner is not None:
        # A partner's orders: its idempotency keys are scoped to it, whatever the caller said.
        source = partner.order_source
    idempotency_key = idempotency_key.strip()
    if idempotency_key:
        existing = _existing_order(channel, source, idempotency_key)
        if existing is not None:
            return PlacementResult(order=existing, created=False)
    try:
        with transaction.atomic():
            products = _load_products(sorted(quantities))
            order = Order(
                channel=channel,
                source=source,
                partner=partner,
                idempotency_key=idempotency_key,
                external_reference=external_reference.strip(),
                email=email.strip().lower(),
                phone=phone.strip(),
                customer_note=customer_note.strip(),
                currency=currency or settings.DEFAULT_CURRENCY,
                shipping_method=_shipping_method(shipping_method),
            )
            order.customer = _customer_for(email=email, name=customer_name, phone=phone, user=user)
            order.account = _account_for(user=user, channel=channel, partner=partner)
            order.bill_to = bill_to
            if shipping_address is not None:
                order.shipping_address = shipping_address.to_model()
            if billing_address is not None:
                order.billing_address = billing_address.to_model()
            elif order.shipping_address is not None:
                order.billing_address = order.shipping_address.copy()
            _require_shipping_details(order, products)
            order_lines = [OrderLine(sku=sku, quantity=qty) for sku, qty in quantities.items()]
            _price_order(order, order_lines, products)
            addresses = [a for a in (order.shipping_address, order.billing_address) if a]
            Address.objects.bulk_create(addresses)
            order.save()
            for line in order_lines:
                line.order = order
            OrderLine.objects.bulk_create(order_lines)
            shortages = _finish_placement(order, order_lines, products, actor, payment)
    except IntegrityError:
        if idempotency_key:
            # Two requests with the same key at once: the loser returns the winner's order.
            existing = _existing_order(channel, source, idempotency_key)
            if existing is not None:
                return PlacementResult(order=existing, created=False)
        raise
    return PlacementResult(order=order, created=True, shortages=shortages)


def order_quote(
    *,
    lines: Sequence[LineInput],
    shipping_address: AddressInput | None = None,
    billing_address: AddressInput | None = None,
    shipping_method: str | None = None,
    currency: str | None = None,
) -> Quote:
    """What `order_place` would charge for these lines, destination and shipping method,
    without placing anything: the same shipping checks and the same pricing, nothing written.
    The addresses need only their country and postal code (tax and the shipping zone read
    nothing else). Raises InvalidOrder as placing would."""
    quantities: dict[str, int] = {}
    for line in lines:
        sku = (line.sku or "").strip().upper()
        quantities[sku] = quantities.get(sku, 0) + line.quantity
    products = _load_products(sorted(quantities))
    order = Order(
        currency=currency or settings.DEFAULT_CURRENCY,
        shipping_method=_shipping_method(shipping_method),
    )
    if shipping_address is not None:
        order.shipping_address = shipping_address.to_model()
    if billing_address is not None:
        order.billing_address = billing_address.to_model()
    _require_shipping_details(order, products)
    order_lines = [OrderLine(sku=sku, quantity=qty) for sku, qty in quantities.items()]
    _price_order(order, order_lines, products)
    return Quote(
        currency=order.currency,
        lines_total=order.lines_total,
        shipping_method=order.shipping_method,
        shipping_total=order.shipping_total,
        tax_rate=order.tax_rate,
        tax_total=order.tax_total,
        grand_total=order.grand_total,
        prices_include_tax=order.prices_include_tax,
    )


def _existing_order(channel: str, source: str, key: str) -> Order | None:
    return Order.objects.filter(channel=channel, source=source, idempotency_key=key).first()

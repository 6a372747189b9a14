"""Order services: every write to an order goes through here (DESIGN.md rules 2 and 5).

Each service is atomic, locks the order row, checks, calls the transition, saves, writes the
timeline with the actor, and registers side effects to run after the commit.
"""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition, can_proceed, has_transition_perm

from orders import events, lifecycle
from orders.exceptions import DomainError, InvalidOrder, StaleOrder, TransitionRefused
from orders.lifecycle import CheckResult  # noqa: F401  (re-exported for the review checks)
from orders.models import (
    STAFF_CHANNELS,
    Address,
    Channel,
    Customer,
    EventType,
    HoldReason,
    Order,
    OrderHold,
    OrderLine,
    OrderStatus,
    TaxRate,
)
from orders.notifications import queue_order_notification
from warehouse.models import Product, ShippingMethod
from warehouse.services import StockDemand, stock_release_for_order, stock_reserve

logger = logging.getLogger(__name__)

Actor = AbstractBaseUser | str | None
CENT = Decimal("0.01")
MAX_LINES = 200
MAX_QUANTITY = 10_000


class NotPermitted(DomainError):
    code = "permission_denied"
    http_status = 403


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


@dataclass
class PlacementResult:
    order: Order
    created: bool
    shortages: dict[str, tuple[int, int]] = field(default_factory=dict)


# --- helpers ------------------------------------------------------------------------------


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


def _lock_order(order_id: int) -> Order:
    try:
        return Order.objects.select_for_update(of=("self",), no_key=True).get(pk=order_id)
    except Order.DoesNotExist as exc:
        raise InvalidOrder(f"Order {order_id} does not exist.") from exc


def _check_transition(order: Order, name: str, actor: Actor, verb: str) -> None:
    method = getattr(order, name)
    if not can_proceed(method):
        raise TransitionRefused(
            f"Order {order.number or order.pk} is {order.get_status_display().lower()}; "
            f"it cannot be {verb} now."
        )
    if isinstance(actor, AbstractBaseUser) and not has_transition_perm(method, actor):
        action = name.replace("_", " ")
        raise NotPermitted(f"You do not have permission to {action} orders.")


def _save(order: Order, fields: Sequence[str]) -> None:
    try:
        order.save(update_fields=[*fields, "updated_at"])
    except ConcurrentTransition as exc:
        raise StaleOrder(
            "Someone else changed this order at the same moment; reload it and try again."
        ) from exc


def _on_commit(func: Callable[..., Any], *args: Any) -> None:
    transaction.on_commit(partial(func, *args))


def _enqueue_review(order_id: int) -> None:
    from orders.tasks import review_order

    try:
        review_order.delay(order_id)
    except Exception:
        # The broker is down: the periodic sweep reviews orders left in "received".
        logger.warning(
            "review not enqueued; the sweep will pick it up",
            extra={"order": order_id},
            exc_info=True,
        )


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
    if len(country) != 2 or not country.isalpha():
        problems.append("The country must be a two-letter ISO code such as DE, GB or US.")
    elif deliverable:
        allowed = settings.SHIPPING_COUNTRIES
        if allowed and country not in allowed:
            problems.append(f"We do not ship to {country}.")
        problem = postal_code_problem(country, address.postal_code or "")
        if problem:
            problems.append(problem)
    return problems


def _customer_for(*, email: str, name: str, phone: str, user: Any) -> Customer:
    email = email.strip().lower()
    if user is not None and getattr(user, "is_authenticated", False):
        customer = Customer.objects.filter(user=user).first()
        if customer is not None:
            return customer
    customer, _ = Customer.objects.get_or_create(
        email=email, defaults={"name": name.strip(), "phone": phone.strip(), "user": user}
    )
    return customer


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


def _require_shipping_details(order: Order, products: dict[str, Product]) -> None:
    if not any(product.needs_shipping for product in products.values()):
        return
    errors: dict[str, list[str]] = {}
    if order.shipping_address is None:
        errors["shipping_address"] = ["Physical goods need a shipping address."]
    if order.shipping_method is None:
        errors["shipping_method"] = ["Physical goods need a shipping method."]
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
                idempotency_key=idempotency_key,
                external_reference=external_reference.strip(),
                email=email.strip().lower(),
                phone=phone.strip(),
                customer_note=customer_note.strip(),
                currency=currency or settings.DEFAULT_CURRENCY,
                shipping_method=_shipping_method(shipping_method),
            )
            order.customer = _customer_for(email=email, name=customer_name, phone=phone, user=user)
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


def _existing_order(channel: str, source: str, key: str) -> Order | None:
    return Order.objects.filter(channel=channel, source=source, idempotency_key=key).first()


def order_save_draft(
    *,
    order: Order,
    actor: Actor,
    shipping_address: Address | None = None,
    billing_address: Address | None = None,
) -> Order:
    """Create or update a draft for a phone, email or in-person order, which staff fill in
    before placing it. Address values are copied onto the order's own address rows."""
    if order.channel not in STAFF_CHANNELS:
        raise InvalidOrder(
            "Staff create drafts for phone, email and in-person orders.",
            fields={"channel": ["Choose phone, email or in person."]},
        )
    with transaction.atomic():
        creating = order.pk is None
        if not creating:
            current = _lock_order(order.pk)
            if current.status != OrderStatus.DRAFT:
                raise TransitionRefused(f"{current} has been placed; it can no longer be edited.")
        for attr, values in (
            ("shipping_address", shipping_address),
            ("billing_address", billing_address),
        ):
            existing = getattr(order, attr)
            if values is None:
                setattr(order, attr, None)
            elif existing is not None and existing.pk:
                for name in (
                    "name",
                    "company",
                    "line1",
                    "line2",
                    "city",
                    "region",
                    "postal_code",
                    "country",
                    "phone",
                ):
                    setattr(existing, name, getattr(values, name))
                existing.save()
            else:
                values.pk = None
                values.save()
                setattr(order, attr, values)
        if order.customer_id and not order.email:
            order.email = order.customer.email
        order.email = order.email.strip().lower()
        if creating:
            if isinstance(actor, AbstractBaseUser):
                order.source = f"staff:{actor.pk}"
            order.save()
            events.order_created(order, actor=actor)
        else:
            order.save()
    return order


def order_place_draft(*, order_id: int, actor: Actor, payment: Any = None) -> PlacementResult:
    """Staff press "Place order" on a draft: price it, reserve stock and send it to review."""
    with transaction.atomic():
        order = _lock_order(order_id)
        _check_transition(order, "place", actor, "placed")
        lines = list(order.lines.all())
        errors: dict[str, list[str]] = {}
        if not lines:
            errors["lines"] = ["Add at least one line before placing the order."]
        if order.customer_id is None and not order.email:
            errors["customer"] = ["Choose a customer or enter an email address."]
        for label in ("shipping_address", "billing_address"):
            address = getattr(order, label)
            if address is not None and (problems := address_problems(address)):
                errors[label] = problems
        if errors:
            raise InvalidOrder("The draft is not complete: " + _summarise(errors), fields=errors)
        if order.customer_id is None:
            order.customer = _customer_for(email=order.email, name="", phone=order.phone, user=None)
        if not order.email:
            order.email = order.customer.email
        if order.billing_address is None and order.shipping_address is not None:
            order.billing_address = order.shipping_address.copy()
            order.billing_address.save()
        for line in lines:
            line.sku = line.product.sku
        products = _load_products(sorted({line.sku for line in lines}))
        _require_shipping_details(order, products)
        _price_order(order, lines, products)
        OrderLine.objects.bulk_update(
            lines, ["sku", "name", "product_kind", "unit_price", "line_total"]
        )
        _save(
            order,
            [
                "customer",
                "email",
                "billing_address",
                "shipping_method",
                "lines_total",
                "shipping_total",
                "tax_rate",
                "tax_total",
                "grand_total",
                "prices_include_tax",
            ],
        )
        shortages = _finish_placement(order, lines, products, actor, payment)
    return PlacementResult(order=order, created=True, shortages=shortages)


# --- review -------------------------------------------------------------------------------


def order_review(*, order_id: int, actor: Actor = None) -> Order:
    """Run the automatic checks on a received order: confirmed, or held with reasons.
    Safe to run twice: an order no longer `received` is left alone."""
    with transaction.atomic():
        order = _lock_order(order_id)
        if order.status != OrderStatus.RECEIVED:
            return order
        _check_transition(order, "review", actor, "reviewed")
        results = [check(order) for check in lifecycle.review_checks()]
        passed = all(result.passed for result in results)
        now = timezone.now()
        order.review(passed=passed)
        order.reviewed_at = now
        fields = ["status", "held_from", "reviewed_at", "fraud_score"]
        if passed:
            order.confirmed_at = now
            fields.append("confirmed_at")
        _save(order, fields)
        events.record_many(
            order,
            (
                {
                    "type": EventType.REVIEW_CHECK,
                    "message": f"{'Passed' if r.passed else 'Failed'}: {r.message}",
                    "data": {"check": r.check, "passed": r.passed, **r.data},
                }
                for r in results
            ),
            actor=actor,
        )
        if passed:
            events.order_confirmed(order, actor=actor)
            queue_order_notification(order, "order_confirmation")
            lifecycle.confirmed(order=order, actor=actor)
        else:
            failed = [r for r in results if not r.passed]
            reasons = list(dict.fromkeys(r.hold_reason or HoldReason.MANUAL for r in failed))
            OrderHold.objects.bulk_create(
                OrderHold(
                    order=order,
                    reason=reason,
                    message=" ".join(
                        r.message for r in failed if (r.hold_reason or "manual") == reason
                    ),
                )
                for reason in reasons
            )
            events.order_held(order, actor=actor, reasons=reasons, note="")
        logger.info(
            "order reviewed",
            extra={"order": order.number, "status": order.status, "fraud": order.fraud_score},
        )
    return order


# --- holds --------------------------------------------------------------------------------


def order_hold(
    *, order_id: int, actor: Actor, reason: str = HoldReason.MANUAL, note: str = ""
) -> Order:
    """Hold an order (or add a further reason to one already held)."""
    if reason not in HoldReason.values:
        raise InvalidOrder(f"Unknown hold reason {reason!r}.", fields={"reason": ["Unknown."]})
    with transaction.atomic():
        order = _lock_order(order_id)
        if order.status != OrderStatus.ON_HOLD:
            _check_transition(order, "hold", actor, "held")
            order.hold()
            _save(order, ["status", "held_from"])
        elif isinstance(actor, AbstractBaseUser) and not actor.has_perm("orders.hold_order"):
            raise NotPermitted("You do not have permission to hold orders.")
        OrderHold.objects.create(
            order=order,
            reason=reason,
            message=note,
            created_by=actor if isinstance(actor, AbstractBaseUser) else None,
        )
        events.order_held(order, actor=actor, reasons=[reason], note=note)
    return order


def order_release(*, order_id: int, actor: Actor, note: str = "") -> Order:
    """Release a held order: to `confirmed`, or back to the later state it was held from.
    An order held for stock is released only once the missing units can be reserved."""
    with transaction.atomic():
        order = _lock_order(order_id)
        _check_transition(order, "release", actor, "released")
        open_holds = list(order.holds.filter(released_at__isnull=True))
        reasons = [hold.reason for hold in open_holds]
        if HoldReason.OUT_OF_STOCK in reasons or order.held_from == OrderStatus.RECEIVED:
            _reserve_missing_stock(order, actor)
        was_confirmed = order.confirmed_at is not None
        order.release()
        now = timezone.now()
        fields = ["status", "held_from"]
        if not was_confirmed:
            order.confirmed_at = now
            fields.append("confirmed_at")
        _save(order, fields)
        OrderHold.objects.filter(pk__in=[h.pk for h in open_holds]).update(
            released_at=now, released_by=actor if isinstance(actor, AbstractBaseUser) else None
        )
        events.order_released(order, actor=actor, note=note, reasons=reasons)
        if not was_confirmed:
            events.order_confirmed(order, actor=actor)
            queue_order_notification(order, "order_confirmation")
        if order.status == OrderStatus.CONFIRMED:
            lifecycle.confirmed(order=order, actor=actor)
    return order


def _reserve_missing_stock(order: Order, actor: Actor) -> None:
    """Reserve what a held order lacks: per shipment line in that shipment's warehouse (its
    picks come from there), and for lines not in a shipment yet, wherever it is."""
    from warehouse.models import StockReservation

    lines = {line.pk: line for line in order.lines.select_related("product")}
    reserved: dict[tuple[int, int], int] = {}
    for line_id, warehouse_id, units in StockReservation.objects.filter(
        order_line__order=order
    ).values_list("order_line_id", "stock_item__warehouse_id", "quantity"):
        reserved[(line_id, warehouse_id)] = reserved.get((line_id, warehouse_id), 0) + units
    in_shipments = set()
    missing = []
    open_shipment_lines = order.lines.filter(
        shipment_lines__shipment__status__in=["pending", "picking"]
    ).values_list(
        "pk",
        "shipment_lines__quantity",
        "shipment_lines__picked",
        "shipment_lines__shipment__warehouse_id",
    )
    for line_id, quantity, picked, warehouse_id in open_shipment_lines:
        in_shipments.add(line_id)
        held = reserved.get((line_id, warehouse_id), 0)
        need = quantity - picked - held
        reserved[(line_id, warehouse_id)] = max(held - (quantity - picked), 0)
        if need > 0:
            line = lines[line_id]
            missing.append(StockDemand(line, line.product, need, warehouse_id))
    shipped_before = set(
        order.lines.filter(shipment_lines__isnull=False).values_list("pk", flat=True)
    )
    for line in lines.values():
        if line.pk in in_shipments or line.pk in shipped_before or not line.product.needs_shipping:
            continue
        held = sum(units for (line_id, _), units in reserved.items() if line_id == line.pk)
        if held < line.quantity:
            missing.append(StockDemand(line, line.product, line.quantity - held))
    if missing:
        # Raises OutOfStock (and changes nothing) while the units are still not there.
        stock_reserve(order=order, demands=missing, actor=actor, top_up=True)
        events.record(
            order,
            EventType.STOCK_RESERVED,
            actor=actor,
            message="The missing units are now reserved.",
            data={"lines": {demand.line.sku: demand.quantity for demand in missing}},
        )


# --- cancellation -------------------------------------------------------------------------


def order_cancel(*, order_id: int, actor: Actor, reason: str = "") -> Order:
    """Cancel: release reserved stock, close holds, tell the customer. (Voiding or refunding
    the payment joins here when payments land.)"""
    with transaction.atomic():
        order = _lock_order(order_id)
        _check_transition(order, "cancel", actor, "cancelled")
        was_placed = order.status != OrderStatus.DRAFT
        order.cancel()
        now = timezone.now()
        order.cancelled_at = now
        order.cancellation_reason = reason.strip()
        _save(order, ["status", "held_from", "cancelled_at", "cancellation_reason"])
        released = stock_release_for_order(order=order, actor=actor, reason="order cancelled")
        order.holds.filter(released_at__isnull=True).update(
            released_at=now, released_by=actor if isinstance(actor, AbstractBaseUser) else None
        )
        events.order_cancelled(order, actor=actor, reason=reason.strip())
        if released:
            events.record(
                order,
                EventType.STOCK_RELEASED,
                actor=actor,
                message=f"{released} reserved units returned to stock.",
                data={"units": released},
            )
        if was_placed:
            queue_order_notification(order, "order_cancelled")
        lifecycle.cancelled(order=order, actor=actor)
        logger.info("order cancelled", extra={"order": order.number, "reason": reason})
    return order


def order_secure_payment(*, order_id: int, actor: Actor, message: str) -> Order:
    """Payment is secured (captured, or invoice terms): release the order to the warehouse.
    Safe to call twice: an order already past `confirmed` is left alone."""
    with transaction.atomic():
        order = _lock_order(order_id)
        if order.status != OrderStatus.CONFIRMED:
            return order
        _check_transition(order, "secure_payment", actor, "released to the warehouse")
        order.secure_payment()
        _save(order, ["status"])
        events.record(
            order,
            EventType.PAYMENT_SECURED,
            actor=actor,
            message=message or "Payment secured; released to the warehouse.",
            customer_visible=False,
        )
        lifecycle.ready(order=order, actor=actor)
        logger.info("order ready", extra={"order": order.number})
    return order


def lock_order(order_id: int) -> Order:
    """Lock an order row for a service of a later phase (inside its transaction)."""
    return _lock_order(order_id)


def order_transition(
    order: Order,
    name: str,
    *,
    actor: Actor,
    event_type: str,
    message: str,
    fields: Sequence[str] = (),
    customer_visible: bool = False,
    publish: str = "",
    data: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Order:
    """Run one transition on an order its caller has locked: the check (state and the
    acting user's permission), the transition, the save and the timeline entry. For the
    later phases' services (warehouse: start_picking, pack, ship, deliver, fulfil)."""
    _check_transition(order, name, actor, name.replace("_", " "))
    getattr(order, name)(**kwargs)
    _save(order, ["status", *fields])
    if publish:
        events.publish(order, publish, data)
    events.record(
        order,
        event_type,
        actor=actor,
        message=message,
        data=data,
        customer_visible=customer_visible,
    )
    if order.status == OrderStatus.READY:
        lifecycle.ready(order=order, actor=actor)
    elif order.status == OrderStatus.DELIVERED:
        lifecycle.delivered(order=order, actor=actor)
    elif order.status == OrderStatus.COMPLETED:
        lifecycle.completed(order=order, actor=actor)
    return order


def order_add_note(*, order_id: int, actor: Actor, note: str) -> Order:
    note = note.strip()
    if not note:
        raise InvalidOrder("The note is empty.", fields={"note": ["Write something."]})
    with transaction.atomic():
        order = _lock_order(order_id)
        events.note_added(order, actor=actor, note=note)
    return order


# --- the customer site ----------------------------------------------------------------------

# "Before picking starts": until then a customer may cancel or change the shipping address.
CUSTOMER_CHANGEABLE_STATES = (
    OrderStatus.RECEIVED,
    OrderStatus.ON_HOLD,
    OrderStatus.CONFIRMED,
    OrderStatus.READY,
)
MAX_REASON_LENGTH = 1000


def customer_can_change(order: Order) -> bool:
    """Whether the customer may still cancel the order or change where it goes: before
    picking starts (a held order counts by the state it was held from)."""
    if order.status == OrderStatus.ON_HOLD:
        return order.held_from in ("", *CUSTOMER_CHANGEABLE_STATES)
    return order.status in CUSTOMER_CHANGEABLE_STATES


def _customer_actor(customer: Customer) -> str:
    # A label, not the user: the order transitions require staff permissions that customers
    # do not have; the customer's right to act is checked here instead (ownership and state).
    return f"customer {customer.email}"[:100]


def _lock_customer_order(order_id: int, customer: Customer, verb: str) -> Order:
    order = Order.objects.select_for_update(of=("self",), no_key=True).filter(pk=order_id).first()
    if order is None or customer is None or order.customer_id != customer.pk:
        raise InvalidOrder("We could not find that order.", fields={"order": ["Not found."]})
    if not customer_can_change(order):
        raise TransitionRefused(
            f"Order {order.number} is {order.get_status_display().lower()}: it can no longer "
            f"be {verb} online. Please contact us and quote the order number."
        )
    return order


def order_cancel_by_customer(*, order_id: int, customer: Customer, reason: str) -> Order:
    """The customer cancels their own order before picking starts, with a reason."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidOrder(
            "Tell us why you are cancelling.", fields={"reason": ["Please give a reason."]}
        )
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidOrder(
            "The reason is too long.",
            fields={"reason": [f"Use at most {MAX_REASON_LENGTH} characters."]},
        )
    with transaction.atomic():
        _lock_customer_order(order_id, customer, "cancelled")
        return order_cancel(
            order_id=order_id,
            actor=_customer_actor(customer),
            reason=f"Cancelled by the customer: {reason}",
        )


def order_change_shipping_address(
    *, order_id: int, customer: Customer, address: AddressInput
) -> Order:
    """The customer changes where their order goes, before picking starts. The order gets a
    new address row of its own; the country stays the same, because tax and shipping were
    priced for it (to ship to another country, cancel and order again)."""
    new_address = address.to_model()
    errors = address_problems(new_address, deliverable=True)
    if errors:
        raise InvalidOrder(
            "The address is not valid: " + " ".join(errors),
            fields={"shipping_address": errors},
        )
    with transaction.atomic():
        order = _lock_customer_order(order_id, customer, "changed")
        current = order.shipping_address
        if current is None:
            raise InvalidOrder(
                f"Order {order.number} has nothing to ship, so it has no shipping address.",
                fields={"shipping_address": ["Nothing to ship."]},
            )
        if new_address.country != current.country:
            raise InvalidOrder(
                f"Orders cannot move to another country (this one ships to {current.country}). "
                "To ship elsewhere, cancel the order and order again.",
                fields={"country": [f"Keep {current.country}."]},
            )
        if new_address.as_lines() == current.as_lines() and new_address.phone == current.phone:
            return order
        new_address.customer_id = None
        new_address.save()
        order.shipping_address = new_address
        _save(order, ["shipping_address"])
        events.record(
            order,
            EventType.NOTE,
            actor=_customer_actor(customer),
            message="Shipping address changed to: " + ", ".join(new_address.as_lines()) + ".",
            data={
                "change": "shipping_address",
                "from_address": current.pk,
                "to_address": new_address.pk,
            },
            customer_visible=True,
        )
        logger.info("shipping address changed by customer", extra={"order": order.number})
    return order


def order_revoke_links(*, order_id: int, actor: Actor) -> Order:
    """Revoke every link sent for an order (guest order page and pay-again links) by giving
    it a new public token. Staff use it when a link was forwarded to the wrong person."""
    import secrets

    with transaction.atomic():
        order = _lock_order(order_id)
        order.public_token = secrets.token_urlsafe(24)
        _save(order, ["public_token"])
        events.record(
            order,
            EventType.NOTE,
            actor=actor,
            message="Customer links revoked: earlier order and payment links no longer work.",
            data={"change": "links_revoked"},
        )
    return order


def customer_account_create(*, email: str, password: str, name: str = "") -> Any:
    """Register a customer: a user named by their email, with a Customer of their own.
    A guest Customer that already has this email is NOT linked here: anyone can type an
    email, so past orders are claimed only with proof of the mailbox (customer_account_claim
    with a link from an email)."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    email = user_model.objects.normalize_email(email.strip()).lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidOrder(
            "Enter a valid email address.", fields={"email": ["Enter a valid email address."]}
        ) from exc
    with transaction.atomic():
        if (
            user_model.objects.filter(username__iexact=email).exists()
            or user_model.objects.filter(email__iexact=email).exists()
        ):
            raise InvalidOrder(
                "An account with this email already exists.",
                fields={
                    "email": [
                        "An account with this email already exists. Log in, or reset your password."
                    ]
                },
            )
        first, _, last = name.strip().partition(" ")
        user = user_model(username=email, email=email, first_name=first[:150], last_name=last[:150])
        user.set_password(password)
        user.save()
        if not Customer.objects.filter(email__iexact=email).exists():
            Customer.objects.create(user=user, email=email, name=name.strip()[:200])
    logger.info("customer registered", extra={"user": user.pk})
    return user


def customer_account_claim(*, user: Any, customer_id: int) -> Customer:
    """Link a guest Customer (and so their past orders) to the user, once they have shown
    they read that customer's email. Refused when another account owns it already."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update(no_key=True).filter(pk=customer_id).first()
        if customer is None:
            raise InvalidOrder("We could not find those orders.", fields={"customer": ["Gone."]})
        if customer.user_id == user.pk:
            return customer
        if customer.user_id is not None or Customer.objects.filter(user=user).exists():
            raise TransitionRefused(
                "These orders belong to another account, or your account already has its "
                "own order history. Please contact us to merge them."
            )
        customer.user = user
        customer.save(update_fields=["user"])
    logger.info("customer claimed", extra={"user": user.pk, "customer": customer.pk})
    return customer


CLAIM_SALT = "orders.claim-orders"
CLAIM_MAX_AGE_DAYS = 3


def customer_claim_link_send(*, user: Any, customer: Customer) -> None:
    """Email `user` a signed link that adds the guest `customer`'s orders to their account.
    Orders join an account only through this link: it proves the mailbox, a guest link
    proves nothing (anyone can place a guest order under someone else's email)."""
    from django.core import signing
    from django.urls import reverse

    from orders.notifications import queue_notification

    token = signing.dumps({"user": user.pk, "customer": customer.pk}, salt=CLAIM_SALT)
    with transaction.atomic():
        queue_notification(
            order=None,
            kind="account_claim",
            recipient=user.email,
            # One row per request: asking again sends a new email.
            reference=f"user-{user.pk}-{int(timezone.now().timestamp())}",
            context={
                "claim_url": settings.SITE_URL.rstrip("/")
                + reverse("orders:account-claim", args=[token]),
                "name": customer.name,
            },
        )

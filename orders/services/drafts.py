"""Drafts: phone, email and in-person orders that staff fill in before placing them.
`order_save_draft` keeps the details and addresses, `order_save_draft_lines` the lines, and
`order_place_draft` places it the way `order_place` does (orders.services.placement)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from orders import events
from orders.exceptions import InvalidOrder, TransitionRefused
from orders.models import (
    ADDRESS_FIELDS,
    STAFF_CHANNELS,
    Address,
    EventType,
    Order,
    OrderLine,
    OrderStatus,
)
from orders.services.guards import Actor, _check_transition, _lock_order, _save
from orders.services.placement import (
    PlacementResult,
    _customer_for,
    _finish_placement,
    _load_products,
    _require_shipping_details,
    _summarise,
    address_problems,
    shipping_method_problem,
)
from orders.services.pricing import _price_order
from warehouse.models import Product


@dataclass(frozen=True)
class DraftLine:
    """One line of a draft as staff edit it: a new one (no `line_id`), a change, or a
    removal (`delete`)."""

    product: Product | None
    quantity: int
    line_id: int | None = None
    delete: bool = False


def order_save_draft(
    *,
    order: Order,
    actor: Actor,
    shipping_address: Address | None = None,
    billing_address: Address | None = None,
) -> Order:
    """Create or update a draft for a phone, email or in-person order, which staff fill in
    before placing it. Address values are copied onto the order's own address rows. A
    shipping method whose zone does not take the shipping address is refused."""
    if order.channel not in STAFF_CHANNELS:
        raise InvalidOrder(
            "Staff create drafts for phone, email and in-person orders.",
            fields={"channel": ["Choose phone, email or in person."]},
        )
    if order.shipping_method is not None and shipping_address is not None:
        problem = shipping_method_problem(order.shipping_method, shipping_address)
        if problem:
            raise InvalidOrder(problem, fields={"shipping_method": [problem]})
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
                for name in ADDRESS_FIELDS:
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


def order_place_draft(
    *, order_id: int, actor: Actor, payment: Any = None, note: str = ""
) -> PlacementResult:
    """Staff press "Place order" on a draft: price it, reserve stock and send it to review.
    A note goes on the timeline in the same transaction."""
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
        if note.strip():
            events.note_added(order, actor=actor, note=note.strip())
    return PlacementResult(order=order, created=True, shortages=shortages)


def order_save_draft_lines(*, order_id: int, lines: Sequence[DraftLine], actor: Actor) -> Order:
    """Add, change and remove a draft's lines. They are priced when the draft is placed."""
    with transaction.atomic():
        order = _lock_order(order_id)
        if order.status != OrderStatus.DRAFT:
            raise TransitionRefused(f"{order} has been placed; it can no longer be edited.")
        existing = {line.pk: line for line in order.lines.all()}
        changed = False
        for line in lines:
            current = existing.get(line.line_id) if line.line_id else None
            if line.line_id and current is None:
                raise InvalidOrder(
                    f"Line {line.line_id} is not on {order}.", fields={"lines": ["Reload."]}
                )
            if line.delete:
                if current is not None:
                    current.delete()
                    changed = True
                continue
            if line.product is None or line.quantity < 1:
                raise InvalidOrder(
                    "Each line needs a product and a quantity of at least 1.",
                    fields={"lines": ["Choose a product and a quantity of at least 1."]},
                )
            if current is None:
                OrderLine.objects.create(order=order, product=line.product, quantity=line.quantity)
                changed = True
            elif (current.product_id, current.quantity) != (line.product.pk, line.quantity):
                current.product, current.quantity = line.product, line.quantity
                current.save(update_fields=["product", "quantity"])
                changed = True
        if changed:
            now_on_it = ", ".join(
                f"{quantity} × {sku}"
                for sku, quantity in order.lines.order_by("pk").values_list(
                    "product__sku", "quantity"
                )
            )
            events.record(
                order, EventType.NOTE, actor=actor, message=f"Draft lines: {now_on_it or 'none'}."
            )
    return order

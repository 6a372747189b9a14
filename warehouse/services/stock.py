"""Stock: reserve, release, receive and count, never below zero (DESIGN.md rule 4).

Every change locks the stock rows it touches in primary-key order (so two orders for the same
SKUs queue instead of deadlocking), applies one conditional UPDATE for all rows at once (so an
order with 20 lines costs the same queries as one with 1 line), and writes the movement log.
The database CHECK constraints are the last line: a bug here fails loudly instead of overselling.

Which warehouse ships (the rule a manager can read):
1. If one warehouse has every line in stock, it ships the whole order; among several, the one
   with the lowest priority number.
2. Otherwise each line is taken from the warehouses that can cover the most lines completely
   first (fewest shipments), then by priority; a line is split only when no single warehouse
   has enough of it.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Case, F, IntegerField, Value, When

from warehouse.exceptions import InvalidStockChange, OutOfStock
from warehouse.models import (
    MovementKind,
    Product,
    StockItem,
    StockMovement,
    StockReservation,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StockDemand:
    """One order line's need: `line` is the OrderLine the reservation is recorded against."""

    line: object
    product: Product
    quantity: int
    # Only this warehouse (a line already in a shipment must be stocked where it ships from).
    warehouse_id: int | None = None


@dataclass(frozen=True)
class ReservationResult:
    reserved: dict[int, int]  # line pk -> units reserved
    shortages: dict[str, tuple[int, int]]  # sku -> (requested, available)


def _user(actor: AbstractBaseUser | str | None) -> AbstractBaseUser | None:
    return actor if isinstance(actor, AbstractBaseUser) else None


def _lock_stock(product_ids: Sequence[int]) -> list[StockItem]:
    return list(
        StockItem.objects.select_for_update(of=("self",), no_key=True)
        .filter(product_id__in=product_ids, warehouse__is_active=True)
        .select_related("warehouse")
        .order_by("pk")
    )


def _plan_allocation(
    demands: Sequence[StockDemand], items: list[StockItem]
) -> tuple[list[tuple[StockDemand, StockItem, int]], dict[str, tuple[int, int]]]:
    by_product: dict[int, list[StockItem]] = defaultdict(list)
    for item in items:
        by_product[item.product_id].append(item)
    need: dict[int, int] = defaultdict(int)
    for demand in demands:
        need[demand.product.pk] += demand.quantity

    warehouses = {item.warehouse_id: item.warehouse for item in items}
    covers: dict[int, int] = defaultdict(int)  # warehouse -> how many products it fully covers
    for product_id, quantity in need.items():
        for item in by_product[product_id]:
            if item.available >= quantity:
                covers[item.warehouse_id] += 1
    ranking = sorted(
        warehouses, key=lambda wid: (-covers[wid], warehouses[wid].priority, warehouses[wid].code)
    )
    rank = {wid: position for position, wid in enumerate(ranking)}

    remaining = {item.pk: item.available for item in items}
    plan: list[tuple[StockDemand, StockItem, int]] = []
    shortages: dict[str, tuple[int, int]] = {}
    for demand in demands:
        candidates = sorted(by_product[demand.product.pk], key=lambda i: rank[i.warehouse_id])
        if demand.warehouse_id is not None:
            candidates = [i for i in candidates if i.warehouse_id == demand.warehouse_id]
        # Prefer a warehouse that can take the whole line, in ranking order.
        whole = [item for item in candidates if remaining[item.pk] >= demand.quantity]
        if whole:
            candidates = whole[:1]
        wanted = demand.quantity
        for item in candidates:
            take = min(wanted, remaining[item.pk])
            if take > 0:
                plan.append((demand, item, take))
                remaining[item.pk] -= take
                wanted -= take
            if wanted == 0:
                break
        if wanted:
            available = demand.quantity - wanted
            previous = shortages.get(demand.product.sku, (0, 0))
            shortages[demand.product.sku] = (
                previous[0] + demand.quantity,
                previous[1] + available,
            )
    return plan, shortages


def _apply_reserved_delta(deltas: dict[int, int]) -> int:
    """Add `deltas` (stock item pk -> units, may be negative) to `reserved` in one UPDATE that
    only touches rows where the result stays within 0..on_hand. Returns rows updated."""
    if not deltas:
        return 0
    delta = Case(
        *(When(pk=pk, then=Value(amount)) for pk, amount in deltas.items()),
        output_field=IntegerField(),
    )
    return (
        StockItem.objects.filter(pk__in=list(deltas))
        .filter(reserved__gte=-delta, on_hand__gte=F("reserved") + delta)
        .update(reserved=F("reserved") + delta)
    )


def stock_reserve(
    *,
    order: object,
    demands: Sequence[StockDemand],
    actor: AbstractBaseUser | str | None,
    allow_shortage: bool = False,
    top_up: bool = False,
) -> ReservationResult:
    """Reserve stock for order lines. Raises OutOfStock (and reserves nothing) when a line
    cannot be covered, unless `allow_shortage`, in which case it reserves what there is.
    `top_up` adds to reservations the lines may already hold (releasing a stock hold)."""
    physical = [d for d in demands if d.product.needs_shipping and d.quantity > 0]
    if not physical:
        return ReservationResult(reserved={}, shortages={})
    items = _lock_stock(sorted({d.product.pk for d in physical}))
    plan, shortages = _plan_allocation(physical, items)
    if shortages and not allow_shortage:
        raise OutOfStock(shortages)

    deltas: dict[int, int] = defaultdict(int)
    for _demand, item, quantity in plan:
        deltas[item.pk] += quantity
    updated = _apply_reserved_delta(deltas)
    if updated != len(deltas):
        # Unreachable while the rows are locked; kept so a bug cannot oversell silently.
        raise OutOfStock(shortages or {d.product.sku: (d.quantity, 0) for d in physical})

    existing = {}
    if top_up:
        existing = {
            (r.order_line_id, r.stock_item_id): r
            for r in StockReservation.objects.filter(order_line__in=[d.line for d in physical])
        }
    new_reservations = []
    for demand, item, quantity in plan:
        current = existing.get((demand.line.pk, item.pk))
        if current is None:
            new_reservations.append(
                StockReservation(order_line=demand.line, stock_item=item, quantity=quantity)
            )
        else:
            StockReservation.objects.filter(pk=current.pk).update(quantity=F("quantity") + quantity)
    StockReservation.objects.bulk_create(new_reservations)
    StockMovement.objects.bulk_create(
        StockMovement(
            stock_item_id=pk,
            kind=MovementKind.RESERVE,
            reserved_delta=quantity,
            order=order,
            actor=_user(actor),
            reason="reserved for order",
        )
        for pk, quantity in deltas.items()
    )
    reserved: dict[int, int] = defaultdict(int)
    for demand, _item, quantity in plan:
        reserved[demand.line.pk] += quantity
    return ReservationResult(reserved=dict(reserved), shortages=shortages)


def stock_release_for_order(
    *, order: object, actor: AbstractBaseUser | str | None, reason: str
) -> int:
    """Give back every unit still reserved for the order. Returns the units released."""
    reservations = list(
        StockReservation.objects.filter(order_line__order=order).order_by("stock_item_id")
    )
    if not reservations:
        return 0
    deltas: dict[int, int] = defaultdict(int)
    for reservation in reservations:
        deltas[reservation.stock_item_id] -= reservation.quantity
    list(
        StockItem.objects.select_for_update(no_key=True)
        .filter(pk__in=list(deltas))
        .order_by("pk")
        .values("pk")
    )
    updated = _apply_reserved_delta(deltas)
    if updated != len(deltas):
        raise RuntimeError(f"stock release for order {order} found reserved below its reservations")
    StockReservation.objects.filter(pk__in=[r.pk for r in reservations]).delete()
    StockMovement.objects.bulk_create(
        StockMovement(
            stock_item_id=pk,
            kind=MovementKind.RELEASE,
            reserved_delta=delta,
            order=order,
            actor=_user(actor),
            reason=reason[:200],
        )
        for pk, delta in deltas.items()
    )
    return -sum(deltas.values())


@transaction.atomic
def stock_receive(
    *, stock_item: StockItem, quantity: int, actor: AbstractBaseUser | str | None, reason: str
) -> StockItem:
    """Goods in: add units to on_hand."""
    if quantity <= 0:
        raise InvalidStockChange(
            "Received quantity must be positive.", fields={"quantity": ["Must be ≥ 1."]}
        )
    StockItem.objects.filter(pk=stock_item.pk).update(on_hand=F("on_hand") + quantity)
    StockMovement.objects.create(
        stock_item=stock_item,
        kind=MovementKind.RECEIVE,
        on_hand_delta=quantity,
        actor=_user(actor),
        reason=reason[:200],
    )
    stock_item.refresh_from_db(fields=["on_hand", "reserved"])
    return stock_item


@transaction.atomic
def stock_count(
    *, stock_item: StockItem, counted: int, actor: AbstractBaseUser | str | None, reason: str
) -> StockItem:
    """A stock count: set on_hand to what was counted. Refused below what is reserved."""
    locked = StockItem.objects.select_for_update(no_key=True).get(pk=stock_item.pk)
    if counted < 0:
        raise InvalidStockChange(
            "A count cannot be negative.", fields={"on_hand": ["Must be ≥ 0."]}
        )
    if counted < locked.reserved:
        raise InvalidStockChange(
            f"{counted} counted, but {locked.reserved} units are reserved for open orders; "
            "put those orders on hold first.",
            fields={"on_hand": [f"Must be at least {locked.reserved} (reserved)."]},
        )
    delta = counted - locked.on_hand
    if delta:
        StockItem.objects.filter(pk=locked.pk).update(on_hand=counted)
        StockMovement.objects.create(
            stock_item=locked,
            kind=MovementKind.ADJUST,
            on_hand_delta=delta,
            actor=_user(actor),
            reason=reason[:200],
        )
    locked.on_hand = counted
    return locked

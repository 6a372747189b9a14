"""Stock: reserve, release, pick, put back, receive and count, never below zero (DESIGN.md
rule 4). Every change to on_hand, reserved, bins or reservations is made here.

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

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.db.models.lookups import GreaterThanOrEqual

from orders.actors import Actor, acting_user, require_permission
from warehouse.exceptions import InvalidStockChange, OutOfStock
from warehouse.models import (
    BinStock,
    Location,
    MovementKind,
    Product,
    StockItem,
    StockMovement,
    StockReservation,
)


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


def _lock_stock_rows(**rows: Any) -> list[StockItem]:
    """Lock the stock rows matching `rows` (filter arguments) in primary-key order, the one
    order every stock change locks in, with their warehouses (read, not locked)."""
    return list(
        StockItem.objects.select_for_update(of=("self",), no_key=True)
        .filter(**rows)
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


# The counters each kind of movement changes.
COUNTERS: dict[str, tuple[str, ...]] = {
    MovementKind.RECEIVE: ("on_hand",),
    MovementKind.ADJUST: ("on_hand",),
    MovementKind.RESERVE: ("reserved",),
    MovementKind.RELEASE: ("reserved",),
    MovementKind.PICK: ("on_hand", "reserved"),
    MovementKind.SHORT_PICK: ("on_hand", "reserved"),
    MovementKind.UNPICK: ("on_hand",),
}


def _apply_stock_deltas(deltas: dict[int, int], *, counters: Sequence[str]) -> int:
    """Add `deltas` (stock item pk -> units, may be negative) to each of `counters` in one
    UPDATE that only touches rows where the result keeps 0 <= reserved <= on_hand. Returns
    the rows updated: fewer than `deltas` means a row would have gone out of bounds and was
    left alone."""
    if not deltas:
        return 0
    delta = Case(
        *(When(pk=pk, then=Value(amount)) for pk, amount in deltas.items()),
        output_field=IntegerField(),
    )
    after = {counter: F(counter) + delta for counter in counters}
    reserved_after = after.get("reserved", F("reserved"))
    on_hand_after = after.get("on_hand", F("on_hand"))
    return (
        StockItem.objects.filter(pk__in=list(deltas))
        .filter(
            GreaterThanOrEqual(reserved_after, 0),
            GreaterThanOrEqual(on_hand_after, reserved_after),
        )
        .update(**after)
    )


def _movement(
    stock_item_id: int, units: int, *, kind: str, order_id: int | None, actor: Actor, reason: str
) -> StockMovement:
    """The log row for `units` added to the counters `kind` changes on one stock item."""
    return StockMovement(
        stock_item_id=stock_item_id,
        kind=kind,
        on_hand_delta=units if "on_hand" in COUNTERS[kind] else 0,
        reserved_delta=units if "reserved" in COUNTERS[kind] else 0,
        order_id=order_id,
        actor=acting_user(actor),
        reason=reason[:200],
    )


def _change_stock(
    deltas: dict[int, int], *, kind: str, order_id: int | None, actor: Actor, reason: str
) -> bool:
    """Apply `deltas` (stock item pk -> units) to the counters `kind` changes, with one
    conditional UPDATE, and log one movement per stock item. False when a row would have gone
    out of bounds: the caller raises, and its transaction undoes the rest."""
    if _apply_stock_deltas(deltas, counters=COUNTERS[kind]) != len(deltas):
        return False
    StockMovement.objects.bulk_create(
        _movement(pk, units, kind=kind, order_id=order_id, actor=actor, reason=reason)
        for pk, units in deltas.items()
    )
    return True


def stock_reserve(
    *,
    order: object,
    demands: Sequence[StockDemand],
    actor: Actor,
    allow_shortage: bool = False,
    top_up: bool = False,
) -> ReservationResult:
    """Reserve stock for order lines. Raises OutOfStock (and reserves nothing) when a line
    cannot be covered, unless `allow_shortage`, in which case it reserves what there is.
    `top_up` adds to reservations the lines may already hold (releasing a stock hold)."""
    physical = [d for d in demands if d.product.needs_shipping and d.quantity > 0]
    if not physical:
        return ReservationResult(reserved={}, shortages={})
    items = _lock_stock_rows(
        product_id__in=sorted({d.product.pk for d in physical}), warehouse__is_active=True
    )
    plan, shortages = _plan_allocation(physical, items)
    if shortages and not allow_shortage:
        raise OutOfStock(shortages)

    deltas: dict[int, int] = defaultdict(int)
    for _demand, item, quantity in plan:
        deltas[item.pk] += quantity
    reserved_all = _change_stock(
        deltas,
        kind=MovementKind.RESERVE,
        order_id=order.pk,
        actor=actor,
        reason="reserved for order",
    )
    if not reserved_all:
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
    reserved: dict[int, int] = defaultdict(int)
    for demand, _item, quantity in plan:
        reserved[demand.line.pk] += quantity
    return ReservationResult(reserved=dict(reserved), shortages=shortages)


def stock_release_for_order(*, order: object, actor: Actor, reason: str) -> int:
    """Give back every unit still reserved for the order. Returns the units released."""
    reservations = list(
        StockReservation.objects.filter(order_line__order=order).order_by("stock_item_id")
    )
    if not reservations:
        return 0
    deltas: dict[int, int] = defaultdict(int)
    for reservation in reservations:
        deltas[reservation.stock_item_id] -= reservation.quantity
    _lock_stock_rows(pk__in=list(deltas))
    released = _change_stock(
        deltas, kind=MovementKind.RELEASE, order_id=order.pk, actor=actor, reason=reason
    )
    if not released:
        raise RuntimeError(f"stock release for order {order} found reserved below its reservations")
    StockReservation.objects.filter(pk__in=[r.pk for r in reservations]).delete()
    return -sum(deltas.values())


@dataclass(frozen=True)
class PickedUnits:
    """One confirmed pick-list item: `picked` units taken off the shelf for the order line,
    `short` units that were not there. `location_id` is None when no bin was known."""

    order_id: int
    order_line_id: int
    product_id: int
    location_id: int | None
    picked: int
    short: int


def stock_pick(
    *, warehouse_id: int, picks: Sequence[PickedUnits], actor: Actor, reason: str
) -> None:
    """Units leave the warehouse's stock. Picked units go into the box; short units were not
    on the shelf, so the count is corrected. Both leave on_hand and reserved together, come
    off their bins and out of the lines' reservations."""
    if not picks:
        return
    rows = _lock_stock_rows(
        warehouse_id=warehouse_id, product_id__in=sorted({pick.product_id for pick in picks})
    )
    stock_item_of = {item.product_id: item.pk for item in rows}
    leaving: dict[int, int] = defaultdict(int)  # stock item pk -> units (negative)
    consumed: dict[int, int] = defaultdict(int)  # order line pk -> units
    movements: list[StockMovement] = []
    for pick in picks:
        stock_item_id = stock_item_of[pick.product_id]
        if pick.location_id:
            _bin_take(pick.location_id, pick.product_id, pick.picked, emptied=bool(pick.short))
        for kind, units, why in [
            (MovementKind.PICK, pick.picked, reason),
            (MovementKind.SHORT_PICK, pick.short, f"{reason}: not on the shelf"),
        ]:
            if units:
                movements.append(
                    _movement(
                        stock_item_id,
                        -units,
                        kind=kind,
                        order_id=pick.order_id,
                        actor=actor,
                        reason=why,
                    )
                )
        leaving[stock_item_id] -= pick.picked + pick.short
        consumed[pick.order_line_id] += pick.picked + pick.short
    updated = _apply_stock_deltas(leaving, counters=COUNTERS[MovementKind.PICK])
    if updated != len(leaving):
        raise RuntimeError(f"stock pick {reason} found reserved below the units picked")
    StockMovement.objects.bulk_create(movements)
    _consume_reservations(consumed, warehouse_id)


def _bin_take(location_id: int, product_id: int, units: int, *, emptied: bool) -> None:
    """Units taken off a bin. After a short pick the bin is empty, whatever it said; a bin
    that said fewer units than were found on it is emptied too, never negative."""
    remaining = (
        Value(0)
        if emptied
        else Case(
            When(quantity__gte=units, then=F("quantity") - units),
            default=Value(0),
            output_field=IntegerField(),
        )
    )
    BinStock.objects.filter(location_id=location_id, product_id=product_id).update(
        quantity=remaining
    )


def _consume_reservations(consumed: dict[int, int], warehouse_id: int) -> None:
    """Picked (or missing) units are no longer held on the shelf for the line."""
    reservations = StockReservation.objects.select_for_update(no_key=True).filter(
        order_line_id__in=list(consumed), stock_item__warehouse_id=warehouse_id
    )
    for reservation in reservations.order_by("pk"):
        take = min(reservation.quantity, consumed[reservation.order_line_id])
        if not take:
            continue
        consumed[reservation.order_line_id] -= take
        if take == reservation.quantity:
            reservation.delete()
        else:
            StockReservation.objects.filter(pk=reservation.pk).update(quantity=F("quantity") - take)


@dataclass(frozen=True)
class PutBackUnits:
    """Picked units going back on a shelf: `location_id` is the bin they came from (None when
    they were found without one)."""

    warehouse_id: int
    product_id: int
    location_id: int | None
    units: int


def stock_put_back(
    *, order_id: int, put_backs: Sequence[PutBackUnits], actor: Actor, reason: str
) -> None:
    """Picked units that will not ship go back into stock: on_hand grows (they were no longer
    reserved once picked) and each bin they came from holds them again."""
    if not put_backs:
        return
    rows = _lock_stock_rows(
        warehouse_id__in=sorted({unit.warehouse_id for unit in put_backs}),
        product_id__in=sorted({unit.product_id for unit in put_backs}),
    )
    stock_item_of = {(item.warehouse_id, item.product_id): item.pk for item in rows}
    returning: dict[int, int] = defaultdict(int)  # stock item pk -> units
    for unit in put_backs:
        returning[stock_item_of[unit.warehouse_id, unit.product_id]] += unit.units
        if unit.location_id:
            _bin_add(unit.location_id, unit.product_id, unit.units)
    # Adding to on_hand cannot break a bound, so every row is updated.
    _change_stock(
        returning, kind=MovementKind.UNPICK, order_id=order_id, actor=actor, reason=reason
    )


def _bin_add(location_id: int, product_id: int, units: int) -> None:
    updated = BinStock.objects.filter(location_id=location_id, product_id=product_id).update(
        quantity=F("quantity") + units
    )
    if not updated:
        BinStock.objects.create(location_id=location_id, product_id=product_id, quantity=units)


@transaction.atomic
def stock_receive(
    *,
    stock_item: StockItem,
    quantity: int,
    actor: Actor,
    reason: str,
    location: Location | None = None,
) -> StockItem:
    """Goods in: add units to on_hand and, when they are put on a bin, to that bin."""
    if quantity <= 0:
        raise InvalidStockChange(
            "Received quantity must be positive.", fields={"quantity": ["Must be ≥ 1."]}
        )
    if location is not None and location.warehouse_id != stock_item.warehouse_id:
        raise InvalidStockChange(
            f"Bin {location.code} is in another warehouse.",
            fields={"location": ["Choose a bin in the warehouse the goods arrived at."]},
        )
    StockItem.objects.filter(pk=stock_item.pk).update(on_hand=F("on_hand") + quantity)
    if location is not None:
        _bin_add(location.pk, stock_item.product_id, quantity)
    _movement(
        stock_item.pk,
        quantity,
        kind=MovementKind.RECEIVE,
        order_id=None,
        actor=actor,
        reason=reason,
    ).save()
    stock_item.refresh_from_db(fields=["on_hand", "reserved"])
    return stock_item


@transaction.atomic
def stock_receive_into_bin(
    *, product: Product, location: Location, quantity: int, actor: Actor, reason: str
) -> StockItem:
    """Goods in at the dock (the goods-in page): the units go on the bin and into the stock
    of its warehouse, whose stock row for the product is opened the first time it arrives."""
    require_permission(
        actor, "warehouse.change_stockitem", "receive goods", refused=InvalidStockChange
    )
    if not product.needs_shipping:
        raise InvalidStockChange(
            f"{product.sku} is not kept in stock ({product.get_kind_display().lower()}).",
            fields={"product": ["Only physical goods are kept in stock."]},
        )
    stock_item, _ = StockItem.objects.get_or_create(
        product=product, warehouse_id=location.warehouse_id
    )
    return stock_receive(
        stock_item=stock_item, quantity=quantity, actor=actor, reason=reason, location=location
    )


@transaction.atomic
def stock_count(*, stock_item: StockItem, counted: int, actor: Actor, reason: str) -> StockItem:
    """A stock count: set on_hand to what was counted. Refused below what is reserved."""
    (locked,) = _lock_stock_rows(pk=stock_item.pk)
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
        _movement(
            locked.pk, delta, kind=MovementKind.ADJUST, order_id=None, actor=actor, reason=reason
        ).save()
    locked.on_hand = counted
    return locked

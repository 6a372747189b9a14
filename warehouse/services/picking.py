"""Fulfilment services: shipments, pick lists, packing, shipping and delivery (steps 5-8).

Same rules as every service (DESIGN.md): atomic, rows locked (orders, then shipments, then
stock rows in primary-key order), state through transitions, a timeline entry with the actor,
emails through the outbox after the commit.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Case, F, IntegerField, Prefetch, Q, Sum, Value, When
from django.utils import timezone
from django_fsm import ConcurrentTransition, can_proceed

from orders import events
from orders.exceptions import DomainError, StaleOrder, TransitionRefused
from orders.models import EventType, HoldReason, Order, OrderStatus
from orders.notifications import queue_order_notification
from orders.services import lock_order, order_hold, order_transition
from warehouse.carriers import carrier as carrier_spec
from warehouse.models import (
    ON_THE_WAY,
    BinStock,
    MovementKind,
    Package,
    PackageType,
    PickList,
    PickListItem,
    PickListStatus,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    StockItem,
    StockMovement,
    StockReservation,
    TrackingEvent,
)

logger = logging.getLogger(__name__)
SS = ShipmentStatus
Actor = AbstractBaseUser | str | None


class FulfilmentRefused(DomainError):
    code = "fulfilment_refused"
    http_status = 422


def _user(actor: Actor) -> AbstractBaseUser | None:
    return actor if isinstance(actor, AbstractBaseUser) else None


def _require(actor: Actor, permission: str, what: str) -> None:
    if isinstance(actor, AbstractBaseUser) and not actor.has_perm(permission):
        raise FulfilmentRefused(f"You do not have permission to {what}.")


def _lock_shipment(shipment_id: int) -> tuple[Order, Shipment]:
    """Lock the order, then its shipment (always in that order)."""
    order_id = Shipment.objects.filter(pk=shipment_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise FulfilmentRefused(f"There is no shipment {shipment_id}.")
    order = lock_order(order_id)
    return order, Shipment.objects.select_for_update(no_key=True).get(pk=shipment_id)


def _save_shipment(shipment: Shipment, fields: Sequence[str]) -> None:
    try:
        shipment.save(update_fields=list(fields))
    except ConcurrentTransition as exc:
        raise StaleOrder("Someone else changed this shipment; reload and try again.") from exc


# --- shipments from reservations ---------------------------------------------------------


def on_order_ready(*, order: Order, actor: Actor) -> None:
    """ORDER_LIFECYCLE_HOOKS["ready"]: one shipment per warehouse holding the order's stock;
    digital goods get their download links; an order of only digital goods is delivered."""
    from warehouse.services.downloads import grant_downloads

    if order.shipments.exists():
        return  # released back to ready: the shipments are there already
    reservations = (
        StockReservation.objects.filter(order_line__order=order)
        .select_related("stock_item")
        .order_by("stock_item__warehouse_id", "order_line_id")
    )
    by_warehouse: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for reservation in reservations:
        warehouse_id = reservation.stock_item.warehouse_id
        by_warehouse[warehouse_id][reservation.order_line_id] += reservation.quantity
    for warehouse_id, lines in by_warehouse.items():
        shipment = Shipment.objects.create(order=order, warehouse_id=warehouse_id)
        ShipmentLine.objects.bulk_create(
            ShipmentLine(shipment=shipment, order_line_id=line_id, quantity=quantity)
            for line_id, quantity in lines.items()
        )
    grant_downloads(order=order, actor=actor)


def on_order_cancelled(*, order: Order, actor: Actor) -> None:
    """ORDER_LIFECYCLE_HOOKS["cancelled"]: cancel shipments not yet shipped and put picked
    units back on their shelves (the reservations were released by the order's cancel)."""
    shipments = list(
        order.shipments.select_for_update(no_key=True)
        .filter(status__in=[SS.PENDING, SS.PICKING, SS.PACKED])
        .order_by("pk")
    )
    # Lock every stock row the put-backs will touch at once, in primary-key order (rule 4).
    picked = PickListItem.objects.filter(shipment_line__shipment__in=shipments, picked__gt=0)
    list(
        StockItem.objects.select_for_update(no_key=True)
        .filter(
            warehouse_id__in={s.warehouse_id for s in shipments},
            product_id__in=picked.values("product_id"),
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for shipment in shipments:
        _put_back_picked(shipment, actor=actor, reason="order cancelled")
        shipment.cancel()
        _save_shipment(shipment, ["status"])
    PickListItem.objects.filter(shipment_line__shipment__in=shipments, picked__isnull=True).delete()
    from warehouse.services.downloads import revoke_downloads

    revoke_downloads(order=order)


def _put_back_picked(shipment: Shipment, *, actor: Actor, reason: str) -> None:
    picked_items = list(
        PickListItem.objects.filter(shipment_line__shipment=shipment, picked__gt=0)
        .select_related("location")
        .order_by("pk")
    )
    if not picked_items:
        return
    per_product: dict[int, int] = defaultdict(int)
    for item in picked_items:
        per_product[item.product_id] += item.picked
        if item.location_id:
            _bin_add(item.location_id, item.product_id, item.picked)
    items = {
        si.product_id: si
        for si in StockItem.objects.select_for_update(no_key=True)
        .filter(warehouse_id=shipment.warehouse_id, product_id__in=list(per_product))
        .order_by("pk")
    }
    for product_id, units in per_product.items():
        StockItem.objects.filter(pk=items[product_id].pk).update(on_hand=F("on_hand") + units)
    StockMovement.objects.bulk_create(
        StockMovement(
            stock_item=items[product_id],
            kind=MovementKind.UNPICK,
            on_hand_delta=units,
            order_id=shipment.order_id,
            actor=_user(actor),
            reason=reason,
        )
        for product_id, units in per_product.items()
    )
    ShipmentLine.objects.filter(shipment=shipment).update(picked=0)


def _bin_add(location_id: int, product_id: int, units: int) -> None:
    updated = BinStock.objects.filter(location_id=location_id, product_id=product_id).update(
        quantity=F("quantity") + units
    )
    if not updated:
        BinStock.objects.create(location_id=location_id, product_id=product_id, quantity=units)


# --- the fulfilment queue and pick lists ---------------------------------------------------


def lines_to_pick(order_ids: Iterable[int], warehouse_id: int | None = None) -> list[ShipmentLine]:
    """Shipment lines with units neither picked nor waiting on an open pick list."""
    waiting = Sum(
        "pick_items__quantity",
        filter=Q(
            pick_items__pick_list__status=PickListStatus.OPEN, pick_items__picked__isnull=True
        ),
        default=0,
    )
    lines = (
        ShipmentLine.objects.filter(
            shipment__order_id__in=list(order_ids), shipment__status__in=[SS.PENDING, SS.PICKING]
        )
        .select_related("shipment", "order_line__product")
        .annotate(on_open=waiting)
        .order_by("shipment__order_id", "pk")
    )
    if warehouse_id:
        lines = lines.filter(shipment__warehouse_id=warehouse_id)
    return [line for line in lines if line.quantity - line.picked - line.on_open > 0]


@dataclass(frozen=True)
class PickListResult:
    pick_lists: list[PickList]
    skipped: dict[str, str]  # order number -> why it was left out


def picklist_create(*, order_ids: Sequence[int], actor: Actor) -> PickListResult:
    """A wave: one pick list per warehouse for the chosen orders, each line taken from the
    bins that hold it in walking order. Orders not ready (or with nothing left to pick) are
    left out and said so."""
    _require(actor, "warehouse.pick_picklist", "create pick lists")
    skipped: dict[str, str] = {}
    with transaction.atomic():
        orders = [lock_order(pk) for pk in sorted(set(order_ids))]
        eligible = []
        for order in orders:
            if order.status not in (OrderStatus.READY, OrderStatus.PICKING):
                skipped[order.number or str(order.pk)] = (
                    f"it is {order.get_status_display().lower()}"
                )
                continue
            eligible.append(order)
        lines = lines_to_pick([o.pk for o in eligible])
        ordered_with_lines = {line.shipment.order_id for line in lines}
        for order in eligible:
            if order.pk not in ordered_with_lines:
                skipped[order.number] = "nothing is left to pick"
        if not lines:
            return PickListResult(pick_lists=[], skipped=skipped)
        by_warehouse: dict[int, list[ShipmentLine]] = defaultdict(list)
        for line in lines:
            by_warehouse[line.shipment.warehouse_id].append(line)
        pick_lists = []
        for warehouse_id, wh_lines in sorted(by_warehouse.items()):
            pick_list = PickList.objects.create(warehouse_id=warehouse_id, created_by=_user(actor))
            bins = _bins_by_product(warehouse_id, {line.order_line.product_id for line in wh_lines})
            items = []
            for line in wh_lines:
                items += _plan_picks(pick_list, line, bins)
            PickListItem.objects.bulk_create(items)
            pick_lists.append(pick_list)
        shipments = {line.shipment for line in lines}
        for shipment in sorted(shipments, key=lambda s: s.pk):
            if shipment.status == SS.PENDING:
                shipment.start_picking()
                _save_shipment(shipment, ["status"])
        for order in eligible:
            if order.pk in ordered_with_lines and order.status == OrderStatus.READY:
                order_transition(
                    order,
                    "start_picking",
                    actor=actor,
                    event_type=EventType.PICKING_STARTED,
                    message="Picking started (pick list "
                    + ", ".join(p.code for p in pick_lists)
                    + ").",
                    customer_visible=False,
                )
    return PickListResult(pick_lists=pick_lists, skipped=skipped)


def _bins_by_product(warehouse_id: int, product_ids: set[int]) -> dict[int, list[list]]:
    bins: dict[int, list[list]] = defaultdict(list)
    rows = (
        BinStock.objects.filter(
            location__warehouse_id=warehouse_id,
            location__is_active=True,
            product_id__in=product_ids,
            quantity__gt=0,
        )
        .select_related("location")
        .order_by("location__walk_order", "location__aisle", "location__rack", "location__shelf")
    )
    for row in rows:
        bins[row.product_id].append([row.location, row.quantity])
    return bins


def _plan_picks(pick_list: PickList, line: ShipmentLine, bins: dict) -> list[PickListItem]:
    wanted = line.quantity - line.picked - line.on_open
    product_id = line.order_line.product_id
    items = []
    for slot in bins[product_id]:
        location, available = slot
        take = min(wanted, available)
        if take <= 0:
            continue
        items.append(
            PickListItem(
                pick_list=pick_list,
                shipment_line=line,
                product_id=product_id,
                location=location,
                quantity=take,
            )
        )
        slot[1] -= take
        wanted -= take
        if not wanted:
            break
    if wanted:  # no bin says it holds them: the picker looks (location unknown)
        items.append(
            PickListItem(
                pick_list=pick_list, shipment_line=line, product_id=product_id, quantity=wanted
            )
        )
    return items


def picklist_items_for_walk(pick_list: PickList) -> list[dict[str, Any]]:
    """The pick list as the picker walks it: grouped by bin then SKU, in walking order, with
    the orders each group is for. Two queries, however many orders it holds."""
    items = list(
        pick_list.items.select_related(
            "location", "product", "shipment_line__shipment__order"
        ).order_by(
            F("location__walk_order").asc(nulls_last=True),
            F("location__aisle").asc(nulls_last=True),
            F("location__rack").asc(nulls_last=True),
            F("location__shelf").asc(nulls_last=True),
            "product__sku",
            "pk",
        )
    )
    groups: dict[tuple, dict[str, Any]] = {}
    for item in items:
        key = (item.location_id, item.product_id)
        group = groups.setdefault(
            key,
            {
                "location": item.location,
                "product": item.product,
                "quantity": 0,
                "picked": 0,
                "items": [],
            },
        )
        group["quantity"] += item.quantity
        group["picked"] += item.picked or 0
        group["items"].append(item)
    return list(groups.values())


def picklist_confirm(*, pick_list_id: int, picked: dict[int, int], actor: Actor) -> dict[str, Any]:
    """Record what was picked, item by item. Full picks leave stock (on hand and reserved
    both drop); a short pick means the shelf was short: stock is corrected, the order is put
    on hold (out of stock) rather than shipped short."""
    _require(actor, "warehouse.pick_picklist", "confirm pick lists")
    with transaction.atomic():
        pick_list = PickList.objects.select_for_update(no_key=True).filter(pk=pick_list_id).first()
        if pick_list is None:
            raise FulfilmentRefused(f"There is no pick list {pick_list_id}.")
        if pick_list.status != PickListStatus.OPEN:
            raise FulfilmentRefused(
                f"{pick_list.code} is {pick_list.get_status_display().lower()}."
            )
        # Lock the orders first (as every order service does), then read the items: an order
        # cancelled meanwhile has had its items removed and its reservation released.
        order_ids = sorted(
            set(
                pick_list.items.filter(picked__isnull=True).values_list(
                    "shipment_line__shipment__order_id", flat=True
                )
            )
        )
        orders = {pk: lock_order(pk) for pk in order_ids}
        items = list(
            pick_list.items.select_for_update(of=("self",), no_key=True)
            .select_related(
                "shipment_line__shipment", "shipment_line__order_line", "product", "location"
            )
            .filter(picked__isnull=True)
            .exclude(shipment_line__shipment__status=SS.CANCELLED)
            .order_by("pk")
        )
        errors = {}
        for item in items:
            value = picked.get(item.pk)
            if value is None or value < 0 or value > item.quantity:
                errors[str(item.pk)] = [f"Enter 0 to {item.quantity}."]
        if errors:
            raise FulfilmentRefused("Enter a picked quantity for every line.", fields=errors)
        stock = {
            si.product_id: si
            for si in StockItem.objects.select_for_update(no_key=True)
            .filter(
                warehouse_id=pick_list.warehouse_id,
                product_id__in={item.product_id for item in items},
            )
            .order_by("pk")
        }
        short_orders: dict[int, list[str]] = defaultdict(list)
        consumed: dict[int, int] = defaultdict(int)  # stock item -> units leaving reserved
        picked_out: dict[int, int] = defaultdict(int)  # stock item -> units picked
        shorted: dict[int, int] = defaultdict(int)  # stock item -> units not on the shelf
        movements: list[StockMovement] = []
        for item in items:
            units = picked[item.pk]
            short = item.quantity - units
            item.picked = units
            stock_item = stock[item.product_id]
            order_id = item.shipment_line.shipment.order_id
            if units:
                picked_out[stock_item.pk] += units
                ShipmentLine.objects.filter(pk=item.shipment_line_id).update(
                    picked=F("picked") + units
                )
                if item.location_id:
                    BinStock.objects.filter(
                        location_id=item.location_id, product_id=item.product_id
                    ).update(
                        quantity=Case(
                            When(quantity__gte=units, then=F("quantity") - units),
                            default=Value(0),
                            output_field=IntegerField(),
                        )
                    )
                movements.append(
                    StockMovement(
                        stock_item=stock_item,
                        kind=MovementKind.PICK,
                        on_hand_delta=-units,
                        reserved_delta=-units,
                        order_id=order_id,
                        actor=_user(actor),
                        reason=pick_list.code,
                    )
                )
            if short:
                shorted[stock_item.pk] += short
                short_orders[order_id].append(
                    f"{item.product.sku}: {units} of {item.quantity} found"
                    + (f" at {item.location.code}" if item.location_id else "")
                )
                if item.location_id:
                    BinStock.objects.filter(
                        location_id=item.location_id, product_id=item.product_id
                    ).update(quantity=0)
                movements.append(
                    StockMovement(
                        stock_item=stock_item,
                        kind=MovementKind.SHORT_PICK,
                        on_hand_delta=-short,
                        reserved_delta=-short,
                        order_id=order_id,
                        actor=_user(actor),
                        reason=f"{pick_list.code}: not on the shelf",
                    )
                )
            consumed[item.shipment_line.order_line_id] += units + short
        PickListItem.objects.bulk_update(items, ["picked"])
        # Stock leaves: one UPDATE for all rows (on hand and reserved drop together).
        deltas = {pk: picked_out[pk] + shorted[pk] for pk in set(picked_out) | set(shorted)}
        if deltas:
            delta = Case(
                *(When(pk=pk, then=Value(units)) for pk, units in deltas.items()),
                output_field=IntegerField(),
            )
            StockItem.objects.filter(pk__in=list(deltas)).update(
                on_hand=F("on_hand") - delta, reserved=F("reserved") - delta
            )
        StockMovement.objects.bulk_create(movements)
        _consume_reservations(consumed, pick_list.warehouse_id)
        pick_list.status = PickListStatus.COMPLETED
        pick_list.completed_at = timezone.now()
        pick_list.save(update_fields=["status", "completed_at"])
        for order_id, problems in short_orders.items():
            order = orders[order_id]
            events.record(
                order,
                EventType.SHORT_PICK,
                actor=actor,
                message="Short pick: " + "; ".join(problems) + ".",
                data={"pick_list": pick_list.pk},
            )
        for order_id, problems in short_orders.items():
            # Held, not shipped short; released once the missing units are reserved again.
            order_hold(
                order_id=order_id,
                actor="warehouse",
                reason=HoldReason.OUT_OF_STOCK,
                note="Short pick: " + "; ".join(problems) + ".",
            )
    return {"pick_list": pick_list, "short_orders": sorted(short_orders)}


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


# --- packing ------------------------------------------------------------------------------


@dataclass
class PackingCheck:
    expected: dict[str, int]  # barcode or SKU -> units
    scanned: dict[str, int]
    missing: dict[str, int]
    over: dict[str, int]
    unknown: list[str]

    @property
    def matches(self) -> bool:
        return not (self.missing or self.over or self.unknown)


def packable_shipments(order: Order) -> list[Shipment]:
    """Shipments to pack now: only while the order is picking (not held)."""
    if order.status != OrderStatus.PICKING:
        return []
    return list(
        order.shipments.filter(status=SS.PICKING)
        .prefetch_related(
            Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line__product"))
        )
        .order_by("pk")
    )


def packing_expected(shipment: Shipment) -> dict[str, dict[str, Any]]:
    """What should be in the box, by the code the scanner reads (barcode, else SKU)."""
    expected: dict[str, dict[str, Any]] = {}
    for line in shipment.lines.all():
        product = line.order_line.product
        code = product.barcode or product.sku
        entry = expected.setdefault(code, {"product": product, "units": 0, "picked": 0})
        entry["units"] += line.quantity
        entry["picked"] += line.picked
    return expected


def packing_check(shipment: Shipment, scans: Sequence[str]) -> PackingCheck:
    expected = {code: entry["units"] for code, entry in packing_expected(shipment).items()}
    aliases = {}
    for code, entry in packing_expected(shipment).items():
        aliases[entry["product"].sku.upper()] = code
        aliases[code.upper()] = code
    scanned: dict[str, int] = defaultdict(int)
    unknown = []
    for raw in scans:
        value = raw.strip().upper()
        if not value:
            continue
        code = aliases.get(value)
        if code is None:
            unknown.append(raw.strip())
        else:
            scanned[code] += 1
    missing = {c: n - scanned.get(c, 0) for c, n in expected.items() if scanned.get(c, 0) < n}
    over = {c: scanned[c] - expected[c] for c in scanned if scanned[c] > expected[c]}
    return PackingCheck(expected, dict(scanned), missing, over, unknown)


def shipment_pack(
    *,
    shipment_id: int,
    scans: Sequence[str],
    package_type_id: int | None,
    weight_grams: int | None,
    actor: Actor,
) -> Shipment:
    """Close the box: only when every unit was picked and the scans match exactly."""
    _require(actor, "warehouse.ship_shipment", "pack shipments")
    errors: dict[str, list[str]] = {}
    if not package_type_id:
        errors["package_type"] = ["Choose the box."]
    if not weight_grams or weight_grams <= 0:
        errors["weight_grams"] = ["Enter the weight in grams."]
    if errors:
        raise FulfilmentRefused("The box is not complete.", fields=errors)
    with transaction.atomic():
        order, shipment = _lock_shipment(shipment_id)
        if order.status != OrderStatus.PICKING:
            raise FulfilmentRefused(
                f"Order {order.number} is {order.get_status_display().lower()}; only orders "
                "being picked are packed."
            )
        if shipment.status != SS.PICKING:
            raise FulfilmentRefused(
                f"This shipment is {shipment.get_status_display().lower()}; it cannot be packed."
            )
        unpicked = [
            line
            for line in shipment.lines.select_related("order_line")
            if line.picked < line.quantity
        ]
        if unpicked:
            raise FulfilmentRefused(
                "Not everything is picked yet: "
                + ", ".join(f"{l.order_line.sku} {l.picked}/{l.quantity}" for l in unpicked)  # noqa: E741
                + "."
            )
        check = packing_check(shipment, scans)
        if not check.matches:
            raise FulfilmentRefused(
                "The box does not match the order: " + describe_mismatch(check),
                fields={"scans": [describe_mismatch(check)]},
            )
        package_type = PackageType.objects.filter(pk=package_type_id, is_active=True).first()
        if package_type is None:
            raise FulfilmentRefused("Choose a box.", fields={"package_type": ["Unknown box."]})
        if weight_grams > package_type.max_weight_grams:
            raise FulfilmentRefused(
                f"{weight_grams} g is more than a {package_type.name} takes "
                f"({package_type.max_weight_grams} g).",
                fields={"weight_grams": ["Too heavy for this box."]},
            )
        Package.objects.create(
            shipment=shipment,
            package_type=package_type,
            weight_grams=weight_grams,
            packed_by=_user(actor),
        )
        shipment.pack()
        shipment.packed_at = timezone.now()
        _save_shipment(shipment, ["status", "packed_at"])
        open_shipments = order.shipments.exclude(status=SS.CANCELLED).exclude(pk=shipment.pk)
        all_packed = not open_shipments.filter(status__in=[SS.PENDING, SS.PICKING]).exists()
        if order.status == OrderStatus.PICKING and all_packed:
            order_transition(
                order,
                "pack",
                actor=actor,
                event_type=EventType.PACKED,
                message="Packed and ready to ship.",
                customer_visible=True,
            )
        else:
            events.record(
                order,
                EventType.PACKED,
                actor=actor,
                message=f"Shipment {shipment.pk} packed ({package_type.name}, {weight_grams} g).",
            )
    return shipment


def describe_mismatch(check: PackingCheck) -> str:
    parts = []
    if check.missing:
        parts.append("missing " + ", ".join(f"{n} × {c}" for c, n in check.missing.items()))
    if check.over:
        parts.append("too many " + ", ".join(f"{n} × {c}" for c, n in check.over.items()))
    if check.unknown:
        parts.append("not in this order: " + ", ".join(check.unknown))
    return "; ".join(parts) + "."


# --- shipping -----------------------------------------------------------------------------


def shipment_ship(
    *,
    shipment_id: int,
    carrier: str,
    tracking_number: str,
    actor: Actor,
    service_level: str = "",
) -> Shipment:
    """Hand a packed shipment to the carrier: tracking number checked against the carrier's
    format, tracking link built, the customer emailed, the order partially shipped or
    shipped."""
    _require(actor, "warehouse.ship_shipment", "ship shipments")
    try:
        spec = carrier_spec(carrier)
        number = spec.validate(tracking_number)
    except ValueError as exc:
        raise FulfilmentRefused(str(exc), fields={"tracking_number": [str(exc)]}) from exc
    with transaction.atomic():
        order, shipment = _lock_shipment(shipment_id)
        if shipment.status != SS.PACKED:
            raise FulfilmentRefused(
                f"Shipment {shipment.pk} of order {order.number} is "
                f"{shipment.get_status_display().lower()}; only packed shipments ship."
            )
        if not can_proceed(order.ship):
            raise TransitionRefused(
                f"Order {order.number} is {order.get_status_display().lower()}: every shipment "
                "must be packed before the first one leaves."
            )
        duplicate = Shipment.objects.filter(carrier=carrier, tracking_number=number).exclude(
            pk=shipment.pk
        )
        if duplicate.exists():
            raise FulfilmentRefused(
                f"Tracking number {number} is already used by another shipment.",
                fields={"tracking_number": ["Already used."]},
            )
        shipment.ship()
        shipment.carrier = carrier
        shipment.service_level = service_level or spec.service_levels[0]
        shipment.tracking_number = number
        shipment.tracking_url = spec.url(number)
        shipment.shipped_at = timezone.now()
        _save_shipment(
            shipment,
            ["status", "carrier", "service_level", "tracking_number", "tracking_url", "shipped_at"],
        )
        others = order.shipments.exclude(status=SS.CANCELLED).exclude(pk=shipment.pk)
        all_shipped = not others.exclude(status__in=[*ON_THE_WAY, SS.DELIVERED]).exists()
        order_transition(
            order,
            "ship",
            actor=actor,
            event_type=EventType.SHIPPED,
            message=f"Shipped with {spec.name} ({shipment.service_level}), tracking {number}.",
            customer_visible=True,
            publish="order.shipped",
            data={
                "shipment": shipment.pk,
                "carrier": carrier,
                "tracking_number": number,
                "tracking_url": shipment.tracking_url,
                "all_shipped": all_shipped,
            },
            all_shipped=all_shipped,
        )
        queue_order_notification(
            order,
            "order_shipped",
            reference=str(shipment.pk),
            shipment_id=shipment.pk,
            carrier=spec.name,
            tracking_number=number,
            tracking_url=shipment.tracking_url,
            all_shipped=all_shipped,
        )
    logger.info("shipment shipped", extra={"order": order.number, "shipment": shipment.pk})
    return shipment


@dataclass
class BulkShipRow:
    line: int
    order_number: str
    carrier: str
    tracking_number: str
    ok: bool
    message: str


def shipments_ship_from_csv(*, rows: Iterable[dict[str, str]], actor: Actor) -> list[BulkShipRow]:
    """Bulk shipping: each row ships (or is refused, changing nothing) on its own."""
    results = []
    for index, row in enumerate(rows, start=2):  # line 1 is the header
        number = (row.get("order number") or row.get("order_number") or "").strip()
        carrier = (row.get("carrier") or "").strip().lower()
        tracking = (row.get("tracking number") or row.get("tracking_number") or "").strip()
        result = BulkShipRow(index, number, carrier, tracking, False, "")
        results.append(result)
        order = Order.objects.filter(number=number).first() if number else None
        if order is None:
            result.message = f"No order {number!r}."
            continue
        shipment = order.shipments.filter(status=SS.PACKED).order_by("pk").first()
        if shipment is None:
            shipped = order.shipments.filter(status__in=[*ON_THE_WAY, SS.DELIVERED]).exists()
            result.message = (
                "Already shipped."
                if shipped
                else f"Nothing packed to ship (order is {order.get_status_display().lower()})."
            )
            continue
        try:
            shipment_ship(
                shipment_id=shipment.pk, carrier=carrier, tracking_number=tracking, actor=actor
            )
        except DomainError as exc:
            result.message = exc.message
            continue
        result.ok = True
        result.message = f"Shipped (shipment {shipment.pk})."
    return results


# --- delivery -----------------------------------------------------------------------------

TRACKING_STATUSES = {
    SS.IN_TRANSIT: "in_transit",
    SS.OUT_FOR_DELIVERY: "out_for_delivery",
    SS.DELIVERED: "deliver",
    SS.EXCEPTION: "exception",
    SS.RETURNED_TO_SENDER: "return_to_sender",
}


def shipment_track(
    *,
    shipment_id: int,
    status: str,
    actor: Actor,
    event_id: str = "",
    description: str = "",
    location: str = "",
    occurred_at: Any = None,
) -> str:
    """Apply one tracking status to a shipment (carrier webhook or staff). Once per event
    id; a status the shipment has passed already changes nothing."""
    if status not in TRACKING_STATUSES:
        raise FulfilmentRefused(
            f"Unknown status {status!r}.",
            fields={"status": [f"One of {', '.join(TRACKING_STATUSES)}."]},
        )
    with transaction.atomic():
        order, shipment = _lock_shipment(shipment_id)
        if event_id and TrackingEvent.objects.filter(event_id=event_id).exists():
            return "duplicate"
        method = getattr(shipment, TRACKING_STATUSES[status])
        applied = can_proceed(method)
        if event_id:
            TrackingEvent.objects.create(
                shipment=shipment,
                event_id=event_id,
                status=status,
                description=description[:255],
                location=location[:128],
                occurred_at=occurred_at or timezone.now(),
                result="applied" if applied else f"ignored (shipment {shipment.status})",
            )
        if not applied:
            return f"ignored: shipment is {shipment.status}"
        method()
        fields = ["status"]
        if status == SS.DELIVERED:
            shipment.delivered_at = occurred_at or timezone.now()
            fields.append("delivered_at")
        _save_shipment(shipment, fields)
        label = shipment.get_status_display()
        if status == SS.EXCEPTION:
            events.record(
                order,
                EventType.DELIVERY_EXCEPTION,
                actor=actor,
                message=f"Delivery exception for shipment {shipment.pk}: {description or label}.",
                data={"shipment": shipment.pk},
                customer_visible=True,
            )
            queue_order_notification(
                order,
                "delivery_exception",
                reference=f"{shipment.pk}-{event_id or timezone.now().timestamp()}",
                description=description,
                tracking_url=shipment.tracking_url,
                tracking_number=shipment.tracking_number,
            )
        elif status == SS.DELIVERED:
            _deliver_order_if_complete(order, shipment, actor)
        else:
            events.record(
                order,
                EventType.TRACKING,
                actor=actor,
                message=f"Shipment {shipment.pk}: {label}"
                + (f" ({location})" if location else "")
                + ".",
                data={"shipment": shipment.pk, "status": status},
                customer_visible=True,
            )
    return f"applied: {status}"


def _deliver_order_if_complete(order: Order, shipment: Shipment, actor: Actor) -> None:
    remaining = order.shipments.exclude(status__in=[SS.DELIVERED, SS.CANCELLED])
    if remaining.exists() or order.status != OrderStatus.SHIPPED:
        events.record(
            order,
            EventType.TRACKING,
            actor=actor,
            message=f"Shipment {shipment.pk} delivered.",
            data={"shipment": shipment.pk},
            customer_visible=True,
        )
        return
    order.delivered_at = timezone.now()
    order_transition(
        order,
        "deliver",
        actor=actor,
        event_type=EventType.DELIVERED,
        message="Delivered.",
        fields=["delivered_at"],
        customer_visible=True,
        publish="order.delivered",
        data={"shipment": shipment.pk},
    )
    queue_order_notification(order, "order_delivered")

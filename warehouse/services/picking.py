"""Picking (step 5): pick lists as waves over the bins in walking order, and confirming picks."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from orders import events
from orders.actors import Actor, acting_user, require_permission
from orders.models import EventType, HoldReason, OrderStatus
from orders.services import lock_order, order_hold, order_transition
from warehouse.exceptions import FulfilmentRefused
from warehouse.models import (
    BinStock,
    PickList,
    PickListItem,
    PickListStatus,
    ShipmentLine,
    ShipmentStatus,
)
from warehouse.services.shipments import shipment_save
from warehouse.services.stock import PickedUnits, stock_pick

SS = ShipmentStatus


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
    require_permission(
        actor, "warehouse.pick_picklist", "create pick lists", refused=FulfilmentRefused
    )
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
            pick_list = PickList.objects.create(
                warehouse_id=warehouse_id, created_by=acting_user(actor)
            )
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
                shipment_save(shipment, ["status"])
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
    require_permission(
        actor, "warehouse.pick_picklist", "confirm pick lists", refused=FulfilmentRefused
    )
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
        short_orders: dict[int, list[str]] = defaultdict(list)
        picks = []
        for item in items:
            units = picked[item.pk]
            short = item.quantity - units
            item.picked = units
            order_id = item.shipment_line.shipment.order_id
            picks.append(
                PickedUnits(
                    order_id=order_id,
                    order_line_id=item.shipment_line.order_line_id,
                    product_id=item.product_id,
                    location_id=item.location_id,
                    picked=units,
                    short=short,
                )
            )
            if short:
                short_orders[order_id].append(
                    f"{item.product.sku}: {units} of {item.quantity} found"
                    + (f" at {item.location.code}" if item.location_id else "")
                )
        stock_pick(
            warehouse_id=pick_list.warehouse_id, picks=picks, actor=actor, reason=pick_list.code
        )
        for item in items:
            if item.picked:
                ShipmentLine.objects.filter(pk=item.shipment_line_id).update(
                    picked=F("picked") + item.picked
                )
        PickListItem.objects.bulk_update(items, ["picked"])
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

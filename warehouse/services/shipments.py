"""Shipments made when an order is ready and cancelled with it; the order marked delivered."""

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.utils import timezone
from django_fsm import ConcurrentTransition

from orders.actors import Actor
from orders.exceptions import StaleOrder
from orders.models import EventType, Order, OrderStatus
from orders.notifications import queue_order_notification
from orders.services import lock_order, order_transition
from warehouse.exceptions import FulfilmentRefused
from warehouse.models import (
    Appointment,
    AppointmentStatus,
    PickListItem,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    StockReservation,
)
from warehouse.services.downloads import grant_downloads, revoke_downloads
from warehouse.services.stock import PutBackUnits, stock_put_back

SS = ShipmentStatus


def shipment_lock(shipment_id: int) -> tuple[Order, Shipment]:
    """Lock the order, then its shipment (always in that order)."""
    order_id = Shipment.objects.filter(pk=shipment_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise FulfilmentRefused(f"There is no shipment {shipment_id}.")
    order = lock_order(order_id)
    return order, Shipment.objects.select_for_update(no_key=True).get(pk=shipment_id)


def shipment_save(shipment: Shipment, fields: Sequence[str]) -> None:
    """Save a shipment's transition; a concurrent one is StaleOrder (reload and retry)."""
    try:
        shipment.save(update_fields=list(fields))
    except ConcurrentTransition as exc:
        raise StaleOrder("Someone else changed this shipment; reload and try again.") from exc


def parcel_name(shipment: Shipment) -> str:
    """How the customer's timeline names a shipment: "Your parcel" when the order ships in
    one, else "Parcel 2 of 3", numbered as on the order page's Delivery panel."""
    parcels = list(
        Shipment.objects.filter(order_id=shipment.order_id)
        .exclude(status=SS.CANCELLED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if len(parcels) <= 1 or shipment.pk not in parcels:
        return "Your parcel"
    return f"Parcel {parcels.index(shipment.pk) + 1} of {len(parcels)}"


def on_order_ready(*, order: Order, actor: Actor) -> None:
    """The lifecycle's "ready" moment: one shipment per warehouse holding the order's stock;
    digital goods get their download links; an order of only digital goods is delivered."""
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
    if grant_downloads(order=order, actor=actor):
        fulfil_if_nothing_to_ship(order, actor=actor)


def on_order_cancelled(*, order: Order, actor: Actor) -> None:
    """The lifecycle's "cancelled" moment: cancel shipments not yet shipped and put picked
    units back on their shelves (the reservations were released by the order's cancel)."""
    shipments = list(
        order.shipments.select_for_update(no_key=True)
        .filter(status__in=[SS.PENDING, SS.PICKING, SS.PACKED])
        .order_by("pk")
    )
    warehouse_of = {shipment.pk: shipment.warehouse_id for shipment in shipments}
    picked = (
        PickListItem.objects.filter(shipment_line__shipment__in=shipments, picked__gt=0)
        .order_by("shipment_line__shipment_id", "pk")
        .values_list("shipment_line__shipment_id", "product_id", "location_id", "picked")
    )
    put_backs = []
    picked_shipments = set()
    for shipment_id, product_id, location_id, units in picked:
        picked_shipments.add(shipment_id)
        put_backs.append(
            PutBackUnits(
                warehouse_id=warehouse_of[shipment_id],
                product_id=product_id,
                location_id=location_id,
                units=units,
            )
        )
    stock_put_back(order_id=order.pk, put_backs=put_backs, actor=actor, reason="order cancelled")
    ShipmentLine.objects.filter(shipment_id__in=picked_shipments).update(picked=0)
    for shipment in shipments:
        shipment.cancel()
        shipment_save(shipment, ["status"])
    PickListItem.objects.filter(shipment_line__shipment__in=shipments, picked__isnull=True).delete()
    revoke_downloads(order=order)


def fulfil_if_nothing_to_ship(order: Order, *, actor: Actor) -> None:
    """An order of only digital goods and services is delivered once every service line has
    had its visit (the links went out when it became ready)."""
    if order.status != OrderStatus.READY:
        return
    lines = list(order.lines.all())
    if any(line.product_kind == "physical" for line in lines):
        return
    services = [line for line in lines if line.product_kind == "service"]
    done = set(
        Appointment.objects.filter(
            order_line__in=services, status=AppointmentStatus.DONE
        ).values_list("order_line_id", flat=True)
    )
    if any(line.pk not in done for line in services):
        return
    order_mark_delivered(
        order, transition="fulfil", actor=actor, message="Delivered (downloads and services)."
    )


def order_mark_delivered(
    order: Order,
    *,
    transition: str,
    actor: Actor,
    message: str,
    data: dict[str, Any] | None = None,
) -> None:
    """The order (locked by the caller) delivered through `transition` ("deliver" after its
    last shipment, "fulfil" with nothing to ship): the delivery time, the timeline entry, the
    partner event and the customer's delivered email."""
    order.delivered_at = timezone.now()
    order_transition(
        order,
        transition,
        actor=actor,
        event_type=EventType.DELIVERED,
        message=message,
        fields=["delivered_at"],
        customer_visible=True,
        publish="order.delivered",
        data=data,
    )
    queue_order_notification(order, "order_delivered")

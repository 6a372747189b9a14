"""Shipping (step 7): packed shipments handed to the carrier, one by one or from a CSV."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django_fsm import can_proceed

from orders.actors import Actor, require_permission
from orders.exceptions import DomainError, TransitionRefused
from orders.models import EventType, Order
from orders.notifications import queue_order_notification
from orders.services import order_transition
from warehouse.carriers import carrier as carrier_spec
from warehouse.exceptions import FulfilmentRefused
from warehouse.models import ON_THE_WAY, Shipment, ShipmentStatus
from warehouse.services.shipments import parcel_name, shipment_lock, shipment_save

logger = logging.getLogger(__name__)
SS = ShipmentStatus


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
    require_permission(
        actor, "warehouse.ship_shipment", "ship shipments", refused=FulfilmentRefused
    )
    try:
        spec = carrier_spec(carrier)
        number = spec.validate(tracking_number)
    except ValueError as exc:
        raise FulfilmentRefused(str(exc), fields={"tracking_number": [str(exc)]}) from exc
    with transaction.atomic():
        order, shipment = shipment_lock(shipment_id)
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
        shipment_save(
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
            message=_shipped_message(shipment),
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
            carrier=shipment.carrier_and_service,
            tracking_number=number,
            tracking_url=shipment.tracking_url,
            all_shipped=all_shipped,
        )
    logger.info("shipment shipped", extra={"order": order.number, "shipment": shipment.pk})
    return shipment


def _shipped_message(shipment: Shipment) -> str:
    """The customer's timeline entry: "Shipped with DHL Paket, tracking 3404340001.", or
    "Parcel 1 of 2 shipped with ..." when the order ships in several."""
    parcel = parcel_name(shipment)
    said = "Shipped" if parcel == "Your parcel" else f"{parcel} shipped"
    return f"{said} with {shipment.carrier_and_service}, tracking {shipment.tracking_number}."


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

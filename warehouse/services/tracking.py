"""Tracking and delivery (step 8): carrier statuses applied to a shipment, once per event."""

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_fsm import can_proceed

from orders import events
from orders.actors import Actor
from orders.models import EventType, Order, OrderStatus
from orders.notifications import queue_order_notification
from warehouse.exceptions import FulfilmentRefused
from warehouse.models import Shipment, ShipmentStatus, TrackingEvent
from warehouse.services.shipments import (
    order_mark_delivered,
    parcel_name,
    shipment_lock,
    shipment_save,
)

SS = ShipmentStatus

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
    id and shipment (another shipment may carry the same id); a status the shipment has
    passed already changes nothing."""
    if status not in TRACKING_STATUSES:
        raise FulfilmentRefused(
            f"Unknown status {status!r}.",
            fields={"status": [f"One of {', '.join(TRACKING_STATUSES)}."]},
        )
    with transaction.atomic():
        order, shipment = shipment_lock(shipment_id)
        method = getattr(shipment, TRACKING_STATUSES[status])
        applied = can_proceed(method)
        if event_id:
            recorded = _record_once(
                TrackingEvent(
                    shipment=shipment,
                    event_id=event_id,
                    status=status,
                    description=description[:255],
                    location=location[:128],
                    occurred_at=occurred_at or timezone.now(),
                    result="applied" if applied else f"ignored (shipment {shipment.status})",
                )
            )
            if not recorded:
                return "duplicate"
        if not applied:
            return f"ignored: shipment is {shipment.status}"
        method()
        fields = ["status"]
        if status == SS.DELIVERED:
            shipment.delivered_at = occurred_at or timezone.now()
            fields.append("delivered_at")
        shipment_save(shipment, fields)
        if status == SS.EXCEPTION:
            events.record(
                order,
                EventType.DELIVERY_EXCEPTION,
                actor=actor,
                message=_timeline_message(shipment, status, description=description),
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
                message=_timeline_message(shipment, status, location=location),
                data={"shipment": shipment.pk, "status": status},
                customer_visible=True,
            )
    return f"applied: {status}"


def _timeline_message(
    shipment: Shipment, status: str, *, location: str = "", description: str = ""
) -> str:
    """A tracking status in the customer's words, on the order's timeline: "Your parcel is
    on its way with DHL Paket (tracking 3404340001), last seen in Leipzig." or "Parcel 2 of
    3 has been delivered." """
    parcel = parcel_name(shipment)
    seen = f", last seen in {location}" if location else ""
    if status == SS.IN_TRANSIT:
        return (
            f"{parcel} is on its way with {shipment.carrier_and_service} "
            f"(tracking {shipment.tracking_number}){seen}."
        )
    if status == SS.OUT_FOR_DELIVERY:
        return f"{parcel} is out for delivery{seen}."
    if status == SS.DELIVERED:
        return f"{parcel} has been delivered."
    if status == SS.EXCEPTION:
        problem = description or "the carrier reports a problem"
        return f"{parcel} could not be delivered as planned: {problem.rstrip('.')}."
    return f"{parcel} is on its way back to us{seen}."  # returned to sender


def _record_once(event: TrackingEvent) -> bool:
    """Keep the carrier's event unless this shipment has it already (False). The insert is
    the check, in a savepoint: the same event arriving twice at once is recorded once, and
    the second answer is "duplicate", never a server error."""
    try:
        with transaction.atomic():
            event.save(force_insert=True)
    except IntegrityError:
        already = TrackingEvent.objects.filter(shipment=event.shipment, event_id=event.event_id)
        if already.exists():
            return False
        raise
    return True


def _deliver_order_if_complete(order: Order, shipment: Shipment, actor: Actor) -> None:
    remaining = order.shipments.exclude(status__in=[SS.DELIVERED, SS.CANCELLED])
    if remaining.exists() or order.status != OrderStatus.SHIPPED:
        events.record(
            order,
            EventType.TRACKING,
            actor=actor,
            message=_timeline_message(shipment, SS.DELIVERED),
            data={"shipment": shipment.pk},
            customer_visible=True,
        )
        return
    order_mark_delivered(
        order,
        transition="deliver",
        actor=actor,
        message="Delivered.",
        data={"shipment": shipment.pk},
    )

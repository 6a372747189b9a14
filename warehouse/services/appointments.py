"""Delivery without a parcel for services: appointments booked for the visit, and the order
delivered once every service is done and nothing is left to ship.
"""

from datetime import date, time

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from orders import events
from orders.actors import Actor, require_permission
from orders.models import EventType, OrderLine, OrderStatus
from orders.notifications import queue_order_notification
from orders.services import lock_order
from warehouse.exceptions import AppointmentRefused
from warehouse.models import Appointment, AppointmentStatus
from warehouse.services.shipments import fulfil_if_nothing_to_ship


def _require_scheduler(actor: Actor, what: str) -> None:
    require_permission(actor, "warehouse.schedule_appointment", what, refused=AppointmentRefused)


def appointment_schedule(
    *,
    order_line_id: int,
    day: date,
    window_start: time,
    window_end: time,
    actor: Actor,
    technician: AbstractBaseUser | None = None,
    technician_name: str = "",
    notes: str = "",
) -> Appointment:
    """Book the visit for a service line and email the customer the date and window."""
    _require_scheduler(actor, "schedule appointments")
    with transaction.atomic():
        line = OrderLine.objects.select_related("order").get(pk=order_line_id)
        order = lock_order(line.order_id)
        line.order = order
        errors = appointment_problems(line, day, window_start, window_end)
        if errors:
            message = " ".join(p for problems in errors.values() for p in problems)
            raise AppointmentRefused(message, fields=errors)
        Appointment.objects.filter(order_line=line, status=AppointmentStatus.SCHEDULED).update(
            status=AppointmentStatus.CANCELLED
        )
        appointment = Appointment.objects.create(
            order_line=line,
            date=day,
            window_start=window_start,
            window_end=window_end,
            technician=technician,
            technician_name=technician_name or (technician.get_full_name() if technician else ""),
            notes=notes,
        )
        when = f"{day:%A %d %B %Y}, {window_start:%H:%M}–{window_end:%H:%M}"
        events.record(
            order,
            EventType.APPOINTMENT_SCHEDULED,
            actor=actor,
            message=f"{line.name}: appointment {when}.",
            data={"appointment": appointment.pk},
            customer_visible=True,
        )
        queue_order_notification(
            order,
            "appointment_scheduled",
            reference=str(appointment.pk),
            service=line.name,
            when=when,
            technician=appointment.technician_name,
        )
    return appointment


BOOKABLE_STATES = [
    OrderStatus.READY,
    OrderStatus.PICKING,
    OrderStatus.PACKED,
    OrderStatus.PARTIALLY_SHIPPED,
    OrderStatus.SHIPPED,
]


def appointment_problems(
    line: OrderLine, day: date, window_start: time, window_end: time
) -> dict[str, list[str]]:
    """What is wrong with booking this visit (empty when it can be booked)."""
    errors: dict[str, list[str]] = {}
    if window_start >= window_end:
        errors["window_end"] = ["The window must end after it starts."]
    if day < timezone.localdate():
        errors["date"] = ["The date is in the past."]
    if line.product_kind != "service":
        errors["order_line"] = [f"{line.sku} is not a service."]
    elif line.order.status not in BOOKABLE_STATES:
        errors["order_line"] = [
            f"Order {line.order.number} is {line.order.get_status_display().lower()}; visits "
            "are booked once it is paid and released to the warehouse."
        ]
    return errors


def appointment_complete(*, appointment_id: int, actor: Actor, notes: str = "") -> Appointment:
    """The technician marks the visit done; an order whose services are all done (and that
    has nothing to ship) is delivered."""
    _require_scheduler(actor, "complete appointments")
    with transaction.atomic():
        appointment = Appointment.objects.select_related("order_line").get(pk=appointment_id)
        order = lock_order(appointment.order_line.order_id)
        appointment = Appointment.objects.select_for_update(no_key=True).get(pk=appointment_id)
        if appointment.status != AppointmentStatus.SCHEDULED:
            raise AppointmentRefused(
                f"This appointment is {appointment.get_status_display().lower()}."
            )
        appointment.status = AppointmentStatus.DONE
        appointment.completed_at = timezone.now()
        if notes:
            appointment.notes = (appointment.notes + "\n" + notes).strip()
        appointment.save(update_fields=["status", "completed_at", "notes"])
        events.record(
            order,
            EventType.APPOINTMENT_DONE,
            actor=actor,
            message=f"{appointment.order_line.name}: done.",
            data={"appointment": appointment.pk},
            customer_visible=True,
        )
        fulfil_if_nothing_to_ship(order, actor=actor)
    return appointment

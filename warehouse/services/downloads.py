"""Delivery without a parcel: download links for digital goods, appointments for services.

Download links are signed (tampering is detected without a database lookup), expire, and
count downloads with a conditional UPDATE so two clicks at once cannot pass the limit.
"""

import logging
from datetime import date, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from orders import events
from orders.exceptions import DomainError
from orders.models import EventType, Order, OrderLine, OrderStatus
from orders.notifications import queue_order_notification
from orders.services import lock_order, order_transition
from warehouse.models import Appointment, AppointmentStatus, DigitalAsset, DownloadGrant

logger = logging.getLogger(__name__)
DOWNLOAD_SALT = "warehouse.download"


class DownloadRefused(DomainError):
    code = "download_refused"
    http_status = 403


class AppointmentRefused(DomainError):
    code = "appointment_refused"
    http_status = 422


def _user(actor: Any) -> AbstractBaseUser | None:
    return actor if isinstance(actor, AbstractBaseUser) else None


# --- downloads ----------------------------------------------------------------------------


def download_token(grant: DownloadGrant) -> str:
    return signing.dumps({"grant": grant.pk}, salt=DOWNLOAD_SALT, compress=True)


def download_url(grant: DownloadGrant) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/downloads/{download_token(grant)}/"


def grant_downloads(*, order: Order, actor: Any) -> list[DownloadGrant]:
    """Give the order's digital lines their links and email them; an order of only digital
    goods is then delivered. Safe to call twice."""
    lines = list(order.lines.filter(product_kind="digital").select_related("product"))
    if not lines:
        return []
    assets = {}
    for asset in DigitalAsset.objects.filter(product_id__in=[line.product_id for line in lines]):
        assets.setdefault(asset.product_id, []).append(asset)
    now = timezone.now()
    grants = []
    for line in lines:
        for asset in assets.get(line.product_id, []):
            grant, _ = DownloadGrant.objects.get_or_create(
                order_line=line,
                asset=asset,
                defaults={
                    "expires_at": now + timedelta(days=asset.link_valid_days),
                    "max_downloads": asset.max_downloads * line.quantity,
                },
            )
            grants.append(grant)
    missing = [line.sku for line in lines if line.product_id not in assets]
    if missing:
        events.record(
            order,
            EventType.NOTE,
            actor="warehouse",
            message="No file is attached to " + ", ".join(missing) + "; add one in the "
            "Digital assets admin, then resend the download links.",
        )
    if grants:
        links = [
            {
                "name": g.asset.filename,
                "url": download_url(g),
                "expires": g.expires_at.isoformat(),
                "downloads": g.max_downloads,
            }
            for g in grants
        ]
        events.record(
            order,
            EventType.DOWNLOADS_SENT,
            actor=actor,
            message=f"Download links sent for {len(grants)} file(s).",
            customer_visible=True,
        )
        queue_order_notification(order, "download_links", links=links)
    if not missing:
        _fulfil_if_done(order, actor)
    return grants


def revoke_downloads(*, order: Order) -> int:
    return DownloadGrant.objects.filter(order_line__order=order, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def download_open(*, token: str) -> DownloadGrant:
    """Check a download link and count the download. DownloadRefused says why not."""
    try:
        data = signing.loads(token, salt=DOWNLOAD_SALT)
    except signing.BadSignature as exc:
        raise DownloadRefused("This download link is not valid.") from exc
    grant = (
        DownloadGrant.objects.select_related("asset", "order_line__order")
        .filter(pk=data.get("grant"))
        .first()
    )
    if grant is None or grant.revoked_at is not None:
        raise DownloadRefused("This download link is no longer valid.")
    if grant.expires_at <= timezone.now():
        raise DownloadRefused("This download link has expired; contact us for a new one.")
    counted = DownloadGrant.objects.filter(
        pk=grant.pk, download_count__lt=F("max_downloads"), revoked_at__isnull=True
    ).update(download_count=F("download_count") + 1)
    if not counted:
        raise DownloadRefused(
            f"This link has been used {grant.max_downloads} times, its limit; contact us."
        )
    grant.download_count += 1
    return grant


# --- appointments -------------------------------------------------------------------------


def appointment_schedule(
    *,
    order_line_id: int,
    day: date,
    window_start: time,
    window_end: time,
    actor: Any,
    technician: AbstractBaseUser | None = None,
    technician_name: str = "",
    notes: str = "",
) -> Appointment:
    """Book the visit for a service line and email the customer the date and window."""
    if isinstance(actor, AbstractBaseUser) and not actor.has_perm("warehouse.schedule_appointment"):
        raise AppointmentRefused("You do not have permission to schedule appointments.")
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


def appointment_complete(*, appointment_id: int, actor: Any, notes: str = "") -> Appointment:
    """The technician marks the visit done; an order whose services are all done (and that
    has nothing to ship) is delivered."""
    if isinstance(actor, AbstractBaseUser) and not actor.has_perm("warehouse.schedule_appointment"):
        raise AppointmentRefused("You do not have permission to complete appointments.")
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
        _fulfil_if_done(order, actor)
    return appointment


def _fulfil_if_done(order: Order, actor: Any) -> None:
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
    order.delivered_at = timezone.now()
    order_transition(
        order,
        "fulfil",
        actor=actor,
        event_type=EventType.DELIVERED,
        message="Delivered (downloads and services).",
        fields=["delivered_at"],
        customer_visible=True,
        publish="order.delivered",
    )
    queue_order_notification(order, "order_delivered")

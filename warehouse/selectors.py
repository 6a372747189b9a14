"""Reads for pages that show an order's delivery: shipments, downloads, appointments."""

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch
from django.utils import timezone

from orders.models import Order
from warehouse.models import (
    Appointment,
    AppointmentStatus,
    DownloadGrant,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)
from warehouse.services.downloads import download_url


@dataclass(frozen=True)
class DownloadLink:
    name: str
    url: str
    expires_at: Any
    remaining: int
    usable: bool


def order_fulfilment(order: Order) -> dict[str, list]:
    """Three queries, however many shipments, lines, files or visits the order has."""
    shipments = list(
        Shipment.objects.filter(order=order)
        .exclude(status=ShipmentStatus.CANCELLED)
        .select_related("warehouse")
        .prefetch_related(
            Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line"))
        )
        .order_by("pk")
    )
    now = timezone.now()
    downloads = [
        DownloadLink(
            name=grant.asset.filename,
            url=download_url(grant),
            expires_at=grant.expires_at,
            remaining=max(grant.max_downloads - grant.download_count, 0),
            usable=grant.revoked_at is None
            and grant.expires_at > now
            and grant.download_count < grant.max_downloads,
        )
        for grant in DownloadGrant.objects.filter(order_line__order=order)
        .select_related("asset")
        .order_by("pk")
    ]
    appointments = list(
        Appointment.objects.filter(order_line__order=order)
        .exclude(status=AppointmentStatus.CANCELLED)
        .select_related("order_line")
        .order_by("date", "window_start")
    )
    return {"shipments": shipments, "downloads": downloads, "appointments": appointments}

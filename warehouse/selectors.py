"""Reads: an order's delivery (shipments, downloads, appointments), the warehouse dashboard,
and the products and bins the goods-in page scans."""

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Count, Prefetch, Q
from django.utils import timezone

from orders.models import Order, OrderStatus
from warehouse.models import (
    Appointment,
    AppointmentStatus,
    DownloadGrant,
    Location,
    PickList,
    PickListStatus,
    Product,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    Warehouse,
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


# Orders in the warehouse's hands; a late one has missed its promised ship-by date.
WORKING = [
    OrderStatus.READY,
    OrderStatus.PICKING,
    OrderStatus.PACKED,
    OrderStatus.PARTIALLY_SHIPPED,
]
DASHBOARD_ORDER_STATES = [*WORKING, OrderStatus.ON_HOLD, OrderStatus.SHIPPED]


def warehouse_dashboard(*, today: date) -> dict[str, Any]:
    """Counts of orders per state and of shipments under way, the late orders (the 50 most
    overdue), delivery exceptions, open pick lists and today's visits: six queries, however
    many orders there are."""
    counts = Order.objects.filter(status__in=DASHBOARD_ORDER_STATES).aggregate(
        **{state: Count("pk", filter=Q(status=state)) for state in DASHBOARD_ORDER_STATES},
        late=Count("pk", filter=Q(status__in=WORKING, promised_ship_by__lt=today)),
    )
    shipment_counts = dict(
        Shipment.objects.exclude(status__in=[ShipmentStatus.DELIVERED, ShipmentStatus.CANCELLED])
        .values_list("status")
        .annotate(n=Count("pk"))
    )
    late = (
        Order.objects.filter(status__in=WORKING, promised_ship_by__lt=today)
        .select_related("shipping_method")
        .order_by("promised_ship_by", "pk")[:50]
    )
    exceptions = (
        Shipment.objects.filter(status=ShipmentStatus.EXCEPTION)
        .select_related("order")
        .order_by("pk")[:50]
    )
    return {
        "order_counts": [
            (OrderStatus(state).label, counts[state]) for state in DASHBOARD_ORDER_STATES
        ],
        "shipment_counts": [
            (ShipmentStatus(state).label, n) for state, n in sorted(shipment_counts.items())
        ],
        "late": list(late),
        "late_count": counts["late"],
        "exceptions": list(exceptions),
        "open_pick_lists": PickList.objects.filter(status=PickListStatus.OPEN).count(),
        "appointments_today": Appointment.objects.filter(
            date=today, status=AppointmentStatus.SCHEDULED
        ).count(),
    }


def product_for_code(code: str) -> Product | None:
    """The product a scanner or a person names: its SKU (any case) or its barcode."""
    value = code.strip()
    if not value:
        return None
    found = list(Product.objects.filter(Q(sku=value.upper()) | Q(barcode=value))[:2])
    # A barcode of one product that is another's SKU: the SKU wins, as typed codes are SKUs.
    found.sort(key=lambda product: product.sku != value.upper())
    return found[0] if found else None


BIN_NUMBER = re.compile(r"[0-9]{1,5}")  # ASCII digits only: int() takes others too
BIN_NUMBER_MAX = 32767  # racks and shelves are small integers in the database


def location_for_code(*, warehouse: Warehouse, code: str) -> Location | None:
    """The bin a scanner or a person names in a warehouse, by the code its label and the pick
    lists print (aisle-rack-shelf, e.g. A-02-03)."""
    parts = code.strip().upper().rsplit("-", 2)  # an aisle may hold a dash itself
    if len(parts) != 3 or not (
        parts[0] and BIN_NUMBER.fullmatch(parts[1]) and BIN_NUMBER.fullmatch(parts[2])
    ):
        return None
    aisle, rack, shelf = parts
    if max(int(rack), int(shelf)) > BIN_NUMBER_MAX:
        return None
    return (
        Location.objects.filter(
            warehouse=warehouse, aisle__iexact=aisle, rack=int(rack), shelf=int(shelf)
        )
        .select_related("warehouse")
        .first()
    )

"""Shipments from a warehouse, their lines, packages and tracking events; the fulfilment
queue's view of orders."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition

from orders.models import Order
from warehouse.models.catalogue import Carrier, Warehouse


class ShipmentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PICKING = "picking", "Picking"
    PACKED = "packed", "Packed"
    SHIPPED = "shipped", "Shipped"
    IN_TRANSIT = "in_transit", "In transit"
    OUT_FOR_DELIVERY = "out_for_delivery", "Out for delivery"
    DELIVERED = "delivered", "Delivered"
    EXCEPTION = "exception", "Delivery exception"
    RETURNED_TO_SENDER = "returned_to_sender", "Returned to sender"
    CANCELLED = "cancelled", "Cancelled"


SS = ShipmentStatus


def carrier_with_service(carrier: str, service_level: str) -> str:
    """A carrier's name with a service level that may repeat it: "DHL" and "DHL Paket" make
    "DHL Paket"; "Own delivery" and "Courier" make "Own delivery (Courier)"."""
    if not service_level or service_level.casefold() == carrier.casefold():
        return carrier
    if not carrier or service_level.casefold().startswith(carrier.casefold()):
        return service_level
    return f"{carrier} ({service_level})"


ON_THE_WAY = [SS.SHIPPED, SS.IN_TRANSIT, SS.OUT_FOR_DELIVERY, SS.EXCEPTION]


class Shipment(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="shipments")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="shipments")
    status = FSMField(
        max_length=20, choices=ShipmentStatus.choices, default=SS.PENDING, protected=True
    )
    carrier = models.CharField(max_length=16, choices=Carrier.choices, blank=True)
    service_level = models.CharField(max_length=50, blank=True)
    tracking_number = models.CharField(max_length=64, blank=True, db_index=True)
    tracking_url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    packed_at = models.DateTimeField(null=True, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "tracking_number"],
                condition=~Q(tracking_number=""),
                name="shipment_tracking_unique",
            )
        ]
        permissions = [("ship_shipment", "Can pack and ship shipments")]

    def __str__(self) -> str:
        return f"Shipment {self.pk} of {self.order}"

    @property
    def carrier_and_service(self) -> str:
        """The carrier and its service level for people to read, the carrier named once:
        "DHL Paket" (not "DHL (DHL Paket)"), "Own delivery (Courier)"."""
        return carrier_with_service(self.get_carrier_display(), self.service_level)

    @transition(field="status", source=SS.PENDING, target=SS.PICKING)
    def start_picking(self) -> None:
        pass

    @transition(field="status", source=[SS.PENDING, SS.PICKING], target=SS.PACKED)
    def pack(self) -> None:
        pass

    @transition(field="status", source=SS.PACKED, target=SS.SHIPPED)
    def ship(self) -> None:
        pass

    @transition(field="status", source=[SS.SHIPPED, SS.EXCEPTION], target=SS.IN_TRANSIT)
    def in_transit(self) -> None:
        pass

    @transition(
        field="status", source=[SS.SHIPPED, SS.IN_TRANSIT, SS.EXCEPTION], target=SS.OUT_FOR_DELIVERY
    )
    def out_for_delivery(self) -> None:
        pass

    @transition(field="status", source=ON_THE_WAY, target=SS.DELIVERED)
    def deliver(self) -> None:
        pass

    @transition(
        field="status", source=[SS.SHIPPED, SS.IN_TRANSIT, SS.OUT_FOR_DELIVERY], target=SS.EXCEPTION
    )
    def exception(self) -> None:
        pass

    @transition(field="status", source=ON_THE_WAY, target=SS.RETURNED_TO_SENDER)
    def return_to_sender(self) -> None:
        pass

    @transition(field="status", source=[SS.PENDING, SS.PICKING, SS.PACKED], target=SS.CANCELLED)
    def cancel(self) -> None:
        pass


class ShipmentLine(models.Model):
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="shipment_lines"
    )
    quantity = models.PositiveIntegerField()
    picked = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="shipment_line_positive"),
            models.CheckConstraint(
                condition=Q(picked__lte=F("quantity")), name="shipment_line_picked_within"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × line {self.order_line_id}"


class PackageType(models.Model):
    name = models.CharField(max_length=50, unique=True)
    length_mm = models.PositiveIntegerField()
    width_mm = models.PositiveIntegerField()
    height_mm = models.PositiveIntegerField()
    max_weight_grams = models.PositiveIntegerField(default=20000)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["length_mm", "width_mm", "height_mm"]

    def __str__(self) -> str:
        return f"{self.name} ({self.length_mm}×{self.width_mm}×{self.height_mm} mm)"


class Package(models.Model):
    shipment = models.OneToOneField(Shipment, on_delete=models.CASCADE, related_name="package")
    package_type = models.ForeignKey(PackageType, on_delete=models.PROTECT, related_name="+")
    weight_grams = models.PositiveIntegerField()
    packed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(weight_grams__gt=0), name="package_weight_positive")
        ]

    def __str__(self) -> str:
        return f"{self.package_type.name}, {self.weight_grams} g"


class TrackingEvent(models.Model):
    """A carrier's report about a shipment, kept once per event id and shipment: the
    carrier's ids are its own (the shipment names the carrier), and one id may report on
    several shipments."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="tracking_events")
    event_id = models.CharField(max_length=128)
    status = models.CharField(max_length=20, choices=ShipmentStatus.choices)
    description = models.CharField(max_length=255, blank=True)
    location = models.CharField(max_length=128, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    result = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["occurred_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "event_id"], name="tracking_event_once_per_shipment"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status} {self.occurred_at:%Y-%m-%d %H:%M}"


# --- picking ------------------------------------------------------------------------------


class FulfilmentOrder(Order):
    """The fulfilment queue in the staff console: orders ready for the warehouse."""

    class Meta:
        proxy = True
        verbose_name = "order to fulfil"
        verbose_name_plural = "fulfilment queue"

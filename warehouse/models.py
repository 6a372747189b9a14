"""Catalogue, warehouses and stock. Stock never goes below zero: database CHECK constraints
back the conditional updates in `warehouse.services`."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition

from orders.models import Order


class ProductKind(models.TextChoices):
    PHYSICAL = "physical", "Physical goods"
    DIGITAL = "digital", "Digital goods"
    SERVICE = "service", "Service"


class Product(models.Model):
    sku = models.CharField(
        "SKU",
        max_length=64,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9][A-Z0-9._-]*$", "Use capitals, digits, . _ -")],
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=16, choices=ProductKind.choices, default="physical")
    price = models.DecimalField(
        max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0.00"))]
    )
    currency = models.CharField(max_length=3, default=settings.DEFAULT_CURRENCY)
    weight_grams = models.PositiveIntegerField(default=0)
    barcode = models.CharField(max_length=32, blank=True, help_text="EAN-13, UPC-A or Code 128")
    is_active = models.BooleanField(default=True, help_text="Inactive products cannot be sold.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
            models.UniqueConstraint(
                fields=["barcode"], condition=~Q(barcode=""), name="product_barcode_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"

    @property
    def needs_shipping(self) -> bool:
        return self.kind == ProductKind.PHYSICAL


class Warehouse(models.Model):
    code = models.SlugField(max_length=16, unique=True)
    name = models.CharField(max_length=100)
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2")
    city = models.CharField(max_length=100, blank=True)
    priority = models.PositiveSmallIntegerField(
        default=100, help_text="Lower ships first when several warehouses could."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "code"]

    def __str__(self) -> str:
        return self.name


class StockItem(models.Model):
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="stock_items")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock_items")
    on_hand = models.IntegerField(default=0, help_text="Units physically in the warehouse.")
    reserved = models.IntegerField(default=0, help_text="Units promised to open orders.")

    class Meta:
        ordering = ["product__sku", "warehouse__priority"]
        constraints = [
            models.UniqueConstraint(fields=["product", "warehouse"], name="stock_item_unique"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="stock_on_hand_not_negative"),
            models.CheckConstraint(
                condition=Q(reserved__gte=0), name="stock_reserved_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(reserved__lte=F("on_hand")), name="stock_reserved_within_on_hand"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.sku} @ {self.warehouse.code}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockReservation(models.Model):
    """Units of one stock item held for one order line until it is picked or released."""

    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.CASCADE, related_name="reservations"
    )
    stock_item = models.ForeignKey(StockItem, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["order_line", "stock_item"], name="reservation_unique_per_line_item"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="reservation_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.stock_item_id} for line {self.order_line_id}"


class MovementKind(models.TextChoices):
    RECEIVE = "receive", "Received"
    ADJUST = "adjust", "Adjusted (count)"
    RESERVE = "reserve", "Reserved for an order"
    RELEASE = "release", "Reservation released"
    PICK = "pick", "Picked for an order"
    SHORT_PICK = "short_pick", "Short pick (not on the shelf)"
    UNPICK = "unpick", "Put back (order cancelled)"


class StockMovement(models.Model):
    """The audit log of stock: every change to on_hand or reserved, who made it and why."""

    stock_item = models.ForeignKey(StockItem, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=16, choices=MovementKind.choices)
    on_hand_delta = models.IntegerField(default=0)
    reserved_delta = models.IntegerField(default=0)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.on_hand_delta:+}/{self.reserved_delta:+} on {self.stock_item_id}"


class Carrier(models.TextChoices):
    UPS = "ups", "UPS"
    FEDEX = "fedex", "FedEx"
    DHL = "dhl", "DHL"
    USPS = "usps", "USPS"
    OWN = "own", "Own delivery"


class ShippingMethod(models.Model):
    code = models.SlugField(max_length=32, unique=True, help_text="For example standard, express")
    name = models.CharField(max_length=100)
    carrier = models.CharField(max_length=16, choices=Carrier.choices)
    price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0.00"))]
    )
    currency = models.CharField(max_length=3, default=settings.DEFAULT_CURRENCY)
    handling_days = models.PositiveSmallIntegerField(
        default=1, help_text="Working days from placement until it must leave the warehouse."
    )
    transit_days_min = models.PositiveSmallIntegerField(default=2)
    transit_days_max = models.PositiveSmallIntegerField(default=5)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["price", "code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(price__gte=0), name="shipping_method_price_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(transit_days_min__lte=F("transit_days_max")),
                name="shipping_method_transit_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_carrier_display()})"

    @property
    def delivery_estimate(self) -> str:
        if self.transit_days_min == self.transit_days_max:
            days = "day" if self.transit_days_min == 1 else "days"
            return f"{self.transit_days_min} {days} after dispatch"
        return f"{self.transit_days_min}–{self.transit_days_max} days after dispatch"


# --- locations and bins -------------------------------------------------------------------


class Location(models.Model):
    """A bin in a warehouse, addressed aisle-rack-shelf. `walk_order` sorts bins along the
    picker's route (by default aisle, rack, shelf; set it where the route differs)."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="locations")
    aisle = models.CharField(max_length=8)
    rack = models.PositiveSmallIntegerField()
    shelf = models.PositiveSmallIntegerField()
    walk_order = models.PositiveIntegerField(
        default=0, help_text="Position on the picking route; 0 = aisle, rack, shelf order."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["warehouse", "walk_order", "aisle", "rack", "shelf"]
        constraints = [
            models.UniqueConstraint(
                fields=["warehouse", "aisle", "rack", "shelf"], name="location_unique_address"
            )
        ]

    def __str__(self) -> str:
        return f"{self.warehouse.code}:{self.code}"

    @property
    def code(self) -> str:
        return f"{self.aisle}-{self.rack:02d}-{self.shelf:02d}"


class BinStock(models.Model):
    """Units of a product on one shelf. Picking takes from bins in walk order."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="bin_stock")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="bin_stock")
    quantity = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["location", "product"], name="bin_stock_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=0), name="bin_stock_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_id} at {self.location_id}"


# --- shipments ----------------------------------------------------------------------------


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
    """A carrier's report about a shipment, kept once per event id."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="tracking_events")
    event_id = models.CharField(max_length=128, unique=True)
    status = models.CharField(max_length=20, choices=ShipmentStatus.choices)
    description = models.CharField(max_length=255, blank=True)
    location = models.CharField(max_length=128, blank=True)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True)
    result = models.CharField(max_length=128, blank=True)

    class Meta:
        ordering = ["occurred_at", "pk"]

    def __str__(self) -> str:
        return f"{self.status} {self.occurred_at:%Y-%m-%d %H:%M}"


# --- picking ------------------------------------------------------------------------------


class PickListStatus(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class PickList(models.Model):
    """A wave: the picks for several orders in one warehouse, in walking order."""

    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="pick_lists")
    status = models.CharField(
        max_length=16, choices=PickListStatus.choices, default=PickListStatus.OPEN, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        permissions = [("pick_picklist", "Can create and confirm pick lists")]

    def __str__(self) -> str:
        return f"Pick list {self.pk} ({self.warehouse.code})"

    @property
    def code(self) -> str:
        return f"PL-{self.pk:06d}"


class PickListItem(models.Model):
    pick_list = models.ForeignKey(PickList, on_delete=models.CASCADE, related_name="items")
    shipment_line = models.ForeignKey(
        ShipmentLine, on_delete=models.CASCADE, related_name="pick_items"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="+")
    location = models.ForeignKey(
        Location, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    quantity = models.PositiveIntegerField()
    picked = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="pick_item_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.product_id}"


# --- digital goods and services -----------------------------------------------------------


class DigitalAsset(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="digital_assets")
    file = models.FileField(upload_to="digital/")
    filename = models.CharField(max_length=200, help_text="The name the customer downloads.")
    max_downloads = models.PositiveSmallIntegerField(default=5)
    link_valid_days = models.PositiveSmallIntegerField(default=7)

    def __str__(self) -> str:
        return self.filename


class DownloadGrant(models.Model):
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.CASCADE, related_name="download_grants"
    )
    asset = models.ForeignKey(DigitalAsset, on_delete=models.PROTECT, related_name="grants")
    expires_at = models.DateTimeField()
    max_downloads = models.PositiveSmallIntegerField()
    download_count = models.PositiveSmallIntegerField(default=0)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order_line", "asset"], name="download_grant_once"),
            models.CheckConstraint(
                condition=Q(download_count__lte=F("max_downloads")),
                name="download_count_within_limit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.asset} for line {self.order_line_id}"


class AppointmentStatus(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


class Appointment(models.Model):
    order_line = models.ForeignKey(
        "orders.OrderLine", on_delete=models.PROTECT, related_name="appointments"
    )
    date = models.DateField()
    window_start = models.TimeField()
    window_end = models.TimeField()
    technician = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    technician_name = models.CharField(max_length=100, blank=True)
    notes = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=AppointmentStatus.choices, default=AppointmentStatus.SCHEDULED
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["date", "window_start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(window_start__lt=F("window_end")), name="appointment_window_order"
            )
        ]
        permissions = [("schedule_appointment", "Can schedule and complete appointments")]

    def __str__(self) -> str:
        return f"{self.date} {self.window_start:%H:%M}–{self.window_end:%H:%M}"


class FulfilmentOrder(Order):
    """The fulfilment queue in the staff console: orders ready for the warehouse."""

    class Meta:
        proxy = True
        verbose_name = "order to fulfil"
        verbose_name_plural = "fulfilment queue"

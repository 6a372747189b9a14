"""Stock per product and warehouse, bins, reservations and the movement log. Stock never goes
below zero: database CHECK constraints back the conditional updates in
`warehouse.services.stock`."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from warehouse.models.catalogue import Product, Warehouse


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

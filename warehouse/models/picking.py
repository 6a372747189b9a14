"""Pick lists: one wave of orders per warehouse, a line per bin."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from warehouse.models.catalogue import Product, Warehouse
from warehouse.models.shipments import ShipmentLine
from warehouse.models.stock import Location


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

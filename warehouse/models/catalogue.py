"""The catalogue: products, warehouses, carriers and shipping methods."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q

from orders.countries import validate_country_code


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
    country = models.CharField(
        max_length=2, validators=[validate_country_code], help_text="ISO 3166-1 alpha-2"
    )
    city = models.CharField(max_length=100, blank=True)
    priority = models.PositiveSmallIntegerField(
        default=100, help_text="Lower ships first when several warehouses could."
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "code"]

    def __str__(self) -> str:
        return self.name


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
        carrier = self.get_carrier_display()
        if carrier.casefold() in self.name.casefold():
            return self.name  # "Own delivery (Berlin)", not "... (Own delivery)"
        return f"{self.name} ({carrier})"

    @property
    def delivery_estimate(self) -> str:
        if self.transit_days_min == self.transit_days_max:
            days = "day" if self.transit_days_min == 1 else "days"
            return f"{self.transit_days_min} {days} after dispatch"
        return f"{self.transit_days_min}–{self.transit_days_max} days after dispatch"


# --- locations and bins -------------------------------------------------------------------

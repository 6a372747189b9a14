"""The catalogue: products, warehouses, carriers and shipping methods."""

import re
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q

from orders.countries import country_code_problem, validate_country_code


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


POSTAL_PREFIX = re.compile(r"[0-9A-Z]{1,10}")


def normalise_postal_code(value: str) -> str:
    """A postal code as zones compare it: capitals and digits only ("n1 9gu" -> "N19GU")."""
    return re.sub(r"[^0-9A-Z]", "", (value or "").upper())


def validate_zone_countries(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(code, str) for code in value):
        raise ValidationError("List the countries as ISO codes.", code="invalid_zone")
    problems = [problem for code in value if (problem := country_code_problem(code))]
    if problems:
        raise ValidationError(problems, code="invalid_country")


def validate_postal_prefixes(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(prefix, str) for prefix in value):
        raise ValidationError("List the postal-code prefixes.", code="invalid_zone")
    bad = [prefix for prefix in value if not POSTAL_PREFIX.fullmatch(prefix)]
    if bad:
        raise ValidationError(
            f"{', '.join(repr(prefix) for prefix in bad)}: a prefix is 1 to 10 capital letters "
            "or digits, such as 10 or SW1.",
            code="invalid_postal_prefix",
        )


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
    # The zone it delivers to. Empty means everywhere we ship (SHIPPING_COUNTRIES), which is
    # also what a method had before zones existed.
    countries = models.JSONField(
        "zone: countries",
        default=list,
        blank=True,
        validators=[validate_zone_countries],
        help_text="ISO codes of the countries it delivers to. Empty: everywhere we ship.",
    )
    postal_code_prefixes = models.JSONField(
        "zone: postal-code prefixes",
        default=list,
        blank=True,
        validators=[validate_postal_prefixes],
        help_text="Optional: only postal codes starting with one of these (spaces ignored), "
        "in the countries above. Empty: every postal code of those countries.",
    )
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

    def clean(self) -> None:
        super().clean()
        if self.postal_code_prefixes and not self.countries:
            raise ValidationError(
                {
                    "postal_code_prefixes": "Postal-code prefixes narrow the zone's countries: "
                    "name the countries too (for example DE for prefixes 10 to 14)."
                }
            )

    @property
    def delivery_estimate(self) -> str:
        if self.transit_days_min == self.transit_days_max:
            days = "day" if self.transit_days_min == 1 else "days"
            return f"{self.transit_days_min} {days} after dispatch"
        return f"{self.transit_days_min}–{self.transit_days_max} days after dispatch"

    def serves(self, country: str, postal_code: str = "") -> bool:
        """Whether it delivers to an address in `country` with `postal_code`."""
        if not self.countries:
            return True
        if (country or "").strip().upper() not in self.countries:
            return False
        if not self.postal_code_prefixes:
            return True
        code = normalise_postal_code(postal_code)
        return any(code.startswith(prefix) for prefix in self.postal_code_prefixes)

    @property
    def zone(self) -> str:
        """The zone in a line, for staff: "everywhere", "DE, AT" or "DE: 10, 11"."""
        if not self.countries:
            return "everywhere"
        countries = ", ".join(self.countries)
        if self.postal_code_prefixes:
            return f"{countries}: {', '.join(self.postal_code_prefixes)}"
        return countries


# --- locations and bins -------------------------------------------------------------------

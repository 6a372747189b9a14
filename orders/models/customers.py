"""Customers, their addresses, and tax rates by destination."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from orders.countries import country_name, validate_country_code


class Customer(models.Model):
    """Someone who buys: a registered user, or a guest known by email."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer",
    )
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    company = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


# What an address says (everything but whom it belongs to), in the order people write it.
ADDRESS_FIELDS = (
    "name",
    "company",
    "line1",
    "line2",
    "city",
    "region",
    "postal_code",
    "country",
    "phone",
)


class Address(models.Model):
    """A postal address. Orders keep their own copies, so editing an address book entry never
    rewrites where a past order went."""

    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="addresses"
    )
    name = models.CharField(max_length=200)
    company = models.CharField(max_length=200, blank=True)
    line1 = models.CharField("address line 1", max_length=200)
    line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100)
    region = models.CharField("region / state", max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(
        max_length=2,
        validators=[validate_country_code],
        help_text="ISO 3166-1 alpha-2, e.g. DE, GB, US",
    )
    phone = models.CharField(max_length=32, blank=True)

    class Meta:
        verbose_name_plural = "addresses"

    def __str__(self) -> str:
        return ", ".join(
            part
            for part in (
                self.name,
                self.line1,
                self.line2,
                self.postal_code,
                self.city,
                self.country,
            )
            if part
        )

    def get_country_display(self) -> str:
        """The country's name ("Germany"); the code stays in `country` (and in the API)."""
        return country_name(self.country)

    def as_lines(self) -> list[str]:
        """The address as people read it (pages, emails, PDFs): the country by its name."""
        city_line = " ".join(part for part in (self.postal_code, self.city) if part)
        return [
            part
            for part in (
                self.name,
                self.company,
                self.line1,
                self.line2,
                city_line,
                self.region,
                self.get_country_display() if self.country else "",
            )
            if part
        ]

    def copy(self) -> "Address":
        return Address(**{name: getattr(self, name) for name in ADDRESS_FIELDS})


class TaxRate(models.Model):
    """Sales tax / VAT by destination country. Whether catalogue prices include it is the
    PRICES_INCLUDE_TAX setting."""

    country = models.CharField(
        max_length=2,
        unique=True,
        validators=[validate_country_code],
        help_text="ISO 3166-1 alpha-2",
    )
    name = models.CharField(max_length=50, help_text="For example VAT, GST, Sales tax")
    rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Percent, e.g. 19.00",
    )

    class Meta:
        ordering = ["country"]
        constraints = [
            models.CheckConstraint(
                condition=Q(rate__gte=0) & Q(rate__lt=100), name="tax_rate_percent_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.country} {self.name} {self.rate}%"

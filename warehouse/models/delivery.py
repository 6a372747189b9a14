"""Delivery of what does not ship: download links for digital goods, visits for services."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from warehouse.models.catalogue import Product


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
        permissions = [("resend_download_links", "Can resend download links")]
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

"""The outbox of customer messages (email, SMS): rows written with the change they report."""

from django.db import models
from django.utils import timezone

from orders.models.orders import Order


class NotificationChannel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"  # claimed by a worker (orders.outbox)
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notification(models.Model):
    """The outbox (DESIGN.md rule 3): a message is a row written in the same transaction as the
    state change it reports; a task sends it and a periodic relay resends what is pending."""

    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=64, help_text="The template: order_confirmation, ...")
    reference = models.CharField(
        max_length=64,
        blank=True,
        help_text="Tells apart several messages of one kind, e.g. one per shipment.",
    )
    channel = models.CharField(
        max_length=8, choices=NotificationChannel.choices, default=NotificationChannel.EMAIL
    )
    recipient = models.CharField(max_length=254)
    status = models.CharField(
        max_length=8,
        choices=NotificationStatus.choices,
        default=NotificationStatus.PENDING,
        db_index=True,
    )
    context = models.JSONField(default=dict, blank=True, help_text="Extra template context.")
    subject = models.CharField(max_length=255, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    claims = models.PositiveIntegerField(
        default=0,
        help_text="Claims by a sender so far, never reset: tells one claim from the next.",
    )
    last_error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "kind", "reference", "recipient"],
                name="notification_unique_per_order_kind_recipient",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="notification_relay_queue"),
        ]
        permissions = [("resend_notification", "Can resend notifications")]

    def __str__(self) -> str:
        return f"{self.kind} to {self.recipient} ({self.status})"

"""The partner API's own tables: partners and their API keys, idempotency records, webhook
endpoints, and the webhook outbox (deliveries, with a log of every attempt)."""

import re
import secrets
import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from rest_framework_api_key.models import AbstractAPIKey

from orders.api.webhook_urls import validate_webhook_url

# Every event a partner can subscribe to, with what it means (shown in the admin and the docs).
WEBHOOK_EVENTS = {
    "order.created": "The order was placed (received).",
    "order.confirmed": "Review passed; the order is confirmed.",
    "order.on_hold": "The order was put on hold (data.reasons says why).",
    "order.cancelled": "The order was cancelled (data.reason says why).",
    "order.shipped": "A shipment left the warehouse (carrier and tracking in data).",
    "order.delivered": "The order was delivered.",
    "order.completed": "The sale is complete: the return window passed with nothing open.",
    "payment.captured": "The card payment was captured.",
    "payment.refunded": "Money was refunded (data.amount).",
}

RATE_PATTERN = re.compile(
    r"^\s*(?P<count>\d+)\s*/\s*(?P<period>\d+|s|sec|second|m|min|minute|h|hour|d|day)\s*$",
    re.ASCII,  # \d is 0-9 only, not every script's digits
)
PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "600/min" -> (600 requests, 60 seconds). Also "10/s", "5000/hour", "100/30"."""
    match = RATE_PATTERN.match(rate or "")
    if not match:
        raise ValueError(f"A rate looks like 600/min, 10/second or 100/30, not {rate!r}.")
    count, period = int(match["count"]), match["period"]
    seconds = int(period) if period.isdigit() else PERIOD_SECONDS[period[0]]
    if count < 1 or seconds < 1:
        raise ValueError(f"A rate needs at least 1 request and 1 second, not {rate!r}.")
    return count, seconds


def validate_rate(value: str) -> None:
    if not value:
        return
    try:
        parse_rate(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


class Partner(models.Model):
    """A marketplace, B2B buyer or ERP that places orders through the API. It buys on invoice
    terms through its billing customer (whose CreditAccount Finance manages)."""

    name = models.CharField(max_length=100, unique=True)
    billing_customer = models.ForeignKey(
        "orders.Customer",
        on_delete=models.PROTECT,
        related_name="partner_accounts",
        help_text="Who is invoiced for the partner's invoice orders (its credit account).",
    )
    is_active = models.BooleanField(
        default=True, help_text="An inactive partner's keys are refused (403)."
    )
    throttle_rate = models.CharField(
        max_length=32,
        blank=True,
        validators=[validate_rate],
        help_text="Requests allowed, e.g. 600/min or 20/second. Empty: PARTNER_API_THROTTLE_RATE.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def order_source(self) -> str:
        """What its orders carry in Order.source: the scope of their idempotency keys.
        Ownership is Order.partner."""
        return f"partner:{self.pk}"

    @property
    def actor_label(self) -> str:
        return f"partner {self.name}"[:100]


class PartnerAPIKey(AbstractAPIKey):
    """A partner's API key: `<prefix>.<secret>`; only the prefix and a hash are stored. Keys
    can expire and be revoked (for good)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "partner API key"
        verbose_name_plural = "partner API keys"


class IdempotencyRecord(models.Model):
    """The first successful answer to a POST with an Idempotency-Key, replayed when the same
    partner sends the same key and body again. Kept at least PARTNER_IDEMPOTENCY_TTL."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=128)
    request_hash = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=255)
    # Empty only while the first request is being served (inside its transaction).
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "key"], name="idempotency_key_per_partner")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.response_status})"


def _new_webhook_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookEndpoint(models.Model):
    """Where a partner wants to hear about events, and which events."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500, validators=[validate_webhook_url])
    secret = models.CharField(
        max_length=100,
        default=_new_webhook_secret,
        help_text="Signs every delivery (X-Signature). The partner keeps a copy.",
    )
    events = models.JSONField(default=list, help_text="The event types it receives.")
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["partner", "pk"]

    def __str__(self) -> str:
        return self.url

    def clean(self) -> None:
        if not isinstance(self.events, list) or not self.events:
            raise ValidationError({"events": "Choose at least one event."})
        unknown = sorted({str(event) for event in self.events} - set(WEBHOOK_EVENTS))
        if unknown:
            raise ValidationError({"events": f"Unknown events: {', '.join(unknown)}."})


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"  # claimed by a worker (orders.outbox)
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """The webhook outbox (DESIGN.md rule 3): one row per endpoint and event, written in the
    transaction that made the event happen; a task sends it after the commit, retries with
    backoff on 5xx and timeouts, and a periodic relay resends what is due."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    event = models.CharField(max_length=64)
    event_id = models.UUIDField(help_text="The same for every endpoint that hears the event.")
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    claims = models.PositiveIntegerField(
        default=0,
        help_text="Claims by a sender so far, never reset: tells one claim from the next.",
    )
    next_attempt_at = models.DateTimeField(default=timezone.now)
    retry_until = models.DateTimeField(help_text="After this, a failing delivery gives up.")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="webhook_delivery_once_per_endpoint"
            ),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="webhook_delivery_status"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_relay"),
        ]
        permissions = [("resend_webhookdelivery", "Can resend webhook deliveries")]

    def __str__(self) -> str:
        return f"{self.event} to {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One try at sending a delivery: what came back and how long it took."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["started_at", "pk"]

    def __str__(self) -> str:
        return f"attempt {self.number}: {self.status_code or self.error[:40]}"

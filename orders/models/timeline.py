"""The order's timeline: one row per thing that happened, and who did it."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from orders.models.orders import Order


class EventType(models.TextChoices):
    CREATED = "created", "Draft created"
    PLACED = "placed", "Placed"
    REVIEW_CHECK = "review_check", "Review check"
    CONFIRMED = "confirmed", "Confirmed"
    HELD = "held", "Put on hold"
    RELEASED = "released", "Released"
    CANCELLED = "cancelled", "Cancelled"
    STOCK_RESERVED = "stock_reserved", "Stock reserved"
    STOCK_RELEASED = "stock_released", "Stock released"
    NOTIFICATION_SENT = "notification_sent", "Notification sent"
    NOTIFICATION_FAILED = "notification_failed", "Notification failed"
    NOTE = "note", "Note"
    PAYMENT_AUTHORIZED = "payment_authorized", "Payment authorised"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    PAYMENT_CAPTURED = "payment_captured", "Payment captured"
    PAYMENT_VOIDED = "payment_voided", "Payment voided"
    PAYMENT_SECURED = "payment_secured", "Released to the warehouse"
    REFUND_ISSUED = "refund_issued", "Refund issued"
    REFUND_FAILED = "refund_failed", "Refund failed"
    INVOICE_ISSUED = "invoice_issued", "Invoice issued"
    INVOICE_PAID = "invoice_paid", "Invoice payment received"
    INVOICE_OVERDUE = "invoice_overdue", "Invoice overdue"
    PICKING_STARTED = "picking_started", "Picking started"
    SHORT_PICK = "short_pick", "Short pick"
    PACKED = "packed", "Packed"
    SHIPPED = "shipped", "Shipped"
    TRACKING = "tracking", "Tracking update"
    DELIVERED = "delivered", "Delivered"
    COMPLETED = "completed", "Completed"
    DELIVERY_EXCEPTION = "delivery_exception", "Delivery exception"
    DOWNLOADS_SENT = "downloads_sent", "Download links sent"
    APPOINTMENT_SCHEDULED = "appointment_scheduled", "Appointment scheduled"
    APPOINTMENT_DONE = "appointment_done", "Appointment done"


class OrderEvent(models.Model):
    """The order's timeline: every event, who made it, when, and what happened."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=32, choices=EventType.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(
        max_length=100, blank=True, help_text="Who acted when it was not a user: system, a partner"
    )
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    customer_visible = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["order", "created_at"], name="order_event_timeline")]

    def __str__(self) -> str:
        return f"{self.get_type_display()}: {self.message}"

    @property
    def who(self) -> str:
        if self.actor_id:
            return self.actor.get_username()
        return self.actor_label or "system"

"""Thin Celery tasks: fetch by id, call a service. All are safe to run twice."""

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from orders import lifecycle
from orders.broker import state_task
from orders.models import Notification, NotificationStatus, Order, OrderStatus
from orders.notifications import NOTIFICATIONS, notification_send
from orders.outbox import outbox_relay
from orders.services import order_review, orders_complete_due

logger = logging.getLogger(__name__)


@state_task
def send_notification(notification_id: int) -> str:
    """One attempt. A failed attempt schedules the next one on the row; the outbox relay
    sends it when it is due, so retries survive worker restarts and broker outages."""
    return notification_send(notification_id=notification_id)


@state_task
def relay_outbox() -> int:
    """The one relay of every outbox (email, SMS, partner webhooks): resend what is still
    pending, so a broker outage delays messages but never loses them."""
    return outbox_relay([NOTIFICATIONS, *lifecycle.outboxes()])


@state_task
def review_order(order_id: int) -> str:
    return order_review(order_id=order_id).status


@state_task
def review_stalled_orders() -> int:
    """Review orders whose review task never ran (for example, the broker was down)."""
    cutoff = timezone.now() - settings.ORDER_REVIEW_STALL_AFTER
    stalled = list(
        Order.objects.filter(status=OrderStatus.RECEIVED, placed_at__lte=cutoff).values_list(
            "pk", flat=True
        )[:500]
    )
    for order_id in stalled:
        try:
            order_review(order_id=order_id)
        except Exception:
            logger.exception("stalled review failed", extra={"order_id": order_id})
    return len(stalled)


@shared_task
def purge_old_notifications() -> int:
    """Sent rows are kept OUTBOX_KEEP_SENT_DAYS for the admin's notification log."""
    cutoff = timezone.now() - timedelta(days=settings.OUTBOX_KEEP_SENT_DAYS)
    deleted, _ = Notification.objects.filter(
        status=NotificationStatus.SENT, sent_at__lt=cutoff
    ).delete()
    return deleted


@state_task
def complete_delivered_orders() -> int:
    """Complete delivered orders whose return window has passed (each once; an order with
    something still open waits for the next night, without holding up the ones after it)."""
    run = orders_complete_due(actor="system")
    # A run that ran out of time left due orders unvisited: worth a look if it repeats.
    log = logger.warning if run.not_reached else logger.info
    log(
        "completion run finished",
        extra={
            "completed": run.completed,
            "still_open": run.still_open,
            "not_reached": run.not_reached,
        },
    )
    return run.completed

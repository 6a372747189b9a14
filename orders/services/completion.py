"""Completion: a delivered order whose return window has passed, with nothing still open,
is complete (lifecycle step 11's end). The beat task `orders.tasks.complete_delivered_orders`
runs it every night; the `completed` moment tells the phases."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders import lifecycle
from orders.exceptions import TransitionRefused
from orders.models import EventType, Order, OrderStatus
from orders.services.guards import Actor, _lock_order
from orders.services.transitions import order_transition

logger = logging.getLogger(__name__)


def order_complete(*, order_id: int, actor: Actor) -> Order:
    """Complete a delivered order once its return window has passed and no phase has
    anything open for it (a refund under way, say). Safe to run twice."""
    with transaction.atomic():
        order = _lock_order(order_id)
        if order.status == OrderStatus.COMPLETED:
            return order
        still_open = lifecycle.open_items(order=order)
        if still_open:
            raise TransitionRefused(
                f"Order {order.number} cannot be completed yet: " + "; ".join(still_open) + "."
            )
        order.completed_at = timezone.now()
        order_transition(
            order,
            "complete",
            actor=actor,
            event_type=EventType.COMPLETED,
            message="Completed: delivered, the return window has passed and nothing is open.",
            fields=["completed_at"],
            publish="order.completed",
        )
        logger.info("order completed", extra={"order": order.number})
    return order


def orders_due_for_completion(*, limit: int = 500) -> list[int]:
    """Delivered orders whose return window (RETURN_WINDOW_DAYS) has passed."""
    cutoff = timezone.now() - timedelta(days=settings.RETURN_WINDOW_DAYS)
    return list(
        Order.objects.filter(status=OrderStatus.DELIVERED, delivered_at__lte=cutoff)
        .order_by("delivered_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )

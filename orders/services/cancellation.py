"""Cancellation: the one way an order is cancelled, by staff, the customer or a partner."""

import logging

from django.db import transaction
from django.utils import timezone

from orders import events, lifecycle
from orders.actors import acting_user
from orders.models import EventType, Order, OrderStatus
from orders.notifications import queue_order_notification
from orders.services.guards import Actor, _check_transition, _lock_order, _save
from warehouse.services import stock_release_for_order

logger = logging.getLogger(__name__)


def order_cancel(*, order_id: int, actor: Actor, reason: str = "") -> Order:
    """Cancel: release reserved stock, close holds, tell the customer. The payments phase
    voids or refunds the payment at the lifecycle's `cancelled` moment."""
    with transaction.atomic():
        order = _lock_order(order_id)
        _check_transition(order, "cancel", actor, "cancelled")
        was_placed = order.status != OrderStatus.DRAFT
        order.cancel()
        now = timezone.now()
        order.cancelled_at = now
        order.cancellation_reason = reason.strip()
        _save(order, ["status", "held_from", "cancelled_at", "cancellation_reason"])
        released = stock_release_for_order(order=order, actor=actor, reason="order cancelled")
        order.holds.filter(released_at__isnull=True).update(
            released_at=now, released_by=acting_user(actor)
        )
        events.order_cancelled(order, actor=actor, reason=reason.strip())
        if released:
            events.record(
                order,
                EventType.STOCK_RELEASED,
                actor=actor,
                message=f"{released} reserved units returned to stock.",
                data={"units": released},
            )
        if was_placed:
            queue_order_notification(order, "order_cancelled")
        lifecycle.cancelled(order=order, actor=actor)
        logger.info("order cancelled", extra={"order": order.number, "reason": reason})
    return order

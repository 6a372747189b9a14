"""The transitions later phases drive: payments releases a paid order to the warehouse
(order_secure_payment); the warehouse locks an order and moves it through picking, packing,
shipping and delivery (lock_order, order_transition)."""

import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction

from orders import events, lifecycle
from orders.models import EventType, Order, OrderStatus
from orders.services.guards import Actor, _check_transition, _lock_order, _save

logger = logging.getLogger(__name__)


def order_secure_payment(*, order_id: int, actor: Actor, message: str) -> Order:
    """Payment is secured (captured, or invoice terms): release the order to the warehouse.
    Safe to call twice: an order already past `confirmed` is left alone."""
    with transaction.atomic():
        order = _lock_order(order_id)
        if order.status != OrderStatus.CONFIRMED:
            return order
        _check_transition(order, "secure_payment", actor, "released to the warehouse")
        order.secure_payment()
        _save(order, ["status"])
        events.record(
            order,
            EventType.PAYMENT_SECURED,
            actor=actor,
            message=message or "Payment secured; released to the warehouse.",
            customer_visible=False,
        )
        lifecycle.ready(order=order, actor=actor)
        logger.info("order ready", extra={"order": order.number})
    return order


def lock_order(order_id: int) -> Order:
    """Lock an order row for a service of a later phase (inside its transaction)."""
    return _lock_order(order_id)


def order_transition(
    order: Order,
    name: str,
    *,
    actor: Actor,
    event_type: str,
    message: str,
    fields: Sequence[str] = (),
    customer_visible: bool = False,
    publish: str = "",
    data: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Order:
    """Run one transition on an order its caller has locked: the check (state and the
    acting user's permission), the transition, the save, the timeline entry and the
    lifecycle moment it reaches. For the later phases' services (warehouse: start_picking,
    pack, ship, deliver, fulfil) and completion."""
    _check_transition(order, name, actor, name.replace("_", " "))
    getattr(order, name)(**kwargs)
    _save(order, ["status", *fields])
    if publish:
        events.publish(order, publish, data)
    events.record(
        order,
        event_type,
        actor=actor,
        message=message,
        data=data,
        customer_visible=customer_visible,
    )
    if order.status == OrderStatus.DELIVERED:
        lifecycle.delivered(order=order, actor=actor)
    elif order.status == OrderStatus.COMPLETED:
        lifecycle.completed(order=order, actor=actor)
    return order

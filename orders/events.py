"""Timeline writers: one function per kind of entry, so every change reads the same way."""

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from orders import lifecycle
from orders.models import EventType, Order, OrderEvent


def actor_fields(actor: AbstractBaseUser | str | None) -> dict[str, Any]:
    """A user, or a label for whoever else acted (a partner, the system)."""
    if actor is None:
        return {"actor": None, "actor_label": "system"}
    if isinstance(actor, str):
        return {"actor": None, "actor_label": actor}
    return {"actor": actor, "actor_label": ""}


def record(
    order: Order,
    type: str,
    *,
    actor: AbstractBaseUser | str | None,
    message: str = "",
    data: dict[str, Any] | None = None,
    customer_visible: bool = False,
) -> OrderEvent:
    return OrderEvent.objects.create(
        order=order,
        type=type,
        message=message,
        data=data or {},
        customer_visible=customer_visible,
        **actor_fields(actor),
    )


def record_many(order: Order, entries: Iterable[dict[str, Any]], *, actor: Any) -> None:
    """Several entries in one INSERT (review checks, for example)."""
    who = actor_fields(actor)
    OrderEvent.objects.bulk_create(OrderEvent(order=order, **who, **entry) for entry in entries)


def publish(order: Order, name: str, data: dict[str, Any] | None = None) -> None:
    """Put an entry on the order-event feed (`order.created`, `order.confirmed`,
    `payment.captured`...): every registered phase hears it through
    `OrderPhase.order_event`, inside the transaction that made it happen."""
    lifecycle.order_event(order=order, event=name, data=data)


def order_created(order: Order, *, actor: Any) -> OrderEvent:
    return record(order, EventType.CREATED, actor=actor, message="Draft order created.")


def order_placed(order: Order, *, actor: Any) -> OrderEvent:
    publish(order, "order.created")
    return record(
        order,
        EventType.PLACED,
        actor=actor,
        message=f"Order {order.number} received via {order.get_channel_display()}.",
        data={
            "channel": order.channel,
            "grand_total": str(order.grand_total),
            "currency": order.currency,
        },
        customer_visible=True,
    )


def order_confirmed(order: Order, *, actor: Any) -> OrderEvent:
    publish(order, "order.confirmed")
    return record(
        order,
        EventType.CONFIRMED,
        actor=actor,
        message="Order confirmed.",
        customer_visible=True,
    )


def order_held(order: Order, *, actor: Any, reasons: list[str], note: str) -> OrderEvent:
    publish(order, "order.on_hold", {"reasons": reasons})
    return record(
        order,
        EventType.HELD,
        actor=actor,
        message=note or "Order put on hold: " + ", ".join(reasons) + ".",
        data={"reasons": reasons, "held_from": order.held_from},
    )


def order_released(order: Order, *, actor: Any, note: str, reasons: list[str]) -> OrderEvent:
    return record(
        order,
        EventType.RELEASED,
        actor=actor,
        message=note or f"Released to {order.get_status_display()}.",
        data={"released_reasons": reasons, "status": order.status},
    )


def order_cancelled(order: Order, *, actor: Any, reason: str) -> OrderEvent:
    publish(order, "order.cancelled", {"reason": reason})
    return record(
        order,
        EventType.CANCELLED,
        actor=actor,
        message=f"Order cancelled. {reason}".strip(),
        data={"reason": reason},
        customer_visible=True,
    )


def note_added(order: Order, *, actor: Any, note: str) -> OrderEvent:
    return record(order, EventType.NOTE, actor=actor, message=note)

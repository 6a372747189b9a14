"""The partner API's part in the order lifecycle (registered in config/lifecycle.py)."""

from collections.abc import Sequence
from typing import Any

from orders.api.webhooks import WEBHOOKS, on_order_event
from orders.lifecycle import OrderPhase
from orders.models import Order
from orders.outbox import OutboxKind


class PartnerWebhooksPhase(OrderPhase):
    """Turns the order-event feed into signed webhooks for the order's partner."""

    name = "partner_webhooks"

    def order_event(self, *, order: Order, event: str, data: dict[str, Any]) -> None:
        on_order_event(order=order, event=event, data=data)

    def outboxes(self) -> Sequence[OutboxKind]:
        return (WEBHOOKS,)

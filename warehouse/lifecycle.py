"""The warehouse phase of the order lifecycle (registered in config/lifecycle.py)."""

from typing import Any

from orders.lifecycle import OrderPhase
from orders.models import Order
from warehouse.services.shipments import on_order_cancelled, on_order_ready


class WarehousePhase(OrderPhase):
    """Creates shipments (and download links) when an order is ready; cancels what is not
    shipped yet and puts picked units back when it is cancelled."""

    name = "warehouse"

    def ready(self, *, order: Order, actor: Any) -> None:
        on_order_ready(order=order, actor=actor)

    def cancelled(self, *, order: Order, actor: Any) -> None:
        on_order_cancelled(order=order, actor=actor)

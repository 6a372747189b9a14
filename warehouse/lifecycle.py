"""The warehouse phase of the order lifecycle (registered in config/lifecycle.py)."""

from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest

from orders.lifecycle import OrderPhase
from orders.models import Order
from warehouse.panels import downloads_panel
from warehouse.services.downloads import (
    downloads_check_release,
    downloads_on_order_released,
    downloads_on_payment_refunded,
)
from warehouse.services.shipments import on_order_cancelled, on_order_ready


class WarehousePhase(OrderPhase):
    """Creates shipments (and download links) when an order is ready, holding one whose
    digital product has no file until staff add it and release the order; cancels what is
    not shipped yet and puts picked units back when it is cancelled; revokes the download
    links of an order refunded in full."""

    name = "warehouse"

    def releasing(self, *, order: Order, reasons: Sequence[str], actor: Any) -> None:
        downloads_check_release(order=order, reasons=reasons)

    def released(self, *, order: Order, reasons: Sequence[str], actor: Any) -> None:
        downloads_on_order_released(order=order, reasons=reasons)

    def ready(self, *, order: Order, actor: Any) -> None:
        on_order_ready(order=order, actor=actor)

    def cancelled(self, *, order: Order, actor: Any) -> None:
        on_order_cancelled(order=order, actor=actor)

    def order_event(self, *, order: Order, event: str, data: dict[str, Any]) -> None:
        if event == "payment.refunded":
            downloads_on_payment_refunded(order=order)

    def staff_panel(self, *, order: Order, request: HttpRequest) -> str:
        return downloads_panel(order, request)

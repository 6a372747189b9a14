"""The payments phase of the order lifecycle (registered in config/lifecycle.py)."""

from collections.abc import Sequence
from typing import Any

from django.http import HttpRequest

from orders.lifecycle import OrderPhase, PaymentChoice, ReviewCheck
from orders.models import Order
from payments.models import Refund, RefundStatus
from payments.panels import payment_panel
from payments.review import payment_secured
from payments.services import (
    payment_on_order_cancelled,
    payment_on_order_confirmed,
    payment_on_order_releasing,
    payment_prepare_for_order,
)


class PaymentsPhase(OrderPhase):
    """Records how an order is paid when it is placed, checks the payment at review, refuses
    to release a held order to `confirmed` until something pays for it, secures the payment
    once confirmed, and voids or refunds it on cancel."""

    name = "payments"

    def placing(self, *, order: Order, payment: PaymentChoice | None, actor: Any) -> None:
        payment_prepare_for_order(order=order, payment=payment, actor=actor)

    def review_checks(self) -> Sequence[ReviewCheck]:
        return (payment_secured,)

    def releasing(self, *, order: Order, reasons: Sequence[str], actor: Any) -> None:
        payment_on_order_releasing(order=order, reasons=reasons)

    def confirmed(self, *, order: Order, actor: Any) -> None:
        payment_on_order_confirmed(order=order, actor=actor)

    def open_items(self, *, order: Order) -> Sequence[str]:
        pending = Refund.objects.filter(payment__order=order, status=RefundStatus.PENDING)
        return ("a refund is still being paid out",) if pending.exists() else ()

    def cancelled(self, *, order: Order, actor: Any) -> None:
        payment_on_order_cancelled(order=order, actor=actor)

    def staff_panel(self, *, order: Order, request: HttpRequest) -> str:
        return payment_panel(order, request)

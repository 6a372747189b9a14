"""Paying again: a new card for an order whose payment failed or was never made."""

from typing import Any

from django.db import transaction

from orders import events
from orders.models import EventType, Order, OrderStatus
from payments.models import Payment, PaymentStatus
from payments.providers.base import CardDetails
from payments.selectors import order_needs_payment
from payments.services.authorisation import card_label, card_payment_create, payment_authorize
from payments.services.inputs import PaymentRefused
from payments.services.order_lifecycle import payment_collect_for_order


def payment_pay_again(*, order_id: int, card: CardDetails, actor: Any) -> Payment:
    """A new card for an order whose payment failed (or was never made). Authorised at once;
    an order held only for payment then goes on by itself."""
    with transaction.atomic():
        order = Order.objects.select_for_update(of=("self",), no_key=True).get(pk=order_id)
        if not order_needs_payment(order):
            raise PaymentRefused(
                f"Order {order.number} needs no payment now.", fields={"card": ["Nothing to pay."]}
            )
        payment = card_payment_create(order, card)
        events.record(
            order,
            EventType.NOTE,
            actor=actor,
            message=f"The customer paid again with {card_label(payment)}.",
            data={"payment": payment.pk},
        )
    payment = payment_authorize(payment_id=payment.pk)
    if payment.status == PaymentStatus.AUTHORIZED:
        order = Order.objects.get(pk=order_id)
        if order.status == OrderStatus.CONFIRMED:
            payment_collect_for_order(order_id=order_id)
    return payment

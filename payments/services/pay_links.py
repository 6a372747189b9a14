"""The signed link a customer follows to pay (again) for an order."""

from django.conf import settings
from django.urls import reverse

from orders import signed_links
from orders.models import Order, OrderStatus
from orders.signed_links import PAY_LINK, LinkRefused
from payments.models import PaymentStatus
from payments.services.inputs import PaymentRefused

P = PaymentStatus


def pay_link_token(order: Order) -> str:
    return signed_links.make_for_order(PAY_LINK, order)


def pay_link_url(order: Order) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("orders:pay-again", args=[pay_link_token(order)])


def order_for_pay_link(token: str) -> Order:
    """The order a pay link belongs to; PaymentRefused when it is tampered with or expired."""
    try:
        payload = signed_links.read(PAY_LINK, token)
    except LinkRefused as refusal:
        raise PaymentRefused(refusal.message) from refusal
    order = Order.objects.filter(pk=payload["order"], public_token=payload["token"]).first()
    if order is None:
        raise PaymentRefused(PAY_LINK.invalid)
    return order


def order_needs_payment(order: Order) -> bool:
    if order.status not in (OrderStatus.ON_HOLD, OrderStatus.CONFIRMED, OrderStatus.RECEIVED):
        return False
    if order.grand_total == 0:
        return False
    return not order.payments.filter(
        status__in=[P.AUTHORIZED, P.CAPTURED, P.INVOICED, P.PAID, P.OVERDUE]
    ).exists()

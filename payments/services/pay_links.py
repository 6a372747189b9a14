"""The signed link a customer follows to pay (again) for an order."""

from django.conf import settings
from django.urls import reverse

from orders import signed_links
from orders.models import Order
from orders.signed_links import PAY_LINK, LinkRefused
from payments.services.inputs import PaymentRefused


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

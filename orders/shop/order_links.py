"""Where a visitor goes next for an order: its page, paying again, or making an account."""

from django.urls import reverse

from orders import selectors
from orders.models import Order
from payments.services import pay_link_token


def order_path(order: Order) -> str:
    """Where this visitor follows the order: the account page when it is in an account, or
    the guest link."""
    if order.account_id:
        return reverse("orders:account-order", args=[order.number])
    return reverse("orders:order-link", args=[selectors.order_link_token(order)])


def pay_path(order: Order) -> str:
    return reverse("orders:pay-again", args=[pay_link_token(order)])


def register_path(order: Order, token: str = "") -> str:
    """The sign-up page offered to a guest, carrying the guest link; none for an account's
    order."""
    if order.account_id:
        return ""
    link = token or selectors.order_link_token(order)
    return reverse("orders:register") + "?" + f"link={link}"

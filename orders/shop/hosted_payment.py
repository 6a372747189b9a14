"""Paying by card on the card provider's own page (Stripe Checkout): sending the customer
there from the checkout and the pay-again page, and their way back, after paying or after
leaving the page unpaid. No card number is asked for or taken here."""

import logging
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from orders.models import Order, OrderStatus
from orders.ratelimit import ratelimit
from orders.shop.order_links import order_path, pay_path
from orders.shop.private_pages import link_refused, private
from orders.shop.session_cart import Cart
from payments.models import CheckoutStatus, PaymentStatus
from payments.providers.base import ProviderUnavailable
from payments.selectors import checkout_for_return, order_needs_payment, order_payments_in_play
from payments.services import checkout_open, checkout_sync, payment_checkout_start

logger = logging.getLogger(__name__)

# The page's payment went through: authorised, and perhaps captured (and refunded) since.
CARD_TAKEN = (
    PaymentStatus.AUTHORIZED,
    PaymentStatus.CAPTURED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
)
UNKNOWN_RETURN = (
    "This address does not belong to any of our payment pages, so nothing was changed. If you "
    "paid, we email you as soon as the payment reaches us."
)


def payment_page_url(order: Order, *, actor: Any) -> str:
    """The provider's payment page for the order, opened now if need be. Raises a DomainError
    (the order needs no payment, or the provider did not open the page) with the customer's
    message."""
    payment = payment_checkout_start(order_id=order.pk, actor=actor)
    return checkout_open(payment_id=payment.pk)


def see_other(url: str) -> HttpResponse:
    """To the provider's page: 303, so the browser follows with a GET whatever it posted."""
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


def _placed_here(request: HttpRequest, order: Order) -> bool:
    """Whether this browser placed the order: it goes back to the page after checkout (which
    says how the payment stands), others to the order's own page."""
    return order.number in Cart(request.session).placed_numbers()


@private
@ratelimit("checkout", methods=frozenset({"GET"}))
@require_GET
def checkout_return(request: HttpRequest, token: str) -> HttpResponse:
    """Back from the provider's page after paying. The provider's webhook may have recorded
    the payment already; if not, the session is fetched from the provider and recorded now
    (whichever is first, the other changes nothing)."""
    checkout = checkout_for_return(token, session_id=request.GET.get("session_id", ""))
    if checkout is None:
        return link_refused(request, UNKNOWN_RETURN)
    try:
        checkout = checkout_sync(checkout_id=checkout.pk)
    except ProviderUnavailable:
        logger.warning("payment page not confirmed on return", extra={"checkout": checkout.pk})
    order = Order.objects.get(pk=checkout.payment.order_id)
    received_page = _placed_here(request, order)
    # The page's payment, unless it was closed or is being given back.
    payment = next((p for p in order_payments_in_play(order) if p.pk == checkout.payment_id), None)
    if order.status == OrderStatus.CANCELLED:
        messages.info(
            request,
            f"Order {order.number} was cancelled, so nothing is taken for it: any hold on "
            "your card is released.",
        )
    elif payment is not None and payment.status in CARD_TAKEN:
        if not received_page:
            messages.success(
                request,
                f"Thank you: your payment for order {order.number} went through. "
                "We will let you know when your order ships.",
            )
    elif not order_needs_payment(order):
        # Paid on another page (two tabs): this payment is not taken.
        messages.info(
            request,
            f"Order {order.number} is already paid, so this payment is not taken: any hold "
            "on your card is released.",
        )
    elif checkout.status == CheckoutStatus.OPEN:
        messages.info(
            request,
            f"Stripe has not confirmed your payment for order {order.number} to us yet. "
            "There is nothing more to do: we email you as soon as it is through.",
        )
    elif not received_page:
        messages.error(
            request, f"Your payment for order {order.number} did not go through: please pay again."
        )
    if received_page:
        return redirect("orders:order-received", number=order.number)
    return redirect(order_path(order))


@private
@require_GET
def checkout_cancelled(request: HttpRequest, token: str) -> HttpResponse:
    """Back from the provider's page without paying: nothing was charged; the pay-again page
    says so and offers to pay."""
    checkout = checkout_for_return(token)
    if checkout is None:
        return link_refused(request, UNKNOWN_RETURN)
    order = checkout.payment.order
    messages.warning(
        request,
        f"You left the payment page, so nothing was charged and order {order.number} is not "
        "paid yet. Your items stay reserved for you: pay below to send the order on its way.",
    )
    return redirect(pay_path(order))

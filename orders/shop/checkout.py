"""Checkout: the form that places the order from the cart, and the page that follows it."""

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orders import selectors
from orders.exceptions import DomainError
from orders.models import Customer, Order
from orders.ratelimit import ratelimit
from orders.services import LineInput, Quote, order_place, order_quote
from orders.shop import checkout_total
from orders.shop.forms.addresses import AddressForm
from orders.shop.forms.checkout import CheckoutForm
from orders.shop.hosted_payment import payment_page_url, see_other
from orders.shop.order_links import order_path, pay_path, register_path
from orders.shop.private_pages import private
from orders.shop.session_cart import Cart
from payments.providers import card_payments_hosted
from payments.selectors import (
    order_awaiting_payment,
    order_needs_payment,
    order_paying_on_provider_page,
)


@never_cache
@ratelimit("checkout")
@require_http_methods(["GET", "POST"])
def checkout(request: HttpRequest) -> HttpResponse:
    cart = Cart(request.session)
    if request.method == "POST":
        number = cart.order_placed_with(request.POST.get("checkout_token", ""))
        if number:
            # A double click or a reload of a checkout that already placed its order.
            return redirect("orders:order-received", number=number)
    if not cart:
        messages.info(request, "Your cart is empty.")
        return redirect("orders:cart")
    customer = selectors.customer_for_user(request.user)
    user = request.user if request.user.is_authenticated else None
    form_kwargs = _form_kwargs(cart, customer, user)
    token = cart.checkout_token()
    summary: dict[str, Any] | None = None
    if request.method == "POST" and "update_total" in request.POST:
        # "Update total" (the page without JavaScript): the page again for the address and
        # delivery as posted, with the total for them; nothing is checked or placed.
        data = request.POST.copy()
        data["checkout_token"] = token
        form = CheckoutForm(data, preview=True, **form_kwargs)
    elif request.method == "POST":
        form = CheckoutForm(request.POST, **form_kwargs)
        if not cart.is_current_token(request.POST.get("checkout_token", "")):
            # An old tab, or a token that is not ours: show the form again, place nothing.
            messages.warning(
                request, "This checkout page was out of date. Please check it and place the order."
            )
            data = request.POST.copy()
            data["checkout_token"] = token
            form = CheckoutForm(data, **form_kwargs)
        elif form.is_valid():
            summary = _summary(cart, form)
            changed = _total_change(request, form, summary)
            if changed:
                # Not the total the page showed (or it showed none): the page again with
                # the new summary, and why; the next "Place order" places at it.
                messages.warning(request, changed)
            else:
                order = _place(cart, form, token, user)
                if order is not None and form.sends_to_provider_page:
                    return _to_payment_page(request, order, user)
                if order is not None:
                    return redirect("orders:order-received", number=order.number)
    else:
        initial, shipping_initial = _checkout_initial(customer, user, token)
        form = CheckoutForm(initial=initial, shipping_initial=shipping_initial, **form_kwargs)
    status = 400 if form.is_bound and (form.errors or _part_errors(form)) else 200
    return render(
        request,
        "orders/checkout.html",
        {
            "form": form,
            **(summary if summary is not None else _summary(cart, form)),
            "test_gateway": settings.PAYMENT_CARD_PROVIDER == "test",
        },
        status=status,
    )


@never_cache
@ratelimit("checkout_summary")
@require_POST
def checkout_summary(request: HttpRequest) -> HttpResponse:
    """The checkout's order summary and delivery options for the address and delivery as
    they stand on the page (posted by checkout.js as they change; card fields are left out),
    as HTML to put in place. Reads only: nothing is checked or placed. Limited per client
    address (its own scope, failing open like checkout); over the limit the script shows the
    "Update total" button instead."""
    cart = Cart(request.session)
    if not cart:
        return JsonResponse({"error": "Your cart is empty."}, status=409)
    customer = selectors.customer_for_user(request.user)
    user = request.user if request.user.is_authenticated else None
    form = CheckoutForm(request.POST, preview=True, **_form_kwargs(cart, customer, user))
    context = {"form": form, **_summary(cart, form)}
    return JsonResponse(
        {
            "summary": render_to_string("orders/_checkout_summary.html", context, request),
            "delivery": render_to_string("orders/_delivery_options.html", context, request)
            if form.needs_shipping
            else None,
        }
    )


def _form_kwargs(cart: Cart, customer: Customer | None, user: Any) -> dict[str, Any]:
    return {
        "needs_shipping": cart.needs_shipping(),
        "invoice_allowed": selectors.customer_has_invoice_terms(customer),
        "methods": selectors.shipping_methods(),
        "account_email": user.email if user is not None else "",
        "pays_on_provider_page": card_payments_hosted(),
    }


def _summary(cart: Cart, form: CheckoutForm) -> dict[str, Any]:
    """The order summary: the cart's lines and, once the page names a destination (and a
    delivery option, when anything is shipped), what placing the order will charge, priced
    by the placement's own pricing (orders.services.order_quote)."""
    method = form.chosen_method()
    destination = form.destination
    quote: Quote | None = None
    missing = ""
    if destination is None:
        part = "shipping" if form.needs_shipping else "billing"
        missing = f"Choose the {part} country to see the tax and the total."
    elif form.needs_shipping and method is None:
        missing = form.no_delivery_message() or "Choose a delivery option to see the total."
    else:
        try:
            quote = order_quote(
                lines=[LineInput(line.product.sku, line.quantity) for line in cart.lines()],
                shipping_address=destination if form.needs_shipping else None,
                billing_address=None if form.needs_shipping else destination,
                shipping_method=method.code if method is not None else None,
            )
        except DomainError as error:
            missing = error.message
    return {
        "lines": cart.lines(),
        "subtotal": cart.subtotal(),
        "currency": cart.currency(),
        "needs_shipping": form.needs_shipping,
        "method": method,
        "quote": quote,
        "shown_total": checkout_total.shown_value(quote),
        "missing": missing,
    }


def _total_change(request: HttpRequest, form: CheckoutForm, summary: dict[str, Any]) -> str:
    """Why the order is not placed yet: the page showed another total than placing would
    charge now, or none (orders.shop.checkout_total); "" to place it. Without a price
    (order_quote refused), placing refuses the same way and says so on its field."""
    quote = summary["quote"]
    if quote is None or form.destination is None:
        return ""
    shown = request.POST.get(checkout_total.FIELD, "")
    return checkout_total.total_change(shown, quote, country=form.destination.country)


def _place(cart: Cart, form: CheckoutForm, token: str, user: Any) -> Order | None:
    lines = [LineInput(line.product.sku, line.quantity) for line in cart.lines()]
    try:
        result = order_place(
            channel="web",
            source="web",
            idempotency_key=token,
            actor=user if user is not None else "customer",
            user=user,
            **form.placement(lines),
        )
    except DomainError as error:
        form.show_error(error)
        return None
    cart.placed(token, result.order.number)
    return result.order


def _to_payment_page(request: HttpRequest, order: Order, user: Any) -> HttpResponse:
    """The order is placed: now to the card provider's page to pay for it. Should the page
    not open, the order stays placed and unpaid, and the page after checkout offers to pay."""
    if not order_needs_payment(order):
        return redirect("orders:order-received", number=order.number)
    try:
        url = payment_page_url(order, actor=user if user is not None else "customer")
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("orders:order-received", number=order.number)
    return see_other(url)


def _checkout_initial(
    customer: Customer | None, user: Any, token: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form's first values; a returning customer starts from the last address an order
    in their account went to."""
    initial: dict[str, Any] = {"checkout_token": token, "billing_same": True}
    shipping: dict[str, Any] = {}
    if customer is not None:
        initial["phone"] = customer.phone
    last = selectors.last_shipping_address(user)
    if last is not None:
        shipping = AddressForm.initial_from(last)
    return initial, shipping


def _part_errors(form: CheckoutForm) -> bool:
    parts = [form.shipping, form.billing if form.uses_billing else None]
    return any(part is not None and part.is_bound and part.errors for part in parts)


@private
@require_GET
def order_received(request: HttpRequest, number: str) -> HttpResponse:
    """The page after checkout: only for the session that placed the order (or its owner)."""
    cart = Cart(request.session)
    order_id = None
    if number in cart.placed_numbers():
        order_id = selectors.order_id_for_number(number)
    if order_id is None:
        order_id = selectors.order_id_for_customer(request.user, number)
    if order_id is None:
        raise Http404("No such order.")
    order = selectors.order_for_page(order_id)
    payment = next(reversed(order.payment_list), None)
    return render(
        request,
        "orders/order_received.html",
        {
            "order": order,
            "order_path": order_path(order),
            "payment": payment,
            "needs_payment": order_awaiting_payment(order),
            "paying_on_provider_page": order_paying_on_provider_page(order.payment_list),
            "pay_path": pay_path(order),
            "register_path": register_path(order),
        },
    )

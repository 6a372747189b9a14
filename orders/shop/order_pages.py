"""One order's pages, for its owner (under My orders) and through a guest link from an email:
the order page, cancelling, changing the shipping address, the invoice, and paying again
after a declined card. A customer reaches only the orders in their account (Order.account):
any other order number, even one placed under their email, gives 404, exactly like one that
does not exist.
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from orders import selectors
from orders.countries import NAMES as COUNTRY_NAMES
from orders.exceptions import DomainError, TransitionRefused
from orders.models import Order
from orders.ratelimit import ratelimit
from orders.services import (
    OrderGrant,
    customer_can_change,
    order_cancel_by_customer,
    order_change_shipping_address,
)
from orders.shop.forms.addresses import AddressForm
from orders.shop.forms.customer_form import apply_domain_error
from orders.shop.forms.order_actions import CancelOrderForm, PayAgainForm
from orders.shop.hosted_payment import payment_page_url, see_other
from orders.shop.order_links import order_path, pay_path, register_path
from orders.shop.private_pages import link_refused, private
from orders.signed_links import LinkRefused
from payments.invoices import invoice_pdf
from payments.providers import card_payments_hosted
from payments.selectors import (
    latest_invoice,
    order_awaiting_payment,
    order_needs_payment,
    order_paying_on_provider_page,
    order_payment_summary,
)
from payments.services import (
    PaymentRefused,
    order_for_pay_link,
    payment_pay_again,
)


class OrderAccess:
    """How this request reaches an order: the account it is in, logged in, or a guest link. A
    guest link that is forged, expired or revoked raises LinkRefused. `grant` is what the
    services that change the order check again, under the order's lock."""

    def __init__(self, request: HttpRequest, *, number: str = "", token: str = ""):
        self.token = token
        if token:
            self.order_id = selectors.order_id_for_link(token)
            self.grant = OrderGrant.guest_link(token)
            return
        order_id = selectors.order_id_for_customer(request.user, number)
        if order_id is None:
            raise Http404("No such order.")
        self.order_id = order_id
        self.grant = OrderGrant.signed_in(request.user)

    def order(self) -> Order:
        return selectors.order_for_page(self.order_id)

    def url(self, name: str, order: Order) -> str:
        if self.token:
            return reverse(f"orders:order-link{name}", args=[self.token])
        return reverse(f"orders:account-order{name}", args=[order.number])


def order_view(*, guest: bool) -> Callable[..., HttpResponse]:
    """Wrap an order view: resolve the order for the owner or the guest link, or refuse."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            try:
                access = OrderAccess(
                    request, number=kwargs.get("number", ""), token=kwargs.get("token", "")
                )
            except LinkRefused as error:
                return link_refused(request, error.message)
            return view(request, access)

        wrapper = private(wrapper)
        return wrapper if guest else login_required(wrapper)

    return decorator


def _order_page(request: HttpRequest, access: OrderAccess) -> HttpResponse:
    order = access.order()
    if access.token and request.user.is_authenticated and order.account_id == request.user.pk:
        return redirect("orders:account-order", number=order.number)
    changeable = customer_can_change(order)
    invoice = latest_invoice(order.payment_list)
    return render(
        request,
        "orders/order_detail.html",
        {
            "order": order,
            "guest": bool(access.token),
            "progress": selectors.order_progress(order),
            "events": order.customer_events,
            "payments": order.payment_list,
            "summary": order_payment_summary(order, order.payment_list),
            "invoice": invoice,
            "invoice_url": access.url("-invoice", order) if invoice is not None else "",
            "can_cancel": changeable,
            "awaiting_dispatch": selectors.order_awaiting_dispatch(order),
            "can_change_address": changeable and order.shipping_address_id is not None,
            "cancel_url": access.url("-cancel", order),
            "address_url": access.url("-address", order),
            "needs_payment": order_awaiting_payment(order),
            "paying_on_provider_page": order_paying_on_provider_page(order.payment_list),
            "pay_path": pay_path(order),
            "register_path": register_path(order, token=access.token),
        },
    )


def _order_cancel(request: HttpRequest, access: OrderAccess) -> HttpResponse:
    order = access.order()
    back = access.url("", order)
    if not customer_can_change(order):
        return _refused(request, back, _too_late(order, "cancelled"))
    form = CancelOrderForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            order_cancel_by_customer(
                order_id=order.pk, grant=access.grant, reason=form.cleaned_data["reason"]
            )
        except DomainError as error:
            if error.fields.get("reason"):
                form.add_error("reason", error.fields["reason"])
            else:
                return _refused(request, back, error.message)
        else:
            messages.success(
                request,
                f"Order {order.number} is cancelled. If you paid already, the money goes back "
                "the way you paid; we have emailed you.",
            )
            return redirect(back)
    return render(
        request,
        "orders/order_cancel.html",
        {"order": order, "form": form, "back_url": back},
        status=400 if form.is_bound and form.errors else 200,
    )


def _order_address(request: HttpRequest, access: OrderAccess) -> HttpResponse:
    order = access.order()
    back = access.url("", order)
    if not customer_can_change(order) or order.shipping_address is None:
        return _refused(request, back, _too_late(order, "sent to another address"))
    country = order.shipping_address.country
    form = AddressForm(
        request.POST if request.method == "POST" else None,
        initial=AddressForm.initial_from(order.shipping_address),
        # the same country; any destination when it is no country (placed before codes were
        # checked), so that the address can be put right
        countries=[country] if country in COUNTRY_NAMES else None,
        section="shipping",
    )
    if request.method == "POST" and form.is_valid():
        try:
            order_change_shipping_address(
                order_id=order.pk, grant=access.grant, address=form.to_input()
            )
        except TransitionRefused as error:
            return _refused(request, back, error.message)
        except DomainError as error:
            apply_domain_error(form, error, {"shipping_address": "__all__"})
        else:
            messages.success(request, "The shipping address is changed.")
            return redirect(back)
    return render(
        request,
        "orders/order_address.html",
        {"order": order, "form": form, "back_url": back},
        status=400 if form.is_bound and form.errors else 200,
    )


def _order_invoice(request: HttpRequest, access: OrderAccess) -> HttpResponse:
    invoice = latest_invoice(access.order().payment_list)
    if invoice is None:
        raise Http404("This order has no invoice.")
    response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.number}.pdf"'
    return response


def _too_late(order: Order, verb: str) -> str:
    if order.status == "cancelled":
        return f"Order {order.number} is cancelled; it can no longer be {verb}."
    if order.shipping_address_id is None and verb != "cancelled":
        return f"Order {order.number} has nothing to ship, so it has no shipping address."
    return (
        f"Order {order.number} is already being prepared in our warehouse, so it can no "
        f"longer be {verb} online. Please contact us and quote the order number."
    )


def _refused(request: HttpRequest, back: str, message: str) -> HttpResponse:
    """A refused request: nothing changed; say why on the order page."""
    messages.error(request, message)
    return redirect(back)


account_order = require_GET(order_view(guest=False)(_order_page))
order_link = require_GET(order_view(guest=True)(_order_page))
account_order_cancel = require_http_methods(["GET", "POST"])(
    ratelimit("order_action")(order_view(guest=False)(_order_cancel))
)
order_link_cancel = require_http_methods(["GET", "POST"])(
    ratelimit("order_action")(order_view(guest=True)(_order_cancel))
)
account_order_address = require_http_methods(["GET", "POST"])(
    ratelimit("order_action")(order_view(guest=False)(_order_address))
)
order_link_address = require_http_methods(["GET", "POST"])(
    ratelimit("order_action")(order_view(guest=True)(_order_address))
)
account_order_invoice = require_GET(order_view(guest=False)(_order_invoice))
order_link_invoice = require_GET(order_view(guest=True)(_order_invoice))


# --- pay again -----------------------------------------------------------------------------


def _pay_with_card(request: HttpRequest, order: Order, form: PayAgainForm) -> HttpResponse | None:
    """The card typed on the page (the test gateway): to the order when it went through."""
    try:
        payment = payment_pay_again(order_id=order.pk, card=form.card, actor="customer")
    except DomainError as error:
        form.add_error(None, error.message)
        return None
    if payment.card_went_through:
        messages.success(
            request,
            f"Thank you: your payment for order {order.number} went through. "
            "We will let you know when your order ships.",
        )
        return redirect(order_path(order))
    form.add_error(
        None,
        f"The card was declined: {payment.failure_message or 'no reason given'} "
        "Please try another card.",
    )
    return None


@private
@ratelimit("checkout")
@require_http_methods(["GET", "POST"])
def pay_again(request: HttpRequest, token: str) -> HttpResponse:
    try:
        order = order_for_pay_link(token)
    except PaymentRefused as error:
        return link_refused(request, error.message)
    order = selectors.order_for_page(order.pk)
    if not order_needs_payment(order):
        messages.info(request, f"Order {order.number} needs no payment now. Thank you!")
        return render(
            request,
            "orders/pay_again.html",
            {"order": order, "form": None, "order_path": order_path(order)},
        )
    hosted = card_payments_hosted()
    form = PayAgainForm(
        request.POST if request.method == "POST" else None, pays_on_provider_page=hosted
    )
    if request.method == "POST" and form.is_valid():
        if hosted:
            # To the card provider's page; card fields posted anyway are never read.
            try:
                return see_other(payment_page_url(order, actor="customer"))
            except DomainError as error:
                form.add_error(None, error.message)
        else:
            response = _pay_with_card(request, order, form)
            if response is not None:
                return response
    return render(
        request,
        "orders/pay_again.html",
        {
            "order": order,
            "form": form,
            "order_path": order_path(order),
            "test_gateway": settings.PAYMENT_CARD_PROVIDER == "test",
        },
        status=400 if form.is_bound and form.errors else 200,
    )

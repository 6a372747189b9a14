"""Customer pages: the shop, the cart, checkout, the customer's orders and the guest links.

Views only translate HTTP: they read through `orders.selectors`, write through the services,
and turn a service's refusal into a message on the page. A customer reaches only their own
orders: anyone else's order number gives 404, exactly like one that does not exist.
"""

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orders import selectors
from orders.exceptions import DomainError, TransitionRefused
from orders.models import Customer, Order
from orders.ratelimit import client_ip, posted, ratelimit
from orders.services import (
    LineInput,
    customer_account_claim,
    customer_account_create,
    customer_can_change,
    customer_claim_link_send,
    order_cancel_by_customer,
    order_change_shipping_address,
    order_place,
)
from orders.shop.cart import Cart, CartError
from orders.shop.forms.checkout import (
    AddressForm,
    AddToCartForm,
    CancelOrderForm,
    CartUpdateForm,
    CheckoutForm,
    CustomerLoginForm,
    CustomerPasswordResetForm,
    CustomerSetPasswordForm,
    PayAgainForm,
    RegisterForm,
    SearchForm,
    apply_domain_error,
)
from payments.invoices import invoice_pdf
from payments.selectors import order_payment_summary
from payments.services import (
    PaymentRefused,
    order_for_pay_link,
    order_needs_payment,
    payment_pay_again,
)

logger = logging.getLogger(__name__)

ORDERS_PER_PAGE = 20


def private(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Pages about one customer's order: never cached, never indexed, and the address (which
    may hold a guest token) is not sent to other sites as a referrer. ("no-referrer" would
    make browsers post forms with "Origin: null", which the CSRF check rightly refuses.)"""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = never_cache(view)(request, *args, **kwargs)
        response["Referrer-Policy"] = "same-origin"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapper


# --- the shop ------------------------------------------------------------------------------


@require_GET
def product_list(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    paginator = Paginator(selectors.product_list(query=query), settings.SHOP_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "orders/product_list.html",
        {"form": form, "query": query, "page": page, "products": page.object_list},
    )


@require_GET
def product_detail(request: HttpRequest, sku: str) -> HttpResponse:
    product = selectors.product_for_sale(sku)
    if product is None:
        raise Http404("No such product.")
    form = AddToCartForm(initial={"sku": product.sku, "quantity": 1})
    return render(
        request,
        "orders/product_detail.html",
        {"product": product, "form": form, "in_stock": selectors.is_in_stock(product)},
    )


# --- the cart ------------------------------------------------------------------------------


@require_GET
def cart_view(request: HttpRequest) -> HttpResponse:
    cart = Cart(request.session)
    lines = cart.lines()
    for sku in cart.dropped:
        messages.warning(request, f"{sku} is no longer for sale and was taken out of your cart.")
    return render(
        request,
        "orders/cart.html",
        {
            "cart": cart,
            "lines": [(line, CartUpdateForm(initial={"sku": line.product.sku})) for line in lines],
            "subtotal": cart.subtotal(),
            "currency": cart.currency() or settings.DEFAULT_CURRENCY,
        },
    )


@require_POST
def cart_add(request: HttpRequest) -> HttpResponse:
    form = AddToCartForm(request.POST)
    sku = request.POST.get("sku", "")
    product = selectors.product_for_sale(sku) if form.is_valid() else None
    if product is None:
        messages.error(request, _first_error(form) or "That product is not for sale.")
        return redirect(_safe_next(request, "orders:product-list"))
    try:
        total = Cart(request.session).add(product.sku, form.cleaned_data["quantity"])
    except CartError as error:
        messages.error(request, str(error))
        return redirect("orders:product-detail", sku=product.sku)
    if not selectors.is_in_stock(product, total):
        messages.warning(
            request,
            f"Only {max(product.units_available, 0)} of {product.name} are in stock; "
            "please lower the quantity before checking out.",
        )
    messages.success(request, f"Added {product.name} to your cart ({total} in cart).")
    return redirect(_safe_next(request, "orders:cart"))


@require_POST
def cart_update(request: HttpRequest) -> HttpResponse:
    form = CartUpdateForm(request.POST)
    cart = Cart(request.session)
    if not form.is_valid():
        messages.error(request, _first_error(form) or "Choose a quantity from 0 to 99.")
        return redirect("orders:cart")
    sku, quantity = form.cleaned_data["sku"], form.cleaned_data["quantity"]
    try:
        if request.POST.get("remove"):
            quantity = 0
        cart.set_quantity(sku, quantity)
    except CartError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Removed from your cart." if not quantity else "Cart updated.")
    return redirect("orders:cart")


# --- checkout ------------------------------------------------------------------------------


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
    lines = cart.lines()
    customer = selectors.customer_for_user(request.user)
    user = request.user if request.user.is_authenticated else None
    form_kwargs = {
        "needs_shipping": cart.needs_shipping(),
        "invoice_allowed": selectors.customer_has_invoice_terms(customer),
        "methods": selectors.shipping_methods(),
        "account_email": user.email if user is not None else "",
    }
    token = cart.checkout_token()
    if request.method == "POST":
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
            order = _place(request, cart, form, token, user)
            if order is not None:
                return redirect("orders:order-received", number=order.number)
    else:
        initial, shipping_initial = _checkout_initial(customer, token)
        form = CheckoutForm(initial=initial, shipping_initial=shipping_initial, **form_kwargs)
    status = 400 if form.is_bound and (form.errors or _part_errors(form)) else 200
    return render(
        request,
        "orders/checkout.html",
        {
            "form": form,
            "lines": lines,
            "subtotal": cart.subtotal(),
            "currency": cart.currency(),
            "test_gateway": settings.PAYMENT_CARD_PROVIDER == "test",
        },
        status=status,
    )


def _place(
    request: HttpRequest, cart: Cart, form: CheckoutForm, token: str, user: Any
) -> Order | None:
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


def _checkout_initial(
    customer: Customer | None, token: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The form's first values; a returning customer starts from their last address."""
    initial: dict[str, Any] = {"checkout_token": token, "billing_same": True}
    shipping: dict[str, Any] = {}
    if customer is not None:
        initial["phone"] = customer.phone
        last = (
            Order.objects.filter(customer=customer, shipping_address__isnull=False)
            .select_related("shipping_address")
            .order_by("-placed_at")
            .first()
        )
        if last is not None:
            shipping = AddressForm.initial_from(last.shipping_address)
    return initial, shipping


def _part_errors(form: CheckoutForm) -> bool:
    parts = [form.shipping, form.billing if form.uses_billing else None]
    return any(part is not None and part.is_bound and part.errors for part in parts)


@private
@require_GET
def order_received(request: HttpRequest, number: str) -> HttpResponse:
    """The page after checkout: only for the session that placed the order (or its owner)."""
    cart = Cart(request.session)
    order = None
    if number in cart.placed_numbers():
        order = Order.objects.filter(number=number).select_related("customer").first()
    if order is None:
        order = selectors.order_for_customer(request.user, number)
    if order is None:
        raise Http404("No such order.")
    order = selectors.order_for_page(order.pk)
    payment = next(reversed(order.payment_list), None)
    return render(
        request,
        "orders/order_received.html",
        {
            "order": order,
            "order_path": _order_path(request, order),
            "payment": payment,
            "needs_payment": order_needs_payment(order) and order.status == "on_hold",
            "pay_path": _pay_path(order),
            "register_path": _register_path(order),
        },
    )


# --- one order: for its owner, and through a guest link -------------------------------------


class OrderAccess:
    """How this request reaches an order: the logged-in owner, or a guest link."""

    def __init__(self, request: HttpRequest, *, number: str = "", token: str = ""):
        self.token = token
        self.order_id = self._resolve(request, number, token)

    @staticmethod
    def _resolve(request: HttpRequest, number: str, token: str) -> int:
        if token:
            try:
                return selectors.order_id_for_link(token)
            except selectors.OrderLinkRefused as error:
                raise LinkRefused(error.message) from error
        order = (
            Order.objects.filter(customer__user=request.user, number=number)
            .exclude(status="draft")
            .values_list("pk", flat=True)
            .first()
            if request.user.is_authenticated
            else None
        )
        if order is None:
            raise Http404("No such order.")
        return order

    def order(self) -> Order:
        return selectors.order_for_page(self.order_id)

    def customer(self) -> Customer:
        return Customer.objects.get(orders__pk=self.order_id)

    def url(self, name: str, order: Order) -> str:
        if self.token:
            return reverse(f"orders:order-link{name}", args=[self.token])
        return reverse(f"orders:account-order{name}", args=[order.number])


class LinkRefused(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _link_refused(request: HttpRequest, message: str) -> HttpResponse:
    return render(request, "orders/link_refused.html", {"message": message}, status=404)


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
                return _link_refused(request, error.message)
            return view(request, access)

        wrapper = private(wrapper)
        return wrapper if guest else login_required(wrapper)

    return decorator


def _order_page(request: HttpRequest, access: OrderAccess) -> HttpResponse:
    order = access.order()
    if access.token and request.user.is_authenticated and order.customer.user_id == request.user.pk:
        return redirect("orders:account-order", number=order.number)
    changeable = customer_can_change(order)
    invoices = [
        payment.invoice_record
        for payment in order.payment_list
        if getattr(payment, "invoice_record", None) is not None
    ]
    return render(
        request,
        "orders/order_detail.html",
        {
            "order": order,
            "guest": bool(access.token),
            "status_text": selectors.customer_status(order),
            "progress": selectors.order_progress(order),
            "events": order.customer_events,
            "payments": order.payment_list,
            "summary": order_payment_summary(order),
            "invoice": invoices[-1] if invoices else None,
            "invoice_url": access.url("-invoice", order) if invoices else "",
            "can_cancel": changeable,
            "awaiting_dispatch": order.status
            in ("received", "on_hold", "confirmed", "ready", "picking", "packed"),
            "can_change_address": changeable and order.shipping_address_id is not None,
            "cancel_url": access.url("-cancel", order),
            "address_url": access.url("-address", order),
            "needs_payment": order.status == "on_hold" and order_needs_payment(order),
            "pay_path": _pay_path(order),
            "register_path": _register_path(order, token=access.token),
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
                order_id=order.pk,
                customer=access.customer(),
                reason=form.cleaned_data["reason"],
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
        countries=[country],
        section="shipping",
    )
    if request.method == "POST" and form.is_valid():
        try:
            order_change_shipping_address(
                order_id=order.pk, customer=access.customer(), address=form.to_input()
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
    order = access.order()
    invoices = [
        payment.invoice_record
        for payment in order.payment_list
        if getattr(payment, "invoice_record", None) is not None
    ]
    if not invoices:
        raise Http404("This order has no invoice.")
    invoice = invoices[-1]
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


@private
@ratelimit("checkout")
@require_http_methods(["GET", "POST"])
def pay_again(request: HttpRequest, token: str) -> HttpResponse:
    try:
        order = order_for_pay_link(token)
    except PaymentRefused as error:
        return _link_refused(request, error.message)
    order = selectors.order_for_page(order.pk)
    if not order_needs_payment(order):
        messages.info(request, f"Order {order.number} needs no payment now. Thank you!")
        return render(
            request,
            "orders/pay_again.html",
            {"order": order, "form": None, "order_path": _order_path(request, order)},
        )
    form = PayAgainForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            payment = payment_pay_again(order_id=order.pk, card=form.card, actor="customer")
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            if payment.status in ("authorized", "captured"):
                messages.success(
                    request,
                    f"Thank you: your payment for order {order.number} went through. "
                    "Your order is on its way to our warehouse.",
                )
                return redirect(_order_path(request, order))
            form.add_error(
                None,
                f"The card was declined: {payment.failure_message or 'no reason given'} "
                "Please try another card.",
            )
    return render(
        request,
        "orders/pay_again.html",
        {
            "order": order,
            "form": form,
            "order_path": _order_path(request, order),
            "test_gateway": settings.PAYMENT_CARD_PROVIDER == "test",
        },
        status=400 if form.is_bound and form.errors else 200,
    )


# --- accounts ------------------------------------------------------------------------------


@method_decorator(ratelimit("login", key=posted("username")), name="dispatch")
@method_decorator(ratelimit("login", key=client_ip), name="dispatch")
class LoginView(auth_views.LoginView):
    form_class = CustomerLoginForm
    template_name = "registration/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    pass


@method_decorator(ratelimit("password_reset"), name="dispatch")
@method_decorator(ratelimit("password_reset", key=posted("email")), name="dispatch")
class PasswordResetView(auth_views.PasswordResetView):
    form_class = CustomerPasswordResetForm
    template_name = "registration/password_reset_form.html"
    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"
    success_url = reverse_lazy("orders:password-reset-done")


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "registration/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = CustomerSetPasswordForm
    template_name = "registration/password_reset_confirm.html"
    success_url = reverse_lazy("orders:password-reset-complete")


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "registration/password_reset_complete.html"


@never_cache
@ratelimit("register")
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("orders:account-orders")
    link = request.POST.get("link") or request.GET.get("link", "")
    initial = {"link": link}
    linked_order = _order_for_register_link(link)
    if linked_order is not None:
        initial.update(email=linked_order.email, name=linked_order.customer.name)
    form = RegisterForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = customer_account_create(
                email=data["email"], password=data["password1"], name=data["name"]
            )
        except DomainError as error:
            for message in error.fields.get("email", [error.message]):
                form.add_error("email", message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            _after_register(request, user, linked_order)
            return redirect("orders:account-orders")
    return render(
        request,
        "registration/register.html",
        {"form": form, "linked_order": linked_order},
        status=400 if form.is_bound and form.errors else 200,
    )


def _order_for_register_link(link: str) -> Order | None:
    if not link:
        return None
    try:
        order_id = selectors.order_id_for_link(link)
    except selectors.OrderLinkRefused:
        return None
    return Order.objects.select_related("customer").get(pk=order_id)


def _after_register(request: HttpRequest, user: Any, linked_order: Order | None) -> None:
    guest = selectors.unclaimed_customer_for_email(user.email)
    if guest is None:
        messages.success(request, "Welcome! Your account is ready.")
        return
    # Earlier orders join the account only through the link we email to that address: a guest
    # link proves nothing (anyone can place a guest order under someone else's email and get
    # a link to it), the mailbox does.
    customer_claim_link_send(user=user, customer=guest)
    messages.info(
        request,
        f"Welcome! We found earlier orders for {user.email}. To add them to your account, "
        "open the link we have just emailed you.",
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def account_claim(request: HttpRequest, token: str) -> HttpResponse:
    try:
        customer = selectors.customer_to_claim(token, user=request.user)
    except selectors.ClaimLinkRefused as refusal:
        return _link_refused(request, str(refusal))
    except Customer.DoesNotExist as exc:
        raise Http404("No such customer.") from exc
    if request.method == "POST":
        try:
            customer_account_claim(user=request.user, customer_id=customer.pk)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, "Your earlier orders are now in your account.")
        return redirect("orders:account-orders")
    return render(request, "registration/claim.html", {"customer": customer})


@login_required
@ratelimit("password_reset")
@require_POST
def account_claim_send(request: HttpRequest) -> HttpResponse:
    guest = selectors.unclaimed_customer_for_email(request.user.email or "")
    if guest is not None and selectors.customer_for_user(request.user) is None:
        customer_claim_link_send(user=request.user, customer=guest)
        messages.info(request, f"We have emailed a link to {request.user.email}.")
    return redirect("orders:account-orders")


@never_cache
@login_required
@require_GET
def account_orders(request: HttpRequest) -> HttpResponse:
    paginator = Paginator(selectors.order_list_for_customer(request.user), ORDERS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    has_own = selectors.customer_for_user(request.user) is not None
    unclaimed = (
        not has_own and selectors.unclaimed_customer_for_email(request.user.email or "") is not None
    )
    return render(
        request,
        "orders/account_orders.html",
        {"page": page, "orders": page.object_list, "unclaimed": unclaimed},
    )


# --- helpers -------------------------------------------------------------------------------


def _order_path(request: HttpRequest, order: Order) -> str:
    """Where this visitor follows the order: their account page, or the guest link."""
    if order.customer_id and order.customer.user_id:
        return reverse("orders:account-order", args=[order.number])
    return reverse("orders:order-link", args=[selectors.order_link_token(order)])


def _pay_path(order: Order) -> str:
    from payments.services import pay_link_token

    return reverse("orders:pay-again", args=[pay_link_token(order)])


def _register_path(order: Order, token: str = "") -> str:
    if order.customer_id and order.customer.user_id:
        return ""
    link = token or selectors.order_link_token(order)
    return reverse("orders:register") + "?" + f"link={link}"


def _first_error(form: Any) -> str:
    for errors in form.errors.values():
        return str(errors[0])
    return ""


def _safe_next(request: HttpRequest, default: str) -> str:
    from django.utils.http import url_has_allowed_host_and_scheme

    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse(default)

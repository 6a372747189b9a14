"""The cart's pages: the cart, adding a product to it, and changing or removing a line. The
cart itself is kept in the session (orders.shop.session_cart)."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from orders.selectors import is_in_stock, product_for_sale
from orders.shop.forms.cart import AddToCartForm, CartUpdateForm
from orders.shop.session_cart import Cart, CartError


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
    product = product_for_sale(sku) if form.is_valid() else None
    if product is None:
        messages.error(request, _first_error(form) or "That product is not for sale.")
        return redirect(_safe_next(request, "orders:product-list"))
    try:
        total = Cart(request.session).add(product.sku, form.cleaned_data["quantity"])
    except CartError as error:
        messages.error(request, str(error))
        return redirect("orders:product-detail", sku=product.sku)
    if not is_in_stock(product, total):
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


def _first_error(form: forms.Form) -> str:
    for errors in form.errors.values():
        return str(errors[0])
    return ""


def _safe_next(request: HttpRequest, default: str) -> str:
    """Back to the page the form was on, if that page is on this site."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse(default)

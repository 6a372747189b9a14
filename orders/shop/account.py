"""Customer accounts: logging in and out, registering, resetting a password, claiming the
orders placed under the account's email with the link emailed there, and My orders."""

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from orders import selectors
from orders.exceptions import DomainError
from orders.models import Order
from orders.numbers import page_number
from orders.ratelimit import client_ip, posted, ratelimit
from orders.services import (
    customer_account_claim,
    customer_account_create,
    customer_claim_link_send,
    customer_with_orders_to_claim,
)
from orders.shop.forms.account import (
    CustomerLoginForm,
    CustomerPasswordResetForm,
    CustomerSetPasswordForm,
    RegisterForm,
)
from orders.shop.private_pages import link_refused
from orders.signed_links import LinkRefused

ORDERS_PER_PAGE = 20


# Per address its own counter; per username the one the staff console's login counts too
# (config/admin_site.py): a staff account logs in on either page.
@method_decorator(ratelimit("login_account", key=posted("username")), name="dispatch")
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
            _after_register(request, user)
            return redirect("orders:account-orders")
    return render(
        request,
        "registration/register.html",
        {"form": form, "linked_order": linked_order},
        status=400 if form.is_bound and form.errors else 200,
    )


def _order_for_register_link(link: str) -> Order | None:
    """The guest order the sign-up page was opened from, to fill in the email and name."""
    if not link:
        return None
    try:
        return selectors.order_for_link(link)
    except LinkRefused:
        return None


def _after_register(request: HttpRequest, user: Any) -> None:
    if not customer_claim_link_send(user=user, actor=user):
        messages.success(request, "Welcome! Your account is ready.")
        return
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
    except LinkRefused as refusal:
        return link_refused(request, refusal.message)
    if customer is None:
        raise Http404("No such customer.")
    if request.method == "POST":
        try:
            added = customer_account_claim(user=request.user, customer_id=customer.pk)
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request, f"{added} earlier order{pluralize(added)} added to your account."
            )
        return redirect("orders:account-orders")
    waiting = selectors.orders_to_claim(customer.email).count()
    return render(request, "registration/claim.html", {"customer": customer, "waiting": waiting})


@login_required
@ratelimit("password_reset")
@require_POST
def account_claim_send(request: HttpRequest) -> HttpResponse:
    if customer_claim_link_send(user=request.user, actor=request.user):
        messages.info(request, f"We have emailed a link to {request.user.email}.")
    return redirect("orders:account-orders")


@never_cache
@login_required
@require_GET
def account_orders(request: HttpRequest) -> HttpResponse:
    paginator = Paginator(selectors.order_list_for_customer(request.user), ORDERS_PER_PAGE)
    page = paginator.get_page(page_number(request.GET.get("page")))
    unclaimed = customer_with_orders_to_claim(request.user) is not None
    return render(
        request,
        "orders/account_orders.html",
        {"page": page, "orders": page.object_list, "unclaimed": unclaimed},
    )

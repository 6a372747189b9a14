"""Which orders are in a customer's account (Order.account): those placed while signed in to
it, and those its holder added with the claim link emailed to the order's address. A guest
order or a partner's order is never in an account just because it carries the account's
email: not in My orders, not on its order or invoice pages, not in its checkout."""

import re

import pytest
from django.core import mail, signing
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from orders.api import services as partner_services
from orders.models import Customer, EventType, Order
from orders.notifications import order_page_url
from orders.services import customer_account_claim, customer_claim_link_send
from orders.tests.factories import CustomerFactory, UserFactory, checkout_form, place_order
from payments.models import Invoice

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-secret-42"
STRANGER = {
    "shipping-name": "Mallory Example",
    "shipping-line1": "Elsewhere 9",
    "shipping-city": "Hamburg",
    "shipping-postal_code": "20095",
    "shipping-country": "DE",
}


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def ada(db):
    """Ada's account, with her own customer record."""
    user = UserFactory(
        username="ada@example.com", email="ada@example.com", is_staff=False, password=PASSWORD
    )
    CustomerFactory(email="ada@example.com", name="Ada Lovelace", user=user)
    return user


def _checkout(client, email: str, address: dict | None = None) -> Order:
    """Buys a mug through the shop's checkout, as whoever `client` is (or nobody)."""
    data = checkout_form(client, email=email, **(address or STRANGER))
    response = client.post(reverse("orders:checkout"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return Order.objects.order_by("-pk").first()


def _partner_order(email: str, capture) -> Order:
    """A partner's API order, on its invoice terms, for a buyer with this email."""
    partner = partner_services.partner_create(name="Acme", billing_email="billing@acme.example")
    _key, secret = partner_services.partner_api_key_create(partner=partner)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    body = {
        "lines": [{"sku": "MUG-001", "quantity": 2}],
        "customer": {"email": email, "name": "Ada Lovelace", "phone": ""},
        "shipping_address": {
            "name": "Ada Lovelace",
            "line1": "1 Main St",
            "city": "London",
            "postal_code": "N1 9GU",
            "country": "GB",
        },
        "shipping_method": "standard",
        "payment": {"method": "invoice"},
    }
    with capture(execute=True):
        response = api.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 201, response.json()
    return Order.objects.get(number=response.json()["number"])


def _claim_path(message) -> str:
    return re.search(r"https?://[^/]+(/account/claim/[^\s]+/)", message.body).group(1)


def _ada_cannot_see(client, order: Order) -> None:
    assert order.number not in client.get(reverse("orders:account-orders")).content.decode()
    for name in ("account-order", "account-order-invoice", "account-order-cancel"):
        assert client.get(reverse(f"orders:{name}", args=[order.number])).status_code == 404, name


# --- guest orders -------------------------------------------------------------------------


def test_a_guest_checkout_under_adas_email_is_not_in_her_account(client, catalogue, ada):
    # given a stranger, logged out, checking out under Ada's email
    order = _checkout(client, "ada@example.com")
    assert order.account is None
    assert order.customer.user == ada  # the customer record is only whoever the email names

    # then Ada, logged in, sees nothing of it
    client.force_login(ada)
    _ada_cannot_see(client, order)
    # and its emails carry the guest link, not a link to an account page
    assert "/orders/track/" in order_page_url(order)


def test_a_stranger_s_address_is_not_offered_at_adas_checkout(client, catalogue, ada):
    # given a stranger's guest order under Ada's email, shipped to the stranger
    place_order(email="ada@example.com", payment=None)
    _checkout(client, "ada@example.com", STRANGER)
    client.logout()

    # when Ada checks out signed in
    client.force_login(ada)
    client.post(reverse("orders:cart-add"), {"sku": "MUG-001", "quantity": 1})
    html = client.get(reverse("orders:checkout")).content.decode()

    # then the stranger's address is not filled in
    assert "Elsewhere 9" not in html and "Torstraße 1" not in html


def test_ada_adds_a_guest_order_with_the_link_emailed_to_her(
    client, catalogue, ada, django_capture_on_commit_callbacks
):
    # given Ada's own guest checkout, logged out
    order = _checkout(client, "ada@example.com")
    client.force_login(ada)
    page = client.get(reverse("orders:account-orders")).content.decode()
    assert order.number not in page
    assert "not in your account" in page

    # when she asks for the link and follows it
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("orders:account-claim-send"))
    (claim,) = [m for m in mail.outbox if "earlier orders" in m.subject]
    assert claim.to == ["ada@example.com"]
    path = _claim_path(claim)
    assert "1 order placed with ada@example.com" in client.get(path).content.decode()
    response = client.post(path, follow=True)

    # then it is in her account, with a note on its timeline
    assert "1 earlier order added to your account." in response.content.decode()
    order.refresh_from_db()
    assert order.account == ada
    assert order.number in client.get(reverse("orders:account-orders")).content.decode()
    assert client.get(reverse("orders:account-order", args=[order.number])).status_code == 200
    note = order.events.get(type=EventType.NOTE, actor=ada)
    assert "claim link emailed to ada@example.com" in note.message
    assert not note.customer_visible
    assert "/account/orders/" in order_page_url(order)
    # and following the link again adds nothing
    again = client.post(path, follow=True).content.decode()
    assert "no orders placed with ada@example.com left to add" in again


def test_a_claim_link_is_refused_once_the_account_has_another_email(client, catalogue, ada):
    order = place_order(email="ada@example.com", payment=None).order
    customer = Customer.objects.get(email="ada@example.com")
    token = signing.dumps({"user": ada.pk, "customer": customer.pk}, salt="orders.claim-orders")
    ada.email = "ada@elsewhere.example"
    ada.save(update_fields=["email"])
    client.force_login(ada)
    response = client.post(reverse("orders:account-claim", args=[token]), follow=True)
    assert "sent for another email address" in response.content.decode()
    order.refresh_from_db()
    assert order.account is None


# --- partner orders -----------------------------------------------------------------------


def test_a_partner_order_under_adas_email_never_joins_her_account(
    client, catalogue, ada, django_capture_on_commit_callbacks
):
    # given a partner's invoiced order for a buyer with Ada's email
    order = _partner_order("ada@example.com", django_capture_on_commit_callbacks)
    assert Invoice.objects.filter(payment__order=order).exists()
    assert order.account is None

    # then Ada sees nothing of it, and is offered no link to claim it
    client.force_login(ada)
    _ada_cannot_see(client, order)
    assert (
        "not in your account" not in client.get(reverse("orders:account-orders")).content.decode()
    )
    assert customer_claim_link_send(user=ada, actor=ada) is False

    # and a claim link for her email (sent for another order, say) does not add it
    customer = Customer.objects.get(email="ada@example.com")
    token = signing.dumps({"user": ada.pk, "customer": customer.pk}, salt="orders.claim-orders")
    page = client.get(reverse("orders:account-claim", args=[token])).content.decode()
    assert "Orders placed through our partners stay with the partner." in page
    response = client.post(reverse("orders:account-claim", args=[token]), follow=True)
    assert "no orders placed with ada@example.com left to add" in response.content.decode()
    order.refresh_from_db()
    assert order.account is None
    _ada_cannot_see(client, order)


def test_a_claim_adds_the_guest_and_phone_orders_and_leaves_the_partner_s(
    catalogue, ada, django_capture_on_commit_callbacks
):
    # given a partner's order, a guest order and a phone order, all under Ada's email
    partner_order = _partner_order("ada@example.com", django_capture_on_commit_callbacks)
    guest_order = place_order(email="ADA@example.com", payment=None).order
    phone_order = place_order(email="ada@example.com", channel="phone", payment=None).order
    assert guest_order.account is None and phone_order.account is None
    customer = Customer.objects.get(email="ada@example.com")

    # when Ada follows the claim link
    assert customer_account_claim(user=ada, customer_id=customer.pk) == 2

    # then the shop's orders are hers, the partner's is not
    assert Order.objects.get(pk=guest_order.pk).account == ada
    assert Order.objects.get(pk=phone_order.pk).account == ada
    assert Order.objects.get(pk=partner_order.pk).account is None


def test_the_database_refuses_an_account_on_a_partner_order(
    catalogue, ada, django_capture_on_commit_callbacks
):
    order = _partner_order("ada@example.com", django_capture_on_commit_callbacks)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(account=ada)


# --- orders placed signed in --------------------------------------------------------------


def test_an_order_placed_signed_in_is_in_the_account(client, catalogue, ada):
    client.force_login(ada)
    order = _checkout(client, "ada@example.com")
    assert order.account == ada
    assert order.number in client.get(reverse("orders:account-orders")).content.decode()
    assert client.get(reverse("orders:account-order", args=[order.number])).status_code == 200
    assert "/account/orders/" in order_page_url(order)


def test_an_account_without_a_customer_record_of_its_own_keeps_what_it_orders(client, catalogue):
    # given a guest order that made a customer record for the email, then an account
    # registered with that email (which does not take the record over without proof)
    place_order(email="grace@example.com", payment=None)
    client.post(
        reverse("orders:register"),
        {
            "name": "Grace",
            "email": "grace@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    grace = Customer.objects.get(email="grace@example.com")
    assert grace.user is None

    # when she orders signed in
    order = _checkout(client, "grace@example.com")

    # then that order is in her account (the earlier guest order waits for her claim)
    assert order.account is not None and order.account.email == "grace@example.com"
    assert order.number in client.get(reverse("orders:account-orders")).content.decode()

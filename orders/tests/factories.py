"""Factories for orders, customers, staff and the catalogue, plus `place_order` to put an
order through the real placement service."""

from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any
from unittest import mock

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from orders import services
from orders.models import Customer, Order, TaxRate
from orders.permissions import ensure_staff_groups
from orders.services import AddressInput, LineInput
from warehouse.models import Product, ShippingMethod, StockItem, Warehouse


class WarehouseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Warehouse
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"wh{n}")
    name = factory.LazyAttribute(lambda o: f"Warehouse {o.code}")
    country = "DE"
    priority = 100


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        django_get_or_create = ["sku"]

    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    name = factory.LazyAttribute(lambda o: f"Product {o.sku}")
    kind = "physical"
    price = Decimal("10.00")
    currency = "EUR"


class StockItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StockItem

    product = factory.SubFactory(ProductFactory)
    warehouse = factory.SubFactory(WarehouseFactory)
    on_hand = 10
    reserved = 0


class ShippingMethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ShippingMethod
        django_get_or_create = ["code"]

    code = factory.Sequence(lambda n: f"method{n}")
    name = factory.LazyAttribute(lambda o: o.code.capitalize())
    carrier = "dhl"
    price = Decimal("5.00")
    handling_days = 1


class TaxRateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaxRate
        django_get_or_create = ["country"]

    country = "DE"
    name = "VAT"
    rate = Decimal("19.00")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        django_get_or_create = ["email"]

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    name = "Ada Lovelace"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    is_staff = True

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        self.set_password(extracted or "pw")
        if create:
            self.save()


def staff_user(group_name: str, username: str | None = None) -> Any:
    """A staff user in one of the groups from orders.permissions."""
    ensure_staff_groups()
    user = UserFactory(username=username or group_name.lower().replace(" ", "_"))
    user.groups.add(Group.objects.get(name=group_name))
    return user


BERLIN = AddressInput(
    name="Ada Lovelace", line1="Torstraße 1", city="Berlin", postal_code="10119", country="DE"
)
LONDON = AddressInput(
    name="Grace Hopper", line1="1 Main St", city="London", postal_code="N1 9GU", country="GB"
)


def place_order(
    lines: list[tuple[str, int]] | None = None,
    *,
    email: str = "ada@example.com",
    channel: str = "web",
    shipping_address: AddressInput | None = BERLIN,
    billing_address: AddressInput | None = None,
    shipping_method: str | None = "standard",
    actor: Any = "test",
    payment: Any = "card",
    authorise_card: bool = True,
    **kwargs: Any,
) -> services.PlacementResult:
    """Places through the real service; pays with the test gateway's good card unless told
    otherwise (`payment=None` for no payment, or a PaymentInput). A card is authorised as
    the placement's after-commit work does it in production (the tests' transaction never
    commits), so the order waits for review exactly as a committed one would;
    `authorise_card=False` leaves it pending, as before that after-commit work has run."""
    from payments.models import PaymentStatus
    from payments.providers.base import CardDetails
    from payments.services import PaymentInput, payment_authorize

    if payment == "card":
        payment = PaymentInput(method="card", card=CardDetails(token="tok_visa"))
    result = services.order_place(
        channel=channel,
        lines=[
            LineInput(sku, qty) for sku, qty in (lines if lines is not None else [("MUG-001", 1)])
        ],
        email=email,
        shipping_address=shipping_address,
        billing_address=billing_address,
        shipping_method=shipping_method,
        actor=actor,
        payment=payment,
        **kwargs,
    )
    if result.created and authorise_card:
        for pending in result.order.payments.filter(status=PaymentStatus.PENDING, method="card"):
            payment_authorize(payment_id=pending.pk)
    return result


def payment_securing_deferred() -> AbstractContextManager[Any]:
    """Holds back the payment worker: the capture (or invoice) that a confirmation enqueues
    is not run, so the order stays `confirmed`, as it is in production between the review's
    commit and the worker picking the task up."""
    return mock.patch("payments.tasks.secure_order_payment.delay")


def authorisation_cancelled_at_provider(order: Order) -> None:
    """The provider cancels the order's card authorisation (its webhook says so): a confirmed
    order is left with nothing paying for it, and the customer may pay again."""
    from payments.models import Payment, PaymentStatus
    from payments.services import payment_void_reported_by_provider

    with transaction.atomic():
        Order.objects.select_for_update().get(pk=order.pk)
        authorised = Payment.objects.select_for_update().filter(
            order=order, status=PaymentStatus.AUTHORIZED
        )
        for payment in authorised:
            payment_void_reported_by_provider(
                payment, provider=payment.provider, event_id=f"evt_cancelled_{payment.pk}"
            )


# A guest buying by card at the shop's checkout, shipping to Berlin.
CHECKOUT_FORM: dict[str, str] = {
    "email": "guest@example.com",
    "shipping-name": "Ada Lovelace",
    "shipping-line1": "Torstraße 1",
    "shipping-city": "Berlin",
    "shipping-postal_code": "10119",
    "shipping-country": "DE",
    "shipping_method": "standard",
    "billing_same": "on",
    "payment_method": "card",
    "card_number": "4242 4242 4242 4242",
    "exp_month": "12",
    "exp_year": "2035",
    "cvc": "123",
}


def checkout_form(client: Any, items: Any = (("MUG-001", 1),), **fields: str) -> dict[str, str]:
    """Puts `items` in `client`'s cart, opens the checkout, and returns the form to post:
    CHECKOUT_FORM with the page's checkout token and `fields` over it, and the total the
    page shows for them (with_shown_total)."""
    from django.urls import reverse

    from orders.shop.session_cart import CHECKOUT_KEY

    for sku, quantity in items:
        client.post(reverse("orders:cart-add"), {"sku": sku, "quantity": quantity})
    assert client.get(reverse("orders:checkout")).status_code == 200
    data = {**CHECKOUT_FORM, "checkout_token": client.session[CHECKOUT_KEY], **fields}
    return with_shown_total(client, data)


def with_shown_total(client: Any, data: dict[str, str]) -> dict[str, str]:
    """`data` with the total the checkout page shows for it, as its script gets it (the
    summary for the address and delivery typed): placing checks the page showed the total
    it charges."""
    import json
    import re

    from django.urls import reverse

    sent = {key: value for key, value in data.items() if key not in ("card_number", "cvc")}
    response = client.post(reverse("orders:checkout-summary"), sent)
    if response.status_code != 200:
        return data
    summary = json.loads(response.content)["summary"]
    shown = re.search(r'name="shown_total" value="([^"]*)"', summary)
    return {**data, "shown_total": shown.group(1) if shown else ""}

"""Customer accounts: registering, and claiming the orders placed under the account's email
with a link that proves the mailbox (besides placing them signed in, the only way an order
joins an account: Order.account)."""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from orders import events, signed_links
from orders.actors import Actor
from orders.exceptions import InvalidOrder, TransitionRefused
from orders.models import Customer, EventType, Order
from orders.selectors import orders_to_claim
from orders.signed_links import CLAIM_LINK

logger = logging.getLogger(__name__)


def customer_account_create(*, email: str, password: str, name: str = "") -> Any:
    """Register a customer: a user named by their email, with a Customer of their own.
    A guest Customer that already has this email is NOT linked here: anyone can type an
    email, so past orders are claimed only with proof of the mailbox (customer_account_claim
    with a link from an email)."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    email = user_model.objects.normalize_email(email.strip()).lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise InvalidOrder(
            "Enter a valid email address.", fields={"email": ["Enter a valid email address."]}
        ) from exc
    with transaction.atomic():
        if (
            user_model.objects.filter(username__iexact=email).exists()
            or user_model.objects.filter(email__iexact=email).exists()
        ):
            raise InvalidOrder(
                "An account with this email already exists.",
                fields={
                    "email": [
                        "An account with this email already exists. Log in, or reset your password."
                    ]
                },
            )
        first, _, last = name.strip().partition(" ")
        user = user_model(username=email, email=email, first_name=first[:150], last_name=last[:150])
        user.set_password(password)
        user.save()
        if not Customer.objects.filter(email__iexact=email).exists():
            Customer.objects.create(user=user, email=email, name=name.strip()[:200])
    logger.info("customer registered", extra={"user": user.pk})
    return user


def customer_account_claim(*, user: Any, customer_id: int) -> int:
    """Add the orders placed under the customer's email that no account holds (not partner
    orders) to the user's account, once they have shown they read that mailbox (the link
    was emailed there); how many were added. The customer record becomes the account's too
    when it has no account and the account no record. Refused when another account owns
    the record, or the account's email is no longer the one the link was sent to."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update(no_key=True).filter(pk=customer_id).first()
        if customer is None:
            raise InvalidOrder("We could not find those orders.", fields={"customer": ["Gone."]})
        if customer.user_id not in (None, user.pk):
            raise TransitionRefused(
                "These orders belong to another account. Please contact us to merge them."
            )
        if customer.email.lower() != (user.email or "").strip().lower():
            raise TransitionRefused(
                "This link was sent for another email address. Ask for a new one on My orders."
            )
        to_claim = orders_to_claim(customer.email).order_by("pk")
        orders = list(to_claim.select_for_update(of=("self",), no_key=True))
        if not orders:
            raise TransitionRefused(
                f"There are no orders placed with {customer.email} left to add. Orders placed "
                "through our partners stay with the partner."
            )
        if customer.user_id is None and not Customer.objects.filter(user=user).exists():
            customer.user = user
            customer.save(update_fields=["user"])
        Order.objects.filter(pk__in=[order.pk for order in orders]).update(account=user)
        for order in orders:
            events.record(
                order,
                EventType.NOTE,
                actor=user,
                message=f"Added to the account of {user.email} with the claim link emailed "
                f"to {customer.email}.",
            )
    logger.info(
        "orders claimed", extra={"user": user.pk, "customer": customer.pk, "orders": len(orders)}
    )
    return len(orders)


def customer_with_orders_to_claim(user: Any) -> Customer | None:
    """The customer record of the account's email, when orders placed under that email wait
    to join the account (orders_to_claim: not partner orders); None otherwise.
    customer_account_claim checks again, under a lock, when the emailed link is followed."""
    email = (user.email or "").strip()
    if not email or not orders_to_claim(email).exists():
        return None
    return Customer.objects.filter(email__iexact=email).first()


def customer_claim_link_send(*, user: Any, actor: Actor) -> bool:
    """Email `user` a signed link that adds the orders placed under their email to their
    account, when some wait for it (customer_with_orders_to_claim); False when none do, and
    nothing is sent. Besides placing an order signed in, orders join an account only through
    this link: it proves the mailbox, a guest link proves nothing (anyone can place a guest
    order under someone else's email)."""
    from django.urls import reverse

    from orders.notifications import queue_notification

    customer = customer_with_orders_to_claim(user)
    if customer is None:
        return False
    token = signed_links.make(CLAIM_LINK, {"user": user.pk, "customer": customer.pk})
    with transaction.atomic():
        queue_notification(
            order=None,
            kind="account_claim",
            recipient=user.email,
            # One row per request: asking again sends a new email.
            reference=f"user-{user.pk}-{int(timezone.now().timestamp())}",
            context={
                "claim_url": settings.SITE_URL.rstrip("/")
                + reverse("orders:account-claim", args=[token]),
                "name": user.get_full_name(),
            },
        )
    logger.info(
        "claim link sent",
        extra={"user": user.pk, "customer": customer.pk, "actor": getattr(actor, "pk", actor)},
    )
    return True

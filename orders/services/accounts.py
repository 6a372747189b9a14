"""Customer accounts: registering, and claiming a guest's past orders with a link that
proves the mailbox."""

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from orders import signed_links
from orders.actors import Actor
from orders.exceptions import InvalidOrder, TransitionRefused
from orders.models import Customer
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


def customer_account_claim(*, user: Any, customer_id: int) -> Customer:
    """Link a guest Customer (and so their past orders) to the user, once they have shown
    they read that customer's email. Refused when another account owns it already."""
    with transaction.atomic():
        customer = Customer.objects.select_for_update(no_key=True).filter(pk=customer_id).first()
        if customer is None:
            raise InvalidOrder("We could not find those orders.", fields={"customer": ["Gone."]})
        if customer.user_id == user.pk:
            return customer
        if customer.user_id is not None or Customer.objects.filter(user=user).exists():
            raise TransitionRefused(
                "These orders belong to another account, or your account already has its "
                "own order history. Please contact us to merge them."
            )
        customer.user = user
        customer.save(update_fields=["user"])
    logger.info("customer claimed", extra={"user": user.pk, "customer": customer.pk})
    return customer


def guest_customer_claimable_by(user: Any) -> Customer | None:
    """The guest customer whose orders `user` may ask to add to their account: the one with
    the account's email that no account owns, and only while the account has no customer (so
    no order history) of its own. customer_account_claim checks the same again, under a lock,
    when the emailed link is followed."""
    if Customer.objects.filter(user=user).exists():
        return None
    email = (user.email or "").strip()
    if not email:
        return None
    return Customer.objects.filter(email__iexact=email, user__isnull=True).first()


def customer_claim_link_send(*, user: Any, actor: Actor) -> bool:
    """Email `user` a signed link that adds the orders of the guest customer with their email
    to their account, when there is one they may claim (guest_customer_claimable_by); False
    when there is none, and nothing is sent. Orders join an account only through this link:
    it proves the mailbox, a guest link proves nothing (anyone can place a guest order under
    someone else's email)."""
    from django.urls import reverse

    from orders.notifications import queue_notification

    customer = guest_customer_claimable_by(user)
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
                "name": customer.name,
            },
        )
    logger.info(
        "claim link sent",
        extra={"user": user.pk, "customer": customer.pk, "actor": getattr(actor, "pk", actor)},
    )
    return True

"""System checks of the payment settings: a card provider that cannot work is refused at start
(and by `check --deploy`), not found out by the first customer."""

from typing import Any

from django.conf import settings
from django.core import checks

# Stripe takes a Checkout Session's expires_at 30 minutes to 24 hours after the session is
# created. Ours is counted from when the payment is written, and its page may be opened up to
# 5 minutes later (payments.services.hosted_checkout.OPEN_WINDOW): so at least 35.
CHECKOUT_MINUTES = (35, 1440)


def check_stripe_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.PAYMENT_CARD_PROVIDER != "stripe":
        return []
    errors: list[checks.CheckMessage] = []
    for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET"):
        if not getattr(settings, name):
            errors.append(
                checks.Error(
                    f"PAYMENT_CARD_PROVIDER is stripe but {name} is not set.",
                    hint=f"Set {name} from the Stripe dashboard (Developers → API keys, Webhooks).",
                    id="payments.E001",
                )
            )
    low, high = CHECKOUT_MINUTES
    if not low <= settings.STRIPE_CHECKOUT_EXPIRES_MINUTES <= high:
        errors.append(
            checks.Error(
                f"STRIPE_CHECKOUT_EXPIRES_MINUTES is {settings.STRIPE_CHECKOUT_EXPIRES_MINUTES}; "
                f"it must be {low} to {high} minutes.",
                hint="Stripe keeps a payment page open 30 minutes to 24 hours after it is "
                "opened, and a page may be opened up to 5 minutes after its payment is written.",
                id="payments.E002",
            )
        )
    if settings.STRIPE_CHECKOUT_CHECK_MINUTES < 1:
        errors.append(
            checks.Error(
                "STRIPE_CHECKOUT_CHECK_MINUTES must be 1 or more.",
                hint="The reconcile task asks Stripe about a payment page left open this often.",
                id="payments.E003",
            )
        )
    return errors

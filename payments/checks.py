"""System checks on who takes card payments, and the guard that stops a web process or a
Celery worker from starting with test payments where they are not allowed.

The test gateway approves the card 4242 4242 4242 4242 (and the token tok_visa) without any
money moving: what the embedded demo and the test suite want, and what a real shop must never
do by accident. Nor does Stripe move money with a test-mode key (sk_test_..., rk_test_...), or
when STRIPE_API_BASE sends its calls to another server (a fake or local Stripe). So production
names its card provider (PAYMENT_CARD_PROVIDER has no default there), and may take test
payments, either way, only together with PAYMENT_ALLOW_TEST_GATEWAY=true (a staging site, a
shop before its launch); every shop page then says that no real payments are taken
(payments.context_processors)."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.exceptions import ImproperlyConfigured

from payments.providers import card_test_mode

#: The names PAYMENT_CARD_PROVIDER may take (payments.providers.PROVIDERS; "invoice" is not a
#: card provider).
CARD_PROVIDERS = ("test", "stripe")

# Stripe takes a Checkout Session's expires_at 30 minutes to 24 hours after the session is
# created. Ours is counted from when the payment is written, and its page may be opened up to
# 5 minutes later (payments.services.hosted_checkout.OPEN_WINDOW): so at least 35.
CHECKOUT_MINUTES = (35, 1440)


def check_card_provider(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A system check (every command): the card provider is one we have, and its Stripe
    Checkout timings are ones Stripe takes."""
    provider = settings.PAYMENT_CARD_PROVIDER
    if provider not in CARD_PROVIDERS:
        return [
            Error(
                f"PAYMENT_CARD_PROVIDER is {provider!r}, which is not a card provider.",
                hint='Set PAYMENT_CARD_PROVIDER to "stripe", or to "test" for the test gateway.',
                obj="settings.PAYMENT_CARD_PROVIDER",
                id="payments.E003",
            )
        ]
    if provider != "stripe":
        return []
    errors: list[CheckMessage] = []
    low, high = CHECKOUT_MINUTES
    if not low <= settings.STRIPE_CHECKOUT_EXPIRES_MINUTES <= high:
        errors.append(
            Error(
                f"STRIPE_CHECKOUT_EXPIRES_MINUTES is {settings.STRIPE_CHECKOUT_EXPIRES_MINUTES}; "
                f"it must be {low} to {high} minutes.",
                hint="Stripe keeps a payment page open 30 minutes to 24 hours after it is "
                "opened, and a page may be opened up to 5 minutes after its payment is written.",
                obj="settings.STRIPE_CHECKOUT_EXPIRES_MINUTES",
                id="payments.E004",
            )
        )
    if settings.STRIPE_CHECKOUT_CHECK_MINUTES < 1:
        errors.append(
            Error(
                "STRIPE_CHECKOUT_CHECK_MINUTES must be 1 or more.",
                hint="The reconcile task asks Stripe about a payment page left open this often.",
                obj="settings.STRIPE_CHECKOUT_CHECK_MINUTES",
                id="payments.E005",
            )
        )
    return errors


def unbidden_test_payments() -> list[CheckMessage]:
    """Cards are taken without being charged, and nobody said that is on purpose: the test
    gateway (payments.E001), or Stripe in test mode or in place of Stripe (payments.E006)."""
    if settings.PAYMENT_ALLOW_TEST_GATEWAY:
        return []
    reasons = card_test_mode()
    if not reasons:
        return []
    if settings.PAYMENT_CARD_PROVIDER == "test":
        return [
            Error(
                "PAYMENT_CARD_PROVIDER is 'test': the test gateway approves test cards without "
                "taking any money, and PAYMENT_ALLOW_TEST_GATEWAY is not set.",
                hint='Set PAYMENT_CARD_PROVIDER="stripe" with STRIPE_SECRET_KEY and '
                "STRIPE_WEBHOOK_SECRET. Only a site that must not take real payments (staging) "
                "sets PAYMENT_ALLOW_TEST_GATEWAY=true; every shop page then says so.",
                obj="settings.PAYMENT_CARD_PROVIDER",
                id="payments.E001",
            )
        ]
    return [
        Error(
            f"PAYMENT_CARD_PROVIDER is 'stripe' but {' and '.join(reasons)}: no card is "
            "charged, and PAYMENT_ALLOW_TEST_GATEWAY is not set.",
            hint="Set STRIPE_SECRET_KEY to the live secret key (sk_live_... or rk_live_...) and "
            "leave STRIPE_API_BASE unset. Only a site that must not take real payments "
            "(staging) sets PAYMENT_ALLOW_TEST_GATEWAY=true; every shop page then says so.",
            obj="settings.PAYMENT_CARD_PROVIDER",
            id="payments.E006",
        )
    ]


def check_card_provider_for_deploy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A deployment check (`manage.py check --deploy`): real card payments are set up."""
    messages = unbidden_test_payments()
    if settings.PAYMENT_CARD_PROVIDER == "stripe":
        missing = [
            name
            for name in ("STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET")
            if not getattr(settings, name)
        ]
        if missing:
            messages.append(
                Error(
                    f"PAYMENT_CARD_PROVIDER is 'stripe' but {' and '.join(missing)} "
                    f"{'is' if len(missing) == 1 else 'are'} not set.",
                    hint="Copy the secret key and the webhook endpoint's signing secret from "
                    "the Stripe dashboard.",
                    obj="settings.PAYMENT_CARD_PROVIDER",
                    id="payments.E002",
                )
            )
    return messages


def refuse_to_start_with_the_test_gateway() -> None:
    """Raise ImproperlyConfigured where cards would be taken without being charged, unbidden:
    the test gateway, or Stripe in test mode or in place of Stripe (unbidden_test_payments).

    Called as a web process (config/wsgi.py, config/asgi.py) and a Celery worker
    (config/celery.py) start: gunicorn and Celery do not run the deployment checks, so a site
    deployed without `check --deploy` would otherwise approve any test card."""
    refusals = unbidden_test_payments()
    if refusals:
        refusal = refusals[0]
        raise ImproperlyConfigured(f"{refusal.id}: {refusal.msg} {refusal.hint}")

"""Payment providers behind one interface; `get_provider(name)` returns one by its name."""

from django.conf import settings
from django.utils.module_loading import import_string

from payments.providers.base import PaymentProvider

PROVIDERS = {
    "test": "payments.providers.test.TestGateway",
    "invoice": "payments.providers.invoice.InvoiceTerms",
    "stripe": "payments.providers.stripe.StripeGateway",
}


def get_provider(name: str) -> PaymentProvider:
    return import_string(PROVIDERS[name])()


def card_provider_name() -> str:
    """The provider that takes card payments: settings.PAYMENT_CARD_PROVIDER."""
    return settings.PAYMENT_CARD_PROVIDER


# Providers whose customers pay on the provider's own page: the shop never asks for a card.
HOSTED_CHECKOUT = {"stripe"}


def card_payments_hosted() -> bool:
    """Whether shop customers pay by card on the card provider's page (Stripe Checkout)
    rather than typing the card into our form (the test gateway)."""
    return card_provider_name() in HOSTED_CHECKOUT


#: Stripe's secret and restricted keys in test mode, where no money moves.
STRIPE_TEST_KEY_PREFIXES = ("sk_test_", "rk_test_")


def card_test_mode() -> list[str]:
    """Why the cards taken now are not really charged; empty when they are. The test gateway
    charges nothing; nor does Stripe with a test-mode key, or a server named in
    STRIPE_API_BASE in place of Stripe's own (a fake or a local Stripe)."""
    provider = card_provider_name()
    if provider == "test":
        return ["PAYMENT_CARD_PROVIDER is 'test'"]
    if provider != "stripe":
        return []
    reasons = []
    prefix = next(
        (p for p in STRIPE_TEST_KEY_PREFIXES if settings.STRIPE_SECRET_KEY.startswith(p)), ""
    )
    if prefix:
        reasons.append(f"STRIPE_SECRET_KEY is a test-mode key ({prefix}...)")
    if settings.STRIPE_API_BASE:
        reasons.append(f"STRIPE_API_BASE sends Stripe's calls to {settings.STRIPE_API_BASE}")
    return reasons

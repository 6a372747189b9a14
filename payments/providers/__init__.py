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

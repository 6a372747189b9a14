"""The provider interface: authorise, capture, void, refund, and parse a webhook.

Declines are results (the customer can do something about them); transport failures raise
ProviderUnavailable, which the caller retries with the same idempotency key.
"""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from orders.exceptions import DomainError

# How long a provider may take to accept a connection; PAYMENT_PROVIDER_TIMEOUT_SECONDS is
# how long it may then take to answer.
PROVIDER_CONNECT_TIMEOUT_SECONDS = 5


class InvalidPaymentDetails(DomainError):
    code = "invalid_payment"
    http_status = 400


class ProviderUnavailable(Exception):
    """The provider did not answer (timeout, 5xx, connection refused). Safe to retry."""


class WebhookRejected(Exception):
    """A webhook whose signature or timestamp does not verify, or whose body is not an event;
    `code` and `status` are what the webhook endpoint answers."""

    def __init__(self, message: str, *, code: str = "rejected", status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class CardDetails:
    """What a customer or partner sends: a card (test gateway) or a provider token."""

    number: str = ""
    exp_month: int | None = None
    exp_year: int | None = None
    cvc: str = ""
    token: str = ""


@dataclass(frozen=True)
class PreparedCard:
    token: str
    brand: str
    last4: str


@dataclass(frozen=True)
class ProviderResult:
    success: bool
    reference: str = ""
    code: str = ""
    message: str = ""
    retryable: bool = False
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HostedCheckoutState:
    """A provider's payment page (a Stripe Checkout Session) as the provider reports it:
    `status` is "open" (the customer may still pay), "complete" (paid: with manual capture,
    the card is authorised and `payment_intent` names the authorisation) or "expired"."""

    session_id: str
    status: str
    url: str = ""
    payment_intent: str = ""
    amount_total: int | None = None
    currency: str = ""
    client_reference_id: str = ""


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    type: str
    reference: str
    payload: dict[str, Any]


class PaymentProvider(Protocol):
    name: str

    def prepare_card(self, details: CardDetails) -> PreparedCard: ...

    def authorize(
        self, *, token: str, amount: Decimal, currency: str, idempotency_key: str, metadata: dict
    ) -> ProviderResult: ...

    def capture(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> ProviderResult: ...

    def void(self, *, reference: str, idempotency_key: str) -> ProviderResult: ...

    def refund(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> ProviderResult: ...

    def parse_webhook(self, *, payload: bytes, headers: dict[str, str]) -> WebhookEvent: ...


def minor_units(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())

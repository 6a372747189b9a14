"""The test gateway: the embedded default, no network. Outcomes are fixed by card number,
like the well-known test cards, and by the card tokens partners send through the API."""

import hashlib
from datetime import date
from decimal import Decimal

from django.utils import timezone

from orders.numbers import is_ascii_digits
from payments.providers.base import (
    CardDetails,
    InvalidPaymentDetails,
    PreparedCard,
    ProviderResult,
    WebhookEvent,
    WebhookRejected,
)

# card number or token -> (outcome code, message); "" is success
OUTCOMES = {
    "4242424242424242": ("", "Approved"),
    "4000000000000002": ("card_declined", "The card was declined."),
    "4000000000009995": ("insufficient_funds", "The card has insufficient funds."),
    "4000000000000119": ("processing_error", "The card could not be processed; try again."),
    "tok_visa": ("", "Approved"),
    "tok_chargeDeclined": ("card_declined", "The card was declined."),
    "tok_chargeDeclinedInsufficientFunds": (
        "insufficient_funds",
        "The card has insufficient funds.",
    ),
    "tok_chargeDeclinedProcessingError": (
        "processing_error",
        "The card could not be processed; try again.",
    ),
}
TOKEN_OF_CARD = {
    "4242424242424242": "tok_visa",
    "4000000000000002": "tok_chargeDeclined",
    "4000000000009995": "tok_chargeDeclinedInsufficientFunds",
    "4000000000000119": "tok_chargeDeclinedProcessingError",
}
RETRYABLE = {"processing_error"}


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or (
        number[:4].isdigit() and 2221 <= int(number[:4]) <= 2720
    ):
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    return "card"


def validate_card(details: CardDetails, today: date | None = None) -> str:
    """The card number, digits only, or InvalidPaymentDetails naming each bad field."""
    today = today or timezone.localdate()
    errors: dict[str, list[str]] = {}
    number = "".join(ch for ch in details.number if ch not in " -")
    if not is_ascii_digits(number) or not 12 <= len(number) <= 19:
        errors["number"] = ["Enter the card number: 12 to 19 digits."]
    elif not luhn_valid(number):
        errors["number"] = ["This card number is not valid; please check it."]
    month, year = details.exp_month, details.exp_year
    if not isinstance(month, int) or not 1 <= month <= 12:
        errors["exp_month"] = ["Enter the expiry month, 1 to 12."]
    if not isinstance(year, int) or year < 2000 or year > 2100:
        errors["exp_year"] = ["Enter the expiry year, such as 2030."]
    if (
        "exp_month" not in errors
        and "exp_year" not in errors
        and (year, month)
        < (
            today.year,
            today.month,
        )
    ):
        errors["exp_year"] = ["This card has expired."]
    cvc = details.cvc.strip()
    if not is_ascii_digits(cvc) or len(cvc) not in (3, 4):
        errors["cvc"] = ["Enter the 3 or 4 digit security code."]
    if errors:
        raise InvalidPaymentDetails("The card details are not valid.", fields=errors)
    return number


def _reference(prefix: str, idempotency_key: str) -> str:
    # The same idempotency key always gives the same reference: a retried call is the same
    # call, as it would be at a real provider.
    return f"{prefix}_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]}"


class TestGateway:
    name = "test"

    def prepare_card(self, details: CardDetails) -> PreparedCard:
        if details.token:
            if details.token not in OUTCOMES:
                raise InvalidPaymentDetails(
                    f"Unknown card token {details.token!r}.",
                    fields={"token": ["Use tok_visa, tok_chargeDeclined, ..."]},
                )
            return PreparedCard(token=details.token, brand="visa", last4="4242")
        number = validate_card(details)
        token = TOKEN_OF_CARD.get(number, "tok_visa")
        return PreparedCard(token=token, brand=card_brand(number), last4=number[-4:])

    def authorize(
        self,
        *,
        token: str,
        amount: Decimal,
        currency: str,
        idempotency_key: str,
        metadata: dict,
    ) -> ProviderResult:
        code, message = OUTCOMES.get(token, ("card_declined", "Unknown card."))
        if code:
            return ProviderResult(
                success=False, code=code, message=message, retryable=code in RETRYABLE
            )
        return ProviderResult(success=True, reference=_reference("test_auth", idempotency_key))

    def capture(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> ProviderResult:
        return ProviderResult(success=True, reference=reference)

    def void(self, *, reference: str, idempotency_key: str) -> ProviderResult:
        return ProviderResult(success=True, reference=reference)

    def refund(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> ProviderResult:
        return ProviderResult(success=True, reference=_reference("test_refund", idempotency_key))

    def parse_webhook(self, *, payload: bytes, headers: dict[str, str]) -> WebhookEvent:
        raise WebhookRejected("The test gateway sends no webhooks.")

"""What callers hand the payment services, and how a request they cannot carry out is
refused."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from orders.exceptions import DomainError
from orders.numbers import DECIMAL_NUMBER
from payments.providers.base import CardDetails

CENT = Decimal("0.01")


class PaymentRefused(DomainError):
    code = "payment_refused"
    http_status = 422


class PaymentNotSecured(DomainError):
    """An order held for payment that nothing pays for yet: it cannot be released."""

    code = "payment_not_secured"
    http_status = 409


@dataclass(frozen=True)
class PaymentInput:
    """How the customer pays: "card" (with card details or a token, or `hosted`: on the card
    provider's own payment page, after placing the order) or "invoice" terms."""

    method: str
    card: CardDetails | None = None
    hosted: bool = False


def parse_amount(value: Decimal | str | int) -> Decimal:
    """An amount typed by Finance, in cents; PaymentRefused when it is not a number."""
    try:
        if isinstance(value, str) and not DECIMAL_NUMBER.fullmatch(value):
            raise ValueError("not in the digits 0-9")  # Decimal() reads any script's digits
        amount = Decimal(str(value).strip())
        if not amount.is_finite():
            raise ValueError("not a finite amount")
        return amount.quantize(CENT, rounding=ROUND_HALF_UP)
    except Exception as exc:
        raise PaymentRefused(
            "Enter an amount such as 12.50.", fields={"amount": ["Invalid."]}
        ) from exc

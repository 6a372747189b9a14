"""Invoice terms: no card, no network. The customer pays by transfer before the due date;
Finance records what arrives."""

from decimal import Decimal

from payments.providers.base import (
    CardDetails,
    InvalidPaymentDetails,
    PreparedCard,
    ProviderResult,
    WebhookEvent,
    WebhookRejected,
)


class InvoiceTerms:
    name = "invoice"

    def prepare_card(self, details: CardDetails) -> PreparedCard:
        raise InvalidPaymentDetails("Invoice terms take no card.")

    def authorize(self, **kwargs: object) -> ProviderResult:
        return ProviderResult(success=True)

    def capture(self, **kwargs: object) -> ProviderResult:
        return ProviderResult(success=True)

    def void(self, **kwargs: object) -> ProviderResult:
        return ProviderResult(success=True)

    def refund(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> ProviderResult:
        # Money goes back by bank transfer, which Finance makes; the record is what matters.
        return ProviderResult(success=True, reference=f"credit-note-{idempotency_key}")

    def parse_webhook(self, *, payload: bytes, headers: dict[str, str]) -> WebhookEvent:
        raise WebhookRejected("Invoice terms send no webhooks.")

"""Cards: checking the details, and authorising the amount on the card."""

from orders import events
from orders.models import EventType, HoldReason, Order, OrderStatus
from orders.services import order_release
from payments.models import (
    PAID_OR_PROMISED,
    OperationKind,
    Payment,
    PaymentMethod,
    PaymentOperation,
    PaymentStatus,
)
from payments.providers import card_provider_name, get_provider
from payments.providers.base import CardDetails, PaymentProvider, ProviderResult
from payments.services.capture_void import void_queue
from payments.services.declines import payment_record_decline
from payments.services.inputs import PaymentInput
from payments.services.operations import provider_operation

P = PaymentStatus
AUTHORIZE_TRIES = 3  # a retryable decline (processing error) is tried this often at once


def payment_validate(payment: PaymentInput | None) -> None:
    """Check card details before anything is written (forms and API call this first)."""
    if payment is not None and payment.method == PaymentMethod.CARD and payment.card:
        get_provider(card_provider_name()).prepare_card(payment.card)


def card_payment_create(order: Order, card: CardDetails) -> Payment:
    """A pending card payment for the order's total; the card becomes a provider token."""
    provider_name = card_provider_name()
    prepared = get_provider(provider_name).prepare_card(card)
    return Payment.objects.create(
        order=order,
        method=PaymentMethod.CARD,
        provider=provider_name,
        amount=order.grand_total,
        currency=order.currency,
        payment_token=prepared.token,
        card_brand=prepared.brand,
        card_last4=prepared.last4,
    )


def card_label(payment: Payment) -> str:
    """How the timeline names the card: "visa ending 4242"."""
    if payment.card_last4:
        return f"{payment.card_brand or 'card'} ending {payment.card_last4}"
    return "the card"


def payment_authorize(*, payment_id: int) -> Payment:
    """Authorise a pending card payment. An order held only for payment then goes on."""
    outcome = provider_operation(
        payment_id=payment_id,
        kind=OperationKind.AUTHORIZE,
        send=_send_authorisation,
        record=_record_authorisation,
        tries=AUTHORIZE_TRIES,
    )
    if outcome is None:
        return Payment.objects.get(pk=payment_id)
    payment, release = outcome
    if release:
        release_payment_hold(payment.order_id)
    return payment


def _send_authorisation(
    provider: PaymentProvider, payment: Payment, operation: PaymentOperation
) -> ProviderResult:
    return provider.authorize(
        token=payment.payment_token,
        amount=operation.amount,
        currency=payment.currency,
        idempotency_key=operation.idempotency_key,
        metadata={"order": payment.order.number or payment.order_id},
    )


def _record_authorisation(payment: Payment, result: ProviderResult) -> tuple[Payment, bool]:
    """The payment, and whether its order now waits only for the release of its hold."""
    order = payment.order
    if payment.status != P.PENDING:
        if result.success and payment.provider_reference == result.reference:
            # This very authorisation, recorded already: a retry after a commit whose answer
            # was lost, or a second run of the same operation (the same idempotency key gets
            # the same answer from the provider). Nothing more to do.
            return payment, False
        if result.success:
            # Cancelled while the provider was deciding: give the hold on the card back.
            void_queue(payment, reference=result.reference)
        return payment, False
    if not result.success:
        payment_record_decline(
            payment,
            code=result.code,
            message=result.message,
            actor="payments",
            timeline=f"{card_label(payment)} declined: {result.message} ({result.code}).",
            data={"payment": payment.pk, "code": result.code},
            customer_visible=True,
        )
        return payment, False
    payment.authorize()
    payment.provider_reference = result.reference
    payment.save(update_fields=["status", "provider_reference", "updated_at"])
    already_paid = (
        order.payments.exclude(pk=payment.pk).filter(status__in=PAID_OR_PROMISED).exists()
    )
    if already_paid:
        # A retried authorisation came back after the customer paid another way: give the
        # hold on this card back.
        void_queue(payment)
        return payment, False
    events.record(
        order,
        EventType.PAYMENT_AUTHORIZED,
        actor="payments",
        message=f"{payment.amount} {payment.currency} authorised on {card_label(payment)}.",
        data={"payment": payment.pk, "reference": result.reference},
    )
    return payment, order.status == OrderStatus.ON_HOLD


def release_payment_hold(order_id: int) -> None:
    """An order held only for payment goes on once a payment is authorised."""
    order = Order.objects.prefetch_related("holds").get(pk=order_id)
    reasons = set(order.active_hold_reasons())
    if order.status == OrderStatus.ON_HOLD and reasons <= {HoldReason.PAYMENT_FAILED}:
        order_release(order_id=order_id, actor="payments", note="Payment authorised.")

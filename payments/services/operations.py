"""Payment services: authorise, capture, void, refund, invoice terms and pay-again.

Every provider call follows the same pattern, so nothing is half-done and silent:
1. in a transaction, lock the payment, check its state, and write (or find) the operation
   row with its fixed idempotency key; commit;
2. call the provider outside any transaction (no row is locked while the network is slow);
3. in a new transaction, lock the payment again and record the result with its transition.
A transport failure leaves the operation pending; `reconcile_payments` repeats it later with
the same key, so the provider sees one request however often it is sent.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from orders import events
from orders.exceptions import DomainError
from orders.models import EventType, HoldReason, Order, OrderStatus
from orders.notifications import queue_notification, queue_order_notification
from orders.services import order_release, order_secure_payment
from payments.invoices import next_invoice_number
from payments.models import (
    CreditAccount,
    Invoice,
    InvoicePayment,
    OperationKind,
    OperationStatus,
    Payment,
    PaymentMethod,
    PaymentOperation,
    PaymentStatus,
    Provider,
    Refund,
    RefundStatus,
)
from payments.providers import card_provider_name, get_provider
from payments.providers.base import (
    CardDetails,
    InvalidPaymentDetails,
    ProviderResult,
    ProviderUnavailable,
)

logger = logging.getLogger(__name__)

P = PaymentStatus
CENT = Decimal("0.01")
AUTHORIZE_TRIES = 3  # a retryable decline (processing error) is tried this often at once
PAY_LINK_SALT = "payments.pay-again"


class PaymentRefused(DomainError):
    code = "payment_refused"
    http_status = 422


@dataclass(frozen=True)
class PaymentInput:
    """How the customer pays: "card" (with card details or a token) or "invoice" terms."""

    method: str
    card: CardDetails | None = None


def _user(actor: Any) -> AbstractBaseUser | None:
    return actor if isinstance(actor, AbstractBaseUser) else None


def _after_commit(func: Any, **kwargs: Any) -> None:
    # robust: a failing provider call must not break the request that committed; the
    # operation row it left pending is picked up by the reconcile task.
    transaction.on_commit(partial(func, **kwargs), robust=True)


def _money(value: Decimal | str | int) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
        if not amount.is_finite():
            raise ValueError("not a finite amount")
        return amount.quantize(CENT, rounding=ROUND_HALF_UP)
    except Exception as exc:
        raise PaymentRefused(
            "Enter an amount such as 12.50.", fields={"amount": ["Invalid."]}
        ) from exc


# --- credit terms -------------------------------------------------------------------------


def credit_account_for(order: Order) -> CreditAccount | None:
    """The account on invoice terms: the order's bill-to (a partner) or else its customer."""
    payer_id = order.bill_to_id or order.customer_id
    if payer_id is None:
        return None
    return CreditAccount.objects.filter(customer_id=payer_id, is_active=True).first()


def credit_exposure(customer_id: int, *, excluding_order_id: int | None = None) -> Decimal:
    """What the customer owes on invoice terms: open invoices plus invoice orders not yet
    invoiced."""
    billed = Q(order__bill_to_id=customer_id)
    own = Q(order__bill_to__isnull=True, order__customer_id=customer_id)
    payments = Payment.objects.filter(
        billed | own,
        method=PaymentMethod.INVOICE,
        status__in=[P.PENDING, P.INVOICED, P.OVERDUE],
    ).exclude(order__status=OrderStatus.CANCELLED)
    if excluding_order_id:
        payments = payments.exclude(order_id=excluding_order_id)
    totals = payments.aggregate(amount=Sum("amount"), paid=Sum("amount_captured"))
    return (totals["amount"] or Decimal("0")) - (totals["paid"] or Decimal("0"))


# --- placing: the hook ----------------------------------------------------------------------


def payment_prepare_for_order(*, order: Order, payment: PaymentInput | None, actor: Any) -> None:
    """ORDER_LIFECYCLE_HOOKS["placing"]: record how the order will be paid, inside the
    placement's transaction. A card is authorised right after the commit (before review)."""
    if order.grand_total == 0:
        return
    if payment is None:
        if credit_account_for(order) is None:
            # Nothing to charge yet (a phone order, say): ask the customer to pay by link.
            queue_order_notification(order, "payment_requested", pay_url=pay_link_url(order))
            return
        payment = PaymentInput(method=PaymentMethod.INVOICE)
    if payment.method == PaymentMethod.INVOICE:
        if credit_account_for(order) is None:
            raise InvalidPaymentDetails(
                "Invoice terms are not set up for this customer.",
                fields={"payment": ["Pay by card, or ask us to open an account."]},
            )
        Payment.objects.create(
            order=order,
            method=PaymentMethod.INVOICE,
            provider=Provider.INVOICE,
            amount=order.grand_total,
            currency=order.currency,
        )
        return
    if payment.method != PaymentMethod.CARD or payment.card is None:
        raise InvalidPaymentDetails(
            "Choose a payment method: card or invoice.",
            fields={"payment": ["Unknown payment method."]},
        )
    created = _card_payment(order, payment.card)
    _after_commit(payment_authorize, payment_id=created.pk)


def payment_validate(payment: PaymentInput | None) -> None:
    """Check card details before anything is written (forms and API call this first)."""
    if payment is not None and payment.method == PaymentMethod.CARD and payment.card:
        get_provider(card_provider_name()).prepare_card(payment.card)


def _card_payment(order: Order, card: CardDetails) -> Payment:
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


# --- operations -----------------------------------------------------------------------------


def _begin_operation(
    payment_id: int,
    *,
    kind: str,
    key: str,
    allowed: list[str],
    amount: Decimal | None = None,
    refund: Refund | None = None,
) -> PaymentOperation | None:
    """Step 1: under the payment's lock, find or write the operation. None when there is
    nothing to do (the payment moved on, or the operation already succeeded)."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update(no_key=True).get(pk=payment_id)
        operation, _ = PaymentOperation.objects.get_or_create(
            idempotency_key=key,
            defaults={
                "payment": payment,
                "kind": kind,
                "amount": payment.amount if amount is None else amount,
                "refund": refund,
            },
        )
        if operation.status != OperationStatus.PENDING:
            return None
        if payment.status not in allowed:
            # The payment moved on (cancelled, captured meanwhile...): this call is no longer
            # wanted. Close it, so the reconcile task stops picking it up.
            operation.status = OperationStatus.FAILED
            operation.error_code = "skipped"
            operation.error_message = f"Not sent: the payment is {payment.status}."
            operation.completed_at = timezone.now()
            operation.save(update_fields=["status", "error_code", "error_message", "completed_at"])
            return None
        operation.attempts += 1
        operation.next_attempt_at = timezone.now() + _retry_delay(operation.attempts)
        operation.save(update_fields=["attempts", "next_attempt_at"])
        operation.payment = payment
        return operation


def _retry_delay(attempts: int) -> timedelta:
    return settings.PAYMENT_RECONCILE_AFTER * min(2 ** max(attempts - 1, 0), 48)


def _call_provider(operation: PaymentOperation, call: Any) -> ProviderResult | None:
    """Step 2. None when the provider did not answer: the operation stays pending."""
    try:
        return call()
    except ProviderUnavailable as exc:
        PaymentOperation.objects.filter(pk=operation.pk).update(
            error_code="unavailable", error_message=str(exc)[:255]
        )
        logger.warning(
            "payment provider unavailable; will retry",
            extra={
                "payment": operation.payment_id,
                "operation": operation.kind,
                "attempt": operation.attempts,
            },
        )
        if operation.attempts >= settings.PAYMENT_MAX_ATTEMPTS:
            _give_up(operation)
        return None


def _give_up(operation: PaymentOperation) -> None:
    with transaction.atomic():
        PaymentOperation.objects.filter(pk=operation.pk).update(
            status=OperationStatus.FAILED, completed_at=timezone.now()
        )
        payment = Payment.objects.select_related("order").get(pk=operation.payment_id)
        events.record(
            payment.order,
            EventType.PAYMENT_FAILED,
            actor="payments",
            message=f"{operation.get_kind_display()} gave up after {operation.attempts} "
            "attempts: the provider did not answer. Finance must check it with the provider.",
            data={"payment": payment.pk, "operation": operation.pk},
        )


def _finish(operation: PaymentOperation, result: ProviderResult) -> None:
    operation.status = OperationStatus.SUCCEEDED if result.success else OperationStatus.FAILED
    operation.provider_reference = result.reference or operation.provider_reference
    operation.error_code = result.code
    operation.error_message = result.message[:255]
    operation.completed_at = timezone.now()
    operation.save(
        update_fields=[
            "status",
            "provider_reference",
            "error_code",
            "error_message",
            "completed_at",
        ]
    )


def operation_execute(*, operation_id: int) -> None:
    """Run (or repeat) one pending operation: the reconcile task's entry point."""
    operation = PaymentOperation.objects.filter(pk=operation_id).first()
    if operation is None or operation.status != OperationStatus.PENDING:
        return
    if operation.kind == OperationKind.AUTHORIZE:
        payment_authorize(payment_id=operation.payment_id)
    elif operation.kind == OperationKind.CAPTURE:
        payment_capture(payment_id=operation.payment_id, actor="payments")
    elif operation.kind == OperationKind.VOID:
        payment_void(payment_id=operation.payment_id, actor="payments")
    elif operation.kind == OperationKind.REFUND and operation.refund_id:
        refund_execute(refund_id=operation.refund_id)


# --- authorise ------------------------------------------------------------------------------


def payment_authorize(*, payment_id: int) -> Payment:
    operation = _begin_operation(
        payment_id,
        kind=OperationKind.AUTHORIZE,
        key=f"payment-{payment_id}-authorize",
        allowed=[P.PENDING],
    )
    if operation is None:
        return Payment.objects.get(pk=payment_id)
    payment = operation.payment
    provider = get_provider(payment.provider)
    result = None
    for _try in range(AUTHORIZE_TRIES):
        result = _call_provider(
            operation,
            lambda: provider.authorize(
                token=payment.payment_token,
                amount=payment.amount,
                currency=payment.currency,
                idempotency_key=operation.idempotency_key,
                metadata={"order": payment.order.number or payment.order_id},
            ),
        )
        if result is None:
            return payment
        if result.success or not result.retryable:
            break
    return _finish_authorize(operation, result)


def _finish_authorize(operation: PaymentOperation, result: ProviderResult) -> Payment:
    release = False
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update(of=("self",), no_key=True)
            .select_related("order")
            .get(pk=operation.payment_id)
        )
        _finish(operation, result)
        order = payment.order
        if payment.status != P.PENDING:
            if result.success:
                # Cancelled while the provider was deciding: give the hold on the card back.
                _queue_void(payment, reference=result.reference)
            return payment
        if result.success:
            payment.authorize()
            payment.provider_reference = result.reference
            payment.save(update_fields=["status", "provider_reference", "updated_at"])
            already_paid = (
                order.payments.exclude(pk=payment.pk)
                .filter(status__in=[P.AUTHORIZED, P.CAPTURED, P.INVOICED, P.PAID])
                .exists()
            )
            if already_paid:
                # A retried authorisation came back after the customer paid another way:
                # give the hold on this card back.
                _queue_void(payment)
                return payment
            events.record(
                order,
                EventType.PAYMENT_AUTHORIZED,
                actor="payments",
                message=f"{payment.amount} {payment.currency} authorised on {_card(payment)}.",
                data={"payment": payment.pk, "reference": result.reference},
            )
            release = order.status == OrderStatus.ON_HOLD
        else:
            payment.fail()
            payment.failure_code = result.code
            payment.failure_message = result.message[:255]
            payment.save(update_fields=["status", "failure_code", "failure_message", "updated_at"])
            events.record(
                order,
                EventType.PAYMENT_FAILED,
                actor="payments",
                message=f"{_card(payment)} declined: {result.message} ({result.code}).",
                data={"payment": payment.pk, "code": result.code},
                customer_visible=True,
            )
            queue_order_notification(
                order,
                "payment_failed",
                reference=str(payment.pk),
                pay_url=pay_link_url(order),
                reason=result.message,
            )
    if release:
        _release_payment_hold(payment.order_id)
    return payment


def _card(payment: Payment) -> str:
    if payment.card_last4:
        return f"{payment.card_brand or 'card'} ending {payment.card_last4}"
    return "the card"


def _release_payment_hold(order_id: int) -> None:
    """An order held only for payment goes on once a payment is authorised."""
    order = Order.objects.prefetch_related("holds").get(pk=order_id)
    reasons = set(order.active_hold_reasons())
    if order.status == OrderStatus.ON_HOLD and reasons <= {HoldReason.PAYMENT_FAILED}:
        order_release(order_id=order_id, actor="payments", note="Payment authorised.")


# --- capture, void --------------------------------------------------------------------------


def payment_capture(*, payment_id: int, actor: Any) -> Payment:
    """Take the authorised money. Safe to repeat: a captured payment is left alone, and the
    provider sees one request per payment (the key is fixed)."""
    operation = _begin_operation(
        payment_id,
        kind=OperationKind.CAPTURE,
        key=f"payment-{payment_id}-capture",
        allowed=[P.AUTHORIZED],
    )
    if operation is None:
        return Payment.objects.get(pk=payment_id)
    payment = operation.payment
    result = _call_provider(
        operation,
        lambda: get_provider(payment.provider).capture(
            reference=payment.provider_reference,
            amount=payment.amount,
            currency=payment.currency,
            idempotency_key=operation.idempotency_key,
        ),
    )
    if result is None:
        return payment
    hold_order = False
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update(of=("self",), no_key=True)
            .select_related("order")
            .get(pk=payment_id)
        )
        _finish(operation, result)
        if payment.status != P.AUTHORIZED:
            return payment
        if result.success:
            payment.capture()
            payment.amount_captured = payment.amount
            payment.save(update_fields=["status", "amount_captured", "updated_at"])
            if payment.order.status == OrderStatus.CANCELLED:
                # Cancelled while the capture was under way: the money goes straight back.
                events.record(
                    payment.order,
                    EventType.PAYMENT_CAPTURED,
                    actor=actor,
                    message=f"{payment.amount} {payment.currency} captured after the order was "
                    "cancelled; refunding it.",
                    data={"payment": payment.pk},
                )
                refund_create(
                    payment_id=payment.pk,
                    amount=payment.amount,
                    reason="Order cancelled",
                    actor="payments",
                    idempotency_key=f"cancel-{payment.order_id}-payment-{payment.pk}",
                )
                return payment
            events.publish(
                payment.order,
                "payment.captured",
                {"amount": str(payment.amount), "currency": payment.currency},
            )
            events.record(
                payment.order,
                EventType.PAYMENT_CAPTURED,
                actor=actor,
                message=f"{payment.amount} {payment.currency} captured.",
                data={"payment": payment.pk},
                customer_visible=True,
            )
            queue_order_notification(payment.order, "payment_receipt", reference=str(payment.pk))
        else:
            # The authorisation lapsed or was refused at capture: ask the customer again.
            payment.fail()
            payment.failure_code, payment.failure_message = result.code, result.message[:255]
            payment.save(update_fields=["status", "failure_code", "failure_message", "updated_at"])
            events.record(
                payment.order,
                EventType.PAYMENT_FAILED,
                actor=actor,
                message=f"Capture refused: {result.message} ({result.code}).",
                data={"payment": payment.pk},
            )
            queue_order_notification(
                payment.order,
                "payment_failed",
                reference=str(payment.pk),
                pay_url=pay_link_url(payment.order),
                reason=result.message,
            )
            hold_order = payment.order.status == OrderStatus.CONFIRMED
    if hold_order:
        from orders.services import order_hold

        order_hold(
            order_id=payment.order_id,
            actor="payments",
            reason=HoldReason.PAYMENT_FAILED,
            note="The payment could not be captured; the customer was sent a link to pay again.",
        )
    return payment


def _queue_void(payment: Payment, *, reference: str = "") -> None:
    if reference and not payment.provider_reference:
        Payment.objects.filter(pk=payment.pk).update(provider_reference=reference)
    PaymentOperation.objects.get_or_create(
        idempotency_key=f"payment-{payment.pk}-void",
        defaults={"payment": payment, "kind": OperationKind.VOID, "amount": payment.amount},
    )
    _after_commit(operation_execute_by_key, key=f"payment-{payment.pk}-void")


def operation_execute_by_key(*, key: str) -> None:
    operation = PaymentOperation.objects.filter(idempotency_key=key).first()
    if operation is not None:
        operation_execute(operation_id=operation.pk)


def payment_void(*, payment_id: int, actor: Any) -> Payment:
    """Give back an authorisation that will not be captured."""
    operation = _begin_operation(
        payment_id,
        kind=OperationKind.VOID,
        key=f"payment-{payment_id}-void",
        allowed=[P.AUTHORIZED, P.VOIDED],
    )
    if operation is None:
        return Payment.objects.get(pk=payment_id)
    payment = operation.payment
    result = _call_provider(
        operation,
        lambda: get_provider(payment.provider).void(
            reference=payment.provider_reference, idempotency_key=operation.idempotency_key
        ),
    )
    if result is None:
        return payment
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update(of=("self",), no_key=True)
            .select_related("order")
            .get(pk=payment_id)
        )
        _finish(operation, result)
        if result.success and payment.status == P.AUTHORIZED:
            payment.void()
            payment.save(update_fields=["status", "updated_at"])
        if result.success:
            events.record(
                payment.order,
                EventType.PAYMENT_VOIDED,
                actor=actor,
                message=f"Authorisation of {payment.amount} {payment.currency} voided.",
                data={"payment": payment.pk},
                customer_visible=True,
            )
    return payment


# --- refunds --------------------------------------------------------------------------------


def refund_create(
    *,
    payment_id: int,
    amount: Decimal | str,
    reason: str,
    actor: Any,
    idempotency_key: str,
    lines: list[dict] | None = None,
) -> Refund:
    """Refund part or all of a captured payment. Never more than captured minus refunded
    (checked under the payment's lock, and by a database constraint). The same key twice
    (a double click, a retried request) returns the first refund."""
    amount = _money(amount)
    reason = reason.strip()
    errors: dict[str, list[str]] = {}
    if amount <= 0:
        errors["amount"] = ["The amount must be more than 0."]
    if not reason:
        errors["reason"] = ["Say why (the customer sees it)."]
    if not idempotency_key:
        errors["idempotency_key"] = ["Missing."]
    if errors:
        raise PaymentRefused("The refund is not valid.", fields=errors)
    with transaction.atomic():
        existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if existing.payment_id != payment_id:
                raise PaymentRefused(
                    "This request key was used for another refund; reload the page.",
                    fields={"idempotency_key": ["Already used."]},
                )
            return existing
        payment = Payment.objects.select_for_update(no_key=True).get(pk=payment_id)
        if payment.status not in (P.CAPTURED, P.PARTIALLY_REFUNDED):
            raise PaymentRefused(
                f"Only captured card payments can be refunded; this one is "
                f"{payment.get_status_display().lower()}.",
                fields={"amount": ["Nothing to refund."]},
            )
        pending = payment.refunds.filter(status=RefundStatus.PENDING).aggregate(s=Sum("amount"))
        available = payment.refundable - (pending["s"] or Decimal("0"))
        if amount > available:
            raise PaymentRefused(
                f"At most {available} {payment.currency} can be refunded.",
                fields={"amount": [f"At most {available}."]},
            )
        refund = Refund.objects.create(
            payment=payment,
            amount=amount,
            reason=reason[:255],
            lines=lines or [],
            idempotency_key=idempotency_key,
            created_by=_user(actor),
        )
        PaymentOperation.objects.create(
            payment=payment,
            kind=OperationKind.REFUND,
            amount=amount,
            refund=refund,
            idempotency_key=f"refund-{refund.pk}",
        )
        _after_commit(refund_execute, refund_id=refund.pk)
    return refund


def refund_execute(*, refund_id: int) -> Refund:
    refund = Refund.objects.select_related("operation").get(pk=refund_id)
    operation = _begin_operation(
        refund.payment_id,
        kind=OperationKind.REFUND,
        key=refund.operation.idempotency_key,
        allowed=[P.CAPTURED, P.PARTIALLY_REFUNDED],
        amount=refund.amount,
        refund=refund,
    )
    if operation is None:
        return refund
    payment = operation.payment
    result = _call_provider(
        operation,
        lambda: get_provider(payment.provider).refund(
            reference=payment.provider_reference,
            amount=refund.amount,
            currency=payment.currency,
            idempotency_key=operation.idempotency_key,
        ),
    )
    if result is None:
        return refund
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update(of=("self",), no_key=True)
            .select_related("order")
            .get(pk=payment.pk)
        )
        refund = Refund.objects.select_for_update(no_key=True).get(pk=refund_id)
        _finish(operation, result)
        if refund.status != RefundStatus.PENDING:
            return refund
        refund.completed_at = timezone.now()
        refund.provider_reference = result.reference
        if not result.success:
            refund.status = RefundStatus.FAILED
            refund.save(update_fields=["status", "completed_at", "provider_reference"])
            events.record(
                payment.order,
                EventType.REFUND_FAILED,
                actor="payments",
                message=f"Refund of {refund.amount} refused: {result.message} ({result.code}).",
                data={"refund": refund.pk},
            )
            return refund
        refund.status = RefundStatus.SUCCEEDED
        refund.save(update_fields=["status", "completed_at", "provider_reference"])
        _apply_refund(payment, refund.amount)
        events.publish(
            payment.order,
            "payment.refunded",
            {"amount": str(refund.amount), "currency": payment.currency, "reason": refund.reason},
        )
        events.record(
            payment.order,
            EventType.REFUND_ISSUED,
            actor=refund.created_by or "payments",
            message=f"{refund.amount} {payment.currency} refunded: {refund.reason}",
            data={"refund": refund.pk, "payment": payment.pk},
            customer_visible=True,
        )
        queue_order_notification(
            payment.order,
            "refund_issued",
            reference=str(refund.pk),
            amount=str(refund.amount),
            reason=refund.reason,
        )
    return refund


def _apply_refund(payment: Payment, amount: Decimal) -> None:
    Payment.objects.filter(pk=payment.pk).update(amount_refunded=F("amount_refunded") + amount)
    payment.amount_refunded += amount
    if payment.amount_refunded >= payment.amount_captured:
        payment.refund_all()
    else:
        payment.refund_part()
    payment.save(update_fields=["status", "updated_at"])


# --- the order's lifecycle: confirmed, cancelled -------------------------------------------


def payment_on_order_confirmed(*, order: Order, actor: Any) -> None:
    """ORDER_LIFECYCLE_HOOKS["confirmed"]: secure the payment after the commit."""
    from payments.tasks import secure_order_payment

    def enqueue() -> None:
        try:
            secure_order_payment.delay(order.pk)
        except Exception:
            logger.warning(
                "payment securing not enqueued; reconcile will do it",
                extra={"order": order.number},
                exc_info=True,
            )

    transaction.on_commit(enqueue, robust=True)


def payment_secure_order(*, order_id: int) -> Order:
    """Capture the card, or issue the invoice, then release the order to the warehouse."""
    order = Order.objects.get(pk=order_id)
    if order.status != OrderStatus.CONFIRMED:
        return order
    if order.grand_total == 0:
        return order_secure_payment(order_id=order.pk, actor="payments", message="Nothing to pay.")
    payment = (
        order.payments.filter(
            status__in=[P.AUTHORIZED, P.CAPTURED, P.INVOICED, P.PAID, P.OVERDUE, P.PENDING]
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    if payment is None:
        return order
    if payment.method == PaymentMethod.INVOICE and payment.status == P.PENDING:
        payment = invoice_issue(payment_id=payment.pk)
    elif payment.status == P.AUTHORIZED:
        payment = payment_capture(payment_id=payment.pk, actor="payments")
    if payment.status in (P.CAPTURED, P.INVOICED, P.PAID, P.OVERDUE):
        how = "invoice terms" if payment.method == PaymentMethod.INVOICE else "card captured"
        return order_secure_payment(
            order_id=order.pk, actor="payments", message=f"Payment secured ({how})."
        )
    return Order.objects.get(pk=order_id)


def payment_on_order_cancelled(*, order: Order, actor: Any) -> None:
    """ORDER_LIFECYCLE_HOOKS["cancelled"]: void what is authorised, refund what is captured,
    cancel the invoice. Written in the cancellation's transaction, carried out after it."""
    for payment in order.payments.select_for_update(no_key=True).order_by("pk"):
        if payment.status == P.PENDING:
            payment.void()
            payment.save(update_fields=["status", "updated_at"])
        elif payment.status == P.AUTHORIZED:
            _queue_void(payment)
        elif payment.status in (P.CAPTURED, P.PARTIALLY_REFUNDED):
            pending = payment.refunds.filter(status=RefundStatus.PENDING).aggregate(
                s=Sum("amount")
            )["s"] or Decimal("0")
            remaining = payment.refundable - pending
            if remaining > 0:
                refund_create(
                    payment_id=payment.pk,
                    amount=remaining,
                    reason="Order cancelled",
                    actor=actor,
                    idempotency_key=f"cancel-{order.pk}-payment-{payment.pk}",
                )
        elif payment.status == P.PAID:
            events.record(
                order,
                EventType.PAYMENT_VOIDED,
                actor=actor,
                message=f"The invoice was paid in full ({payment.amount_captured} "
                f"{payment.currency}): Finance must pay it back by transfer.",
                data={"payment": payment.pk, "refund_due": str(payment.amount_captured)},
            )
        elif payment.status in (P.INVOICED, P.OVERDUE):
            invoice = Invoice.objects.filter(payment=payment).first()
            payment.cancel_invoice()
            payment.save(update_fields=["status", "updated_at"])
            message = f"Invoice {invoice.number if invoice else ''} cancelled."
            if payment.amount_captured:
                message += (
                    f" {payment.amount_captured} {payment.currency} already received must be "
                    "paid back by transfer."
                )
            events.record(order, EventType.PAYMENT_VOIDED, actor=actor, message=message)


# --- invoices -------------------------------------------------------------------------------


def invoice_issue(*, payment_id: int) -> Payment:
    """Issue the invoice for an order on terms: number, due date, PDF by email."""
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update(of=("self",), no_key=True)
            .select_related("order")
            .get(pk=payment_id)
        )
        if payment.status != P.PENDING or payment.method != PaymentMethod.INVOICE:
            return payment
        order = payment.order
        account = credit_account_for(order)
        terms = account.terms_days if account else 30
        today = timezone.localdate()
        invoice = Invoice.objects.create(
            payment=payment,
            number=next_invoice_number(today.year),
            due_date=today + timedelta(days=terms),
            amount=payment.amount,
            currency=payment.currency,
        )
        payment.invoice()
        payment.provider_reference = invoice.number
        payment.save(update_fields=["status", "provider_reference", "updated_at"])
        events.record(
            order,
            EventType.INVOICE_ISSUED,
            actor="payments",
            message=f"Invoice {invoice.number} issued: {invoice.amount} {invoice.currency}, "
            f"due {invoice.due_date:%d %b %Y} (net {terms}).",
            data={"invoice": invoice.pk},
            customer_visible=True,
        )
        _queue_invoice_mail(order, "invoice_issued", invoice)
    return payment


def _queue_invoice_mail(order: Order, kind: str, invoice: Invoice) -> None:
    """Invoices go to whoever pays: the bill-to account (a partner) or the customer."""
    context = {
        "invoice_id": invoice.pk,
        "attachments": [
            {"builder": "payments.invoices.invoice_attachment", "invoice_id": invoice.pk}
        ],
    }
    if order.bill_to_id:
        queue_notification(
            order=order,
            kind=kind,
            recipient=order.bill_to.email,
            reference=invoice.number,
            context=context,
        )
    else:
        queue_order_notification(order, kind, reference=invoice.number, **context)


def invoice_record_payment(
    *,
    invoice_id: int,
    amount: Decimal | str,
    actor: Any,
    reference: str = "",
    received_on: Any = None,
) -> Invoice:
    """Finance records money received against an invoice, in full or in part."""
    amount = _money(amount)
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update(no_key=True).get(pk=invoice_id)
        payment = (
            Payment.objects.select_for_update(of=("self",), no_key=True)
            .select_related("order")
            .get(pk=invoice.payment_id)
        )
        if payment.status not in (P.INVOICED, P.OVERDUE):
            raise PaymentRefused(
                f"Invoice {invoice.number} is {payment.get_status_display().lower()}; "
                "nothing is owed on it.",
                fields={"amount": ["Nothing owed."]},
            )
        if amount <= 0 or amount > invoice.balance:
            raise PaymentRefused(
                f"Enter an amount between 0.01 and the balance, {invoice.balance}.",
                fields={"amount": [f"At most {invoice.balance}."]},
            )
        InvoicePayment.objects.create(
            invoice=invoice,
            amount=amount,
            reference=reference.strip()[:128],
            received_on=received_on or timezone.localdate(),
            recorded_by=_user(actor),
        )
        invoice.paid_amount += amount
        invoice.save(update_fields=["paid_amount"])
        payment.amount_captured += amount
        fields = ["amount_captured", "updated_at"]
        if invoice.balance == 0:
            payment.mark_paid()
            fields.append("status")
        payment.save(update_fields=fields)
        events.record(
            payment.order,
            EventType.INVOICE_PAID,
            actor=actor,
            message=f"{amount} {invoice.currency} received for {invoice.number}"
            + (" (paid in full)." if invoice.balance == 0 else f"; {invoice.balance} still due."),
            data={"invoice": invoice.pk, "reference": reference},
        )
    return invoice


def invoice_flag_overdue(*, invoice_id: int) -> bool:
    """Mark one invoice overdue and send the customer one reminder."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update(no_key=True).get(pk=invoice_id)
        payment = (
            Payment.objects.select_for_update(of=("self",), no_key=True)
            .select_related("order")
            .get(pk=invoice.payment_id)
        )
        if payment.status != P.INVOICED or invoice.due_date >= timezone.localdate():
            return False
        payment.mark_overdue()
        payment.save(update_fields=["status", "updated_at"])
        invoice.reminder_sent_at = timezone.now()
        invoice.save(update_fields=["reminder_sent_at"])
        events.record(
            payment.order,
            EventType.INVOICE_OVERDUE,
            actor="payments",
            message=f"Invoice {invoice.number} is overdue ({invoice.balance} "
            f"{invoice.currency} due {invoice.due_date:%d %b %Y}); reminder sent.",
            data={"invoice": invoice.pk},
        )
        _queue_invoice_mail(payment.order, "invoice_reminder", invoice)
    return True


# --- pay again ------------------------------------------------------------------------------


def pay_link_token(order: Order) -> str:
    return signing.dumps({"order": order.pk, "token": order.public_token}, salt=PAY_LINK_SALT)


def pay_link_url(order: Order) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/orders/pay/{pay_link_token(order)}/"


def order_for_pay_link(token: str) -> Order:
    """The order a pay link belongs to; PaymentRefused when it is tampered with or expired."""
    try:
        data = signing.loads(
            token, salt=PAY_LINK_SALT, max_age=timedelta(days=settings.PAY_LINK_MAX_AGE_DAYS)
        )
    except signing.SignatureExpired as exc:
        raise PaymentRefused("This payment link has expired; contact us for a new one.") from exc
    except signing.BadSignature as exc:
        raise PaymentRefused("This payment link is not valid.") from exc
    order = Order.objects.filter(pk=data.get("order"), public_token=data.get("token")).first()
    if order is None:
        raise PaymentRefused("This payment link is not valid.")
    return order


def order_needs_payment(order: Order) -> bool:
    if order.status not in (OrderStatus.ON_HOLD, OrderStatus.CONFIRMED, OrderStatus.RECEIVED):
        return False
    if order.grand_total == 0:
        return False
    return not order.payments.filter(
        status__in=[P.AUTHORIZED, P.CAPTURED, P.INVOICED, P.PAID, P.OVERDUE]
    ).exists()


def payment_pay_again(*, order_id: int, card: CardDetails, actor: Any) -> Payment:
    """A new card for an order whose payment failed (or was never made). Authorised at once;
    an order held only for payment then goes on by itself."""
    with transaction.atomic():
        order = Order.objects.select_for_update(of=("self",), no_key=True).get(pk=order_id)
        if not order_needs_payment(order):
            raise PaymentRefused(
                f"Order {order.number} needs no payment now.", fields={"card": ["Nothing to pay."]}
            )
        payment = _card_payment(order, card)
        events.record(
            order,
            EventType.NOTE,
            actor=actor,
            message=f"The customer paid again with {_card(payment)}.",
            data={"payment": payment.pk},
        )
    payment = payment_authorize(payment_id=payment.pk)
    if payment.status == P.AUTHORIZED:
        order = Order.objects.get(pk=order_id)
        if order.status == OrderStatus.CONFIRMED:
            payment_secure_order(order_id=order_id)
    return payment


# --- reconcile ------------------------------------------------------------------------------


def reconcile(*, limit: int = 200) -> dict[str, int]:
    """Repeat provider calls left pending, and secure confirmed orders whose task was lost."""
    now = timezone.now()
    due = list(
        PaymentOperation.objects.filter(status=OperationStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    for operation_id in due:
        try:
            operation_execute(operation_id=operation_id)
        except Exception:
            logger.exception("reconcile failed", extra={"operation": operation_id})
    stalled = list(
        Order.objects.filter(
            status=OrderStatus.CONFIRMED,
            confirmed_at__lte=now - settings.PAYMENT_RECONCILE_AFTER,
        ).values_list("pk", flat=True)[:limit]
    )
    for order_id in stalled:
        try:
            payment_secure_order(order_id=order_id)
        except Exception:
            logger.exception("securing payment failed", extra={"order_id": order_id})
    return {"operations": len(due), "orders": len(stalled)}

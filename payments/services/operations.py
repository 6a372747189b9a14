"""Calls to a payment provider: authorise, capture, void and refund all run through
`provider_operation`, so nothing is half-done and silent:

1. in a transaction, lock the payment, check its state, and write (or find) the operation
   row with its fixed idempotency key; commit;
2. call the provider outside any transaction (no row is locked while the network is slow);
3. in a new transaction, lock the order, then the payment again, and record the result
   with its transition.

A transport failure leaves the operation pending; `reconcile` repeats it later with the same
key, so the provider sees one request however often it is sent.
"""

import logging
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from functools import partial, update_wrapper
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from orders import events
from orders.models import EventType
from orders.outbox import _with_database_retries, backoff
from orders.services import lock_order
from payments.models import (
    OperationKind,
    OperationStatus,
    Payment,
    PaymentOperation,
    PaymentStatus,
    Refund,
)
from payments.providers import get_provider
from payments.providers.base import (
    PROVIDER_CONNECT_TIMEOUT_SECONDS,
    PaymentProvider,
    ProviderResult,
    ProviderUnavailable,
)

logger = logging.getLogger(__name__)

P = PaymentStatus
Recorded = TypeVar("Recorded")

# The payment states each call is still wanted in. A payment that has moved on (cancelled,
# captured meanwhile...) has its pending call closed instead of sent. A void is also sent
# for a payment voided here first (an order cancelled before its authorisation came back),
# and for one that failed here first (a payment page paid on after its payment failed).
# The error code of an operation closed because the provider never answered.
GAVE_UP = "gave_up"
# Tries of a step across a database blip: 0.4 and 0.8 s apart.
DATABASE_TRIES = 3

SENT_FROM: dict[str, tuple[str, ...]] = {
    OperationKind.AUTHORIZE: (P.PENDING,),
    OperationKind.CAPTURE: (P.AUTHORIZED,),
    OperationKind.VOID: (P.AUTHORIZED, P.VOIDED, P.FAILED),
    OperationKind.REFUND: (P.CAPTURED, P.PARTIALLY_REFUNDED),
}


def call_after_commit(func: Callable[..., Any], **kwargs: Any) -> None:
    """Run `func(**kwargs)` once the current transaction has committed."""
    # robust: a failing provider call must not break the request that committed; the
    # operation row it left pending is picked up by the reconcile task. Django logs a failing
    # robust callback by its __qualname__, which a bare partial lacks: the AttributeError
    # would escape after all, and answer 500 for an order that was placed.
    transaction.on_commit(update_wrapper(partial(func, **kwargs), func), robust=True)


def payment_operation_key(payment_id: int, kind: str) -> str:
    """The fixed idempotency key of a payment's authorisation, capture or void."""
    return f"payment-{payment_id}-{kind}"


def provider_operation(
    *,
    payment_id: int,
    kind: str,
    send: Callable[[PaymentProvider, Payment, PaymentOperation], ProviderResult],
    record: Callable[[Payment, ProviderResult], Recorded],
    key: str = "",
    amount: Decimal | None = None,
    refund: Refund | None = None,
    tries: int = 1,
) -> Recorded | None:
    """Begin the operation, call the provider, and record its answer.

    `send` makes the call to the payment's provider, for the payment as it was at step 1, with
    the operation's amount and idempotency key. `record` applies the answer to the payment,
    locked again (after its order) in the transaction that closes the operation.
    Returns what `record` returns, or None when nothing was recorded: the call was no longer
    wanted, it had already succeeded, or the provider did not answer (the operation stays
    pending for `reconcile`). A retryable decline is sent again at once, up to `tries` times.
    """
    # Steps 1 and 3 are tried again at once across a database blip (for about a second: this
    # may run in a web request, after its commit), so a blip does not leave the call to the
    # retry schedule, minutes away.
    begin = partial(
        _begin,
        payment_id,
        kind=kind,
        key=key or payment_operation_key(payment_id, kind),
        amount=amount,
        refund=refund,
    )
    operation = _with_database_retries(begin, tries=DATABASE_TRIES)
    if operation is None:
        return None
    result = None
    for _try in range(tries):
        result = _call_provider(operation, send)
        if result is None:
            return None
        if result.success or not result.retryable:
            break
    return _with_database_retries(partial(_record, operation, result, record), tries=DATABASE_TRIES)


def _record(
    operation: PaymentOperation,
    result: ProviderResult,
    record: Callable[[Payment, ProviderResult], Recorded],
) -> Recorded:
    """Step 3."""
    with transaction.atomic():
        # The order first, then the payment: the order services (cancel above all) lock in
        # that order, and `record` must see the order as it is now. Locked only by the
        # payment, a cancel committed while this waited would still read as confirmed, and a
        # capture would keep the money of a cancelled order.
        lock_order(operation.payment.order_id)
        payment = (
            Payment.objects.select_for_update(of=("self",), no_key=True)
            .select_related("order")
            .get(pk=operation.payment_id)
        )
        _finish(operation, result)
        return record(payment, result)


def _begin(
    payment_id: int,
    *,
    kind: str,
    key: str,
    amount: Decimal | None,
    refund: Refund | None,
) -> PaymentOperation | None:
    """Step 1: under the payment's lock, find or write the operation. None when there is
    nothing to do (the payment moved on, or the operation already succeeded)."""
    with transaction.atomic():
        # With its order: step 2 names the order to the provider, and must not need the
        # database (a connection lost there would leave the call to the retry schedule).
        payment = (
            Payment.objects.select_for_update(of=("self",), no_key=True)
            .select_related("order")
            .get(pk=payment_id)
        )
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
        if payment.status not in SENT_FROM[kind]:
            # No longer wanted: close it, so the reconcile task stops picking it up.
            operation.status = OperationStatus.FAILED
            operation.error_code = "skipped"
            operation.error_message = f"Not sent: the payment is {payment.status}."
            operation.completed_at = timezone.now()
            operation.save(update_fields=["status", "error_code", "error_message", "completed_at"])
            return None
        operation.attempts += 1
        # A lease for step 2: should this process die before step 3, the reconcile task
        # repeats the call (with the same key) once the lease is over. A provider that does
        # not answer puts it on the retry schedule instead (`_call_provider`).
        operation.next_attempt_at = timezone.now() + call_lease()
        operation.save(update_fields=["attempts", "next_attempt_at"])
        operation.payment = payment
        return operation


def call_lease() -> timedelta:
    """How long a begun call belongs to the process that began it: longer than a provider
    may take to connect and answer, so a slow call is not sent a second time while it is
    under way. Should that happen all the same (an answer held up longer than any timeout),
    the provider sees the same idempotency key: it answers as it did the first time, or
    that the first is still in progress (retried later), and never acts twice."""
    return timedelta(
        seconds=PROVIDER_CONNECT_TIMEOUT_SECONDS + settings.PAYMENT_PROVIDER_TIMEOUT_SECONDS + 10
    )


def _retry_delay(attempts: int) -> timedelta:
    first = settings.PAYMENT_RETRY_FIRST
    return backoff(attempts, first=first, cap=first * 48)


def _call_provider(
    operation: PaymentOperation,
    send: Callable[[PaymentProvider, Payment, PaymentOperation], ProviderResult],
) -> ProviderResult | None:
    """Step 2. None when the provider did not answer: the operation stays pending."""
    payment = operation.payment
    try:
        return send(get_provider(payment.provider), payment, operation)
    except ProviderUnavailable as exc:
        _retry_later(operation, "unavailable", exc)
        logger.warning(
            "payment provider unavailable; will retry",
            extra={
                "payment": operation.payment_id,
                "operation": operation.kind,
                "attempt": operation.attempts,
            },
        )
        return None
    except Exception as exc:
        # Not an answer we know (a revoked key, a bug): the same retry schedule and the same
        # limit as an unanswered call, never the lease's short wait again and again.
        _retry_later(operation, "error", exc)
        raise


def _retry_later(operation: PaymentOperation, code: str, exc: Exception) -> None:
    """Put a call that got no usable answer on the retry schedule; close it for Finance once
    it has been tried PAYMENT_MAX_ATTEMPTS times. Only while it is still pending: a repeat
    may have recorded an answer meanwhile."""
    PaymentOperation.objects.filter(pk=operation.pk, status=OperationStatus.PENDING).update(
        error_code=code,
        error_message=str(exc)[:255],
        next_attempt_at=timezone.now() + _retry_delay(operation.attempts),
    )
    if operation.attempts >= settings.PAYMENT_MAX_ATTEMPTS:
        _give_up(operation)


def _give_up(operation: PaymentOperation) -> None:
    """Close an operation the provider never answered. Nobody knows whether it happened: a
    refund it carried stays pending (its amount stays reserved, so it cannot be refunded
    twice, and its order stays open) until Finance checks with the provider and settles it
    (`refund_settle_by_hand`)."""
    with transaction.atomic():
        # The order, then the payment: the lock order of step 3.
        lock_order(operation.payment.order_id)
        payment = (
            Payment.objects.select_for_update(of=("self",), no_key=True)
            .select_related("order")
            .get(pk=operation.payment_id)
        )
        closed = PaymentOperation.objects.filter(
            pk=operation.pk, status=OperationStatus.PENDING
        ).update(status=OperationStatus.FAILED, error_code=GAVE_UP, completed_at=timezone.now())
        if not closed:
            return  # another run recorded an answer meanwhile
        data = {"payment": payment.pk, "operation": operation.pk}
        if operation.refund_id:
            message = (
                f"Refund of {operation.amount} {payment.currency}: the provider did not answer "
                f"after {operation.attempts} attempts, so it may or may not have been paid out. "
                "Finance must check with the provider, then settle it on the refunds page."
            )
            data["refund"] = operation.refund_id
        else:
            message = (
                f"{operation.get_kind_display()} gave up after {operation.attempts} attempts: "
                "the provider did not answer. Finance must check it with the provider."
            )
        events.record(
            payment.order, EventType.PAYMENT_FAILED, actor="payments", message=message, data=data
        )


def _finish(operation: PaymentOperation, result: ProviderResult) -> None:
    """Step 3, the operation's half: close it with the provider's answer."""
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

"""The safety net: provider calls left pending are sent again with their own key, card
authorisations that never started are started, confirmed orders whose securing task was
lost are secured, and the provider is asked about payment pages left open (a lost webhook)."""

import logging
from collections.abc import Callable

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from orders.models import Order, OrderStatus
from payments.models import (
    PAID_OR_PROMISED,
    OperationKind,
    OperationStatus,
    Payment,
    PaymentMethod,
    PaymentOperation,
    PaymentStatus,
)
from payments.services.authorisation import payment_authorize
from payments.services.capture_void import payment_capture, payment_void
from payments.services.hosted_checkout import checkout_reconcile, checkouts_to_check
from payments.services.order_lifecycle import payment_collect_for_order
from payments.services.refunds import refund_execute

logger = logging.getLogger(__name__)


def operation_execute(*, operation_id: int) -> None:
    """Run (or repeat) one pending operation through the service that owns its kind."""
    operation = PaymentOperation.objects.filter(pk=operation_id).first()
    if operation is None or operation.status != OperationStatus.PENDING:
        return
    if operation.kind == OperationKind.AUTHORIZE:
        payment_authorize(payment_id=operation.payment_id)
    elif operation.kind == OperationKind.CAPTURE:
        payment = payment_capture(payment_id=operation.payment_id, actor="payments")
        if payment.status == PaymentStatus.CAPTURED:
            # Its order waits, confirmed, for this capture: release it to the warehouse now.
            payment_collect_for_order(order_id=payment.order_id)
    elif operation.kind == OperationKind.VOID:
        payment_void(payment_id=operation.payment_id, actor="payments")
    elif operation.kind == OperationKind.REFUND and operation.refund_id:
        refund_execute(refund_id=operation.refund_id)


def reconcile(*, limit: int = 200) -> dict[str, int]:
    """Repeat provider calls left pending, start card authorisations that never started,
    secure confirmed orders whose task was lost, and ask about payment pages left open."""
    now = timezone.now()
    due = list(
        PaymentOperation.objects.filter(status=OperationStatus.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    _each(due, lambda pk: operation_execute(operation_id=pk), "reconcile failed", "operation")
    unstarted = _authorisations_never_started(now - settings.PAYMENT_RECONCILE_AFTER, limit)
    _each(
        unstarted,
        lambda pk: payment_authorize(payment_id=pk),
        "authorising payment failed",
        "payment",
    )
    stalled = _confirmed_orders_to_collect(now - settings.PAYMENT_RECONCILE_AFTER, limit)
    _each(
        stalled,
        lambda pk: payment_collect_for_order(order_id=pk),
        "securing payment failed",
        "order_id",
    )
    pages = checkouts_to_check(now, limit)
    _each(
        pages,
        lambda pk: checkout_reconcile(checkout_id=pk),
        "checking a payment page failed",
        "checkout",
    )
    return {
        "operations": len(due),
        "authorisations": len(unstarted),
        "orders": len(stalled),
        "checkouts": len(pages),
    }


def _each(ids: list[int], call: Callable[[int], object], failure: str, name: str) -> None:
    """Run `call` for each id; one that fails is logged and left to the next sweep, without
    holding up the ones after it."""
    for pk in ids:
        try:
            call(pk)
        except Exception:
            logger.exception(failure, extra={name: pk})


def _authorisations_never_started(placed_before, limit: int) -> list[int]:
    """Card payments still pending with no authorisation on record: the after-commit call
    that starts it never ran (the connection dropped or the process died first). Review holds
    their orders for payment; authorising releases them. A payment made on the provider's page
    is not one: only the customer can authorise it (`checkouts_to_check` looks after those)."""
    return list(
        Payment.objects.filter(
            method=PaymentMethod.CARD,
            status=PaymentStatus.PENDING,
            created_at__lte=placed_before,
            checkout__isnull=True,
        )
        .exclude(operations__kind=OperationKind.AUTHORIZE)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def _confirmed_orders_to_collect(confirmed_before, limit: int) -> list[int]:
    """Confirmed orders whose securing task was lost, oldest first: those with something to
    collect (a payment authorised, captured, invoiced or still to invoice, or nothing to pay)
    and no capture already under way or given up.
    An order waiting for the customer to pay again is left out, so such orders can never
    fill the batch and starve the ones after them."""
    collectable = Payment.objects.filter(order=OuterRef("pk")).filter(
        Q(status__in=PAID_OR_PROMISED)
        | Q(method=PaymentMethod.INVOICE, status=PaymentStatus.PENDING)
    )
    # A capture already on record is retried on its own schedule by the loop above (or was
    # given up, for Finance): collecting again would send it before it is due.
    capture_on_record = PaymentOperation.objects.filter(
        payment__order=OuterRef("pk"),
        kind=OperationKind.CAPTURE,
        status__in=[OperationStatus.PENDING, OperationStatus.FAILED],
    )
    return list(
        Order.objects.filter(status=OrderStatus.CONFIRMED, confirmed_at__lte=confirmed_before)
        .filter(Q(grand_total=0) | Q(Exists(collectable)))
        .exclude(Exists(capture_on_record))
        .order_by("confirmed_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )

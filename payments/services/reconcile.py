"""The safety net: provider calls left pending are sent again with their own key, card
authorisations that never started are started, and confirmed orders whose securing task was
lost are secured."""

import logging

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
        payment_capture(payment_id=operation.payment_id, actor="payments")
    elif operation.kind == OperationKind.VOID:
        payment_void(payment_id=operation.payment_id, actor="payments")
    elif operation.kind == OperationKind.REFUND and operation.refund_id:
        refund_execute(refund_id=operation.refund_id)


def reconcile(*, limit: int = 200) -> dict[str, int]:
    """Repeat provider calls left pending, start card authorisations that never started, and
    secure confirmed orders whose task was lost."""
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
    unstarted = _authorisations_never_started(now - settings.PAYMENT_RECONCILE_AFTER, limit)
    for payment_id in unstarted:
        try:
            payment_authorize(payment_id=payment_id)
        except Exception:
            logger.exception("authorising payment failed", extra={"payment": payment_id})
    stalled = _confirmed_orders_to_collect(now - settings.PAYMENT_RECONCILE_AFTER, limit)
    for order_id in stalled:
        try:
            payment_collect_for_order(order_id=order_id)
        except Exception:
            logger.exception("securing payment failed", extra={"order_id": order_id})
    return {"operations": len(due), "authorisations": len(unstarted), "orders": len(stalled)}


def _authorisations_never_started(placed_before, limit: int) -> list[int]:
    """Card payments still pending with no authorisation on record: the after-commit call
    that starts it never ran (the connection dropped or the process died first). Review holds
    their orders for payment; authorising releases them."""
    return list(
        Payment.objects.filter(
            method=PaymentMethod.CARD, status=PaymentStatus.PENDING, created_at__lte=placed_before
        )
        .exclude(operations__kind=OperationKind.AUTHORIZE)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )


def _confirmed_orders_to_collect(confirmed_before, limit: int) -> list[int]:
    """Confirmed orders whose securing task was lost, oldest first: those with something to
    collect (a payment authorised, captured, invoiced or still to invoice, or nothing to pay).
    An order waiting for the customer to pay again is left out, so such orders can never
    fill the batch and starve the ones after them."""
    collectable = Payment.objects.filter(order=OuterRef("pk")).filter(
        Q(status__in=PAID_OR_PROMISED)
        | Q(method=PaymentMethod.INVOICE, status=PaymentStatus.PENDING)
    )
    return list(
        Order.objects.filter(status=OrderStatus.CONFIRMED, confirmed_at__lte=confirmed_before)
        .filter(Q(grand_total=0) | Q(Exists(collectable)))
        .order_by("confirmed_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )

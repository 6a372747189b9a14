"""The safety net: provider calls left pending are sent again with their own key, and
confirmed orders whose securing task was lost are secured."""

import logging

from django.conf import settings
from django.utils import timezone

from orders.models import Order, OrderStatus
from payments.models import OperationKind, OperationStatus, PaymentOperation
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
            payment_collect_for_order(order_id=order_id)
        except Exception:
            logger.exception("securing payment failed", extra={"order_id": order_id})
    return {"operations": len(due), "orders": len(stalled)}

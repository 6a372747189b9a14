"""Thin payment tasks: fetch by id, call a service. All are safe to run twice."""

from django.utils import timezone

from orders.broker import state_task
from payments.models import Invoice, PaymentStatus
from payments.services import invoice_flag_overdue, payment_collect_for_order, reconcile


@state_task
def secure_order_payment(order_id: int) -> str:
    return payment_collect_for_order(order_id=order_id).status


@state_task
def reconcile_payments() -> dict[str, int]:
    return reconcile()


@state_task
def flag_overdue_invoices() -> int:
    """Daily: invoices past their due date are marked overdue and the customer reminded once."""
    overdue = Invoice.objects.filter(
        payment__status=PaymentStatus.INVOICED, due_date__lt=timezone.localdate()
    ).values_list("pk", flat=True)
    return sum(invoice_flag_overdue(invoice_id=pk) for pk in list(overdue))

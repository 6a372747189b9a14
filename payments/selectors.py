"""Reads for payments: what is paid and due, and what staff may do to a payment now."""

from decimal import Decimal
from typing import Any

from django.db.models import DecimalField, Q, Sum, Value
from django.db.models.functions import Coalesce

from orders.models import Order, OrderStatus
from payments.models import Payment, PaymentStatus
from payments.services import order_needs_payment

CENT = Decimal("0.01")
ZERO = Value(Decimal("0.00"), output_field=DecimalField(max_digits=12, decimal_places=2))


def order_payment_summary(order: Order) -> dict[str, Decimal]:
    """Paid (captured or received on invoice), refunded, and what is still due."""
    totals = Payment.objects.filter(order=order).aggregate(
        paid=Coalesce(Sum("amount_captured"), ZERO),
        refunded=Coalesce(Sum("amount_refunded"), ZERO),
        authorized=Coalesce(Sum("amount", filter=Q(status=PaymentStatus.AUTHORIZED)), ZERO),
        invoiced=Coalesce(
            Sum("amount", filter=Q(status__in=[PaymentStatus.INVOICED, PaymentStatus.OVERDUE])),
            ZERO,
        ),
    )
    # SQLite sums decimals without their scale; state every amount in cents.
    totals = {key: Decimal(value).quantize(CENT) for key, value in totals.items()}
    due = Decimal("0.00")
    if order.status not in (OrderStatus.CANCELLED, OrderStatus.DRAFT):
        due = max(order.grand_total - totals["paid"], Decimal("0.00"))
    return {**totals, "balance_due": due}


# Finance's buttons on a payment, each with the Payment transition it leads to. The model's
# FSM says when a button applies: the payment's state allows the transition and the user
# holds its permission.
STAFF_ACTIONS: dict[str, str] = {
    "capture": "capture",
    "void": "void",
    "refund": "refund_part",
    "record_invoice_payment": "mark_paid",
}


def payment_staff_actions(payment: Payment, user: Any) -> list[str]:
    """What this staff user may do to the payment now."""
    allowed = {t.name for t in payment.get_available_user_status_transitions(user)}
    return [action for action, transition in STAFF_ACTIONS.items() if transition in allowed]


def order_awaiting_payment(order: Order) -> bool:
    """A held order that still needs paying (the card was declined, or no payment was made):
    its pages offer the customer the pay-again link."""
    return order.status == OrderStatus.ON_HOLD and order_needs_payment(order)

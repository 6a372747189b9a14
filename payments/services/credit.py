"""Invoice terms: whose account an order is billed to, and what that account owes."""

from decimal import Decimal

from django.db.models import Q, Sum

from orders.models import Order, OrderStatus
from payments.models import CreditAccount, Payment, PaymentMethod, PaymentStatus

P = PaymentStatus


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

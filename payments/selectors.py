"""Reads for payments: what is paid and due, whether an order still needs paying, invoice
terms and what they owe, and what staff may do to a payment now."""

import hmac
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db.models import (
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from orders.models import Order, OrderStatus
from payments.models import (
    PAID_OR_PROMISED,
    CheckoutSession,
    CheckoutStatus,
    CreditAccount,
    Invoice,
    OperationKind,
    Payment,
    PaymentMethod,
    PaymentOperation,
    PaymentStatus,
)

MONEY = DecimalField(max_digits=12, decimal_places=2)
# What secrets.token_urlsafe gives a payment page's return address.
RETURN_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
ZERO = Value(Decimal("0.00"), output_field=MONEY)


def order_payment_summary(
    order: Order, payments: Sequence[Payment] | None = None
) -> dict[str, Decimal]:
    """Paid (captured or received on invoice), refunded, authorised, invoiced and what is
    still due, from the order's payments (loaded here unless the caller has them)."""
    if payments is None:
        payments = list(order.payments.all())
    paid = sum((p.amount_captured for p in payments), Decimal("0.00"))
    return {
        "paid": paid,
        "refunded": sum((p.amount_refunded for p in payments), Decimal("0.00")),
        "authorized": sum(
            (p.amount for p in payments if p.status == PaymentStatus.AUTHORIZED), Decimal("0.00")
        ),
        "invoiced": sum(
            (
                p.amount
                for p in payments
                if p.status in (PaymentStatus.INVOICED, PaymentStatus.OVERDUE)
            ),
            Decimal("0.00"),
        ),
        "balance_due": balance_due(order, paid=paid),
    }


def order_fully_refunded(order: Order) -> bool:
    """Everything paid for the order (captured, or received on invoice) has been refunded
    (one query)."""
    totals = order.payments.aggregate(
        paid=Coalesce(Sum("amount_captured"), ZERO), refunded=Coalesce(Sum("amount_refunded"), ZERO)
    )
    return totals["paid"] > 0 and totals["refunded"] >= totals["paid"]


def balance_due(order: Order, *, paid: Decimal) -> Decimal:
    """What the customer still owes: nothing on a cancelled order or a draft."""
    if order.status in (OrderStatus.CANCELLED, OrderStatus.DRAFT):
        return Decimal("0.00")
    return max(order.grand_total - paid, Decimal("0.00"))


def latest_invoice(payments: Sequence[Payment]) -> "Invoice | None":
    """The newest invoice among payments loaded oldest first with `invoice_record`."""
    invoices = [p.invoice_record for p in payments if getattr(p, "invoice_record", None)]
    return invoices[-1] if invoices else None


def order_payment_position(order: Order, payments: Sequence[Payment]) -> dict[str, Any]:
    """The order's payment as partners and customers see it, from payments already loaded
    (oldest first, with their invoice): no query of its own."""
    latest = payments[-1] if payments else None
    summary = order_payment_summary(order, payments)
    invoice = latest_invoice(payments)
    return {
        "method": latest.method if latest else None,
        "status": latest.status if latest else None,
        "paid": summary["paid"],
        "refunded": summary["refunded"],
        "balance_due": summary["balance_due"],
        "invoice_number": invoice.number if invoice else None,
        "invoice_due_date": invoice.due_date if invoice else None,
    }


def order_needs_payment(order: Order) -> bool:
    """An order whose payment is not yet secured (received, confirmed or held), with
    something to pay and no payment that covers it: the customer may pay (again) by link."""
    if order.status not in (OrderStatus.ON_HOLD, OrderStatus.CONFIRMED, OrderStatus.RECEIVED):
        return False
    if order.grand_total == 0:
        return False
    return not order.payments.filter(status__in=PAID_OR_PROMISED).exists()


def order_payments_in_play(order: Order) -> list[Payment]:
    """The order's payments that may still pay for it, newest first: neither voided nor being
    given back (a void on record: a second authorisation for an order another payment
    already covered, say). One query."""
    giving_back = PaymentOperation.objects.filter(payment=OuterRef("pk"), kind=OperationKind.VOID)
    return list(
        order.payments.exclude(status=PaymentStatus.VOIDED)
        .exclude(Exists(giving_back))
        .order_by("-created_at", "-pk")
    )


def covering_card_payment(payments: Sequence[Payment]) -> Payment | None:
    """Among payments in play (newest first), the card that pays for the order: authorised or
    captured. Not necessarily the newest payment: the customer may have paid on an older
    payment page while a newer one was open, or an older card's authorisation may have come
    back after they tried another."""
    return next(
        (
            p
            for p in payments
            if p.method == PaymentMethod.CARD
            and p.status in (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED)
        ),
        None,
    )


def credit_account_for(order: Order) -> CreditAccount | None:
    """The account on invoice terms: the order's bill-to (a partner) or else its customer."""
    payer_id = order.bill_to_id or order.customer_id
    if payer_id is None:
        return None
    return CreditAccount.objects.filter(customer_id=payer_id, is_active=True).first()


def credit_exposure(customer_id: int, *, excluding_order_id: int | None = None) -> Decimal:
    """What the customer owes on invoice terms: open invoices plus invoice orders not yet
    invoiced."""
    totals = _open_invoice_payments(customer_id, excluding_order_id=excluding_order_id).aggregate(
        amount=Sum("amount"), paid=Sum("amount_captured")
    )
    return (totals["amount"] or Decimal("0")) - (totals["paid"] or Decimal("0"))


def credit_accounts_with_open_balance(
    accounts: QuerySet[CreditAccount],
) -> QuerySet[CreditAccount]:
    """The accounts, each with `open_balance` (its `credit_exposure`) worked out in the same
    query, so a list of accounts costs one query however long it is."""
    owed = (
        _open_invoice_payments(OuterRef("customer_id"))
        .order_by()
        .values("method")
        .annotate(owed=Sum(F("amount") - F("amount_captured")))
        .values("owed")
    )
    return accounts.annotate(open_balance=Coalesce(Subquery(owed, output_field=MONEY), ZERO))


def _open_invoice_payments(
    customer_id: int | OuterRef, *, excluding_order_id: int | None = None
) -> QuerySet[Payment]:
    """Invoice payments the customer still owes on: billed to them (as a partner), or their
    own orders with no other bill-to; cancelled orders owe nothing. `customer_id` may be an
    OuterRef, for the credit accounts' list."""
    billed = Q(order__bill_to_id=customer_id)
    own = Q(order__bill_to__isnull=True, order__customer_id=customer_id)
    payments = Payment.objects.filter(
        billed | own,
        method=PaymentMethod.INVOICE,
        status__in=[PaymentStatus.PENDING, PaymentStatus.INVOICED, PaymentStatus.OVERDUE],
    ).exclude(order__status=OrderStatus.CANCELLED)
    if excluding_order_id:
        payments = payments.exclude(order_id=excluding_order_id)
    return payments


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


def checkout_for_return(token: str, *, session_id: str | None = None) -> CheckoutSession | None:
    """The payment page a return address belongs to, with its payment and order; None for a
    token that is not ours, or (when `session_id` is given, as the provider fills it in after
    paying) one whose page is not that session."""
    if not RETURN_TOKEN.fullmatch(token):
        return None
    checkout = (
        CheckoutSession.objects.select_related("payment__order").filter(return_token=token).first()
    )
    if checkout is None:
        return None
    if session_id is not None and not (
        checkout.session_id
        and hmac.compare_digest(checkout.session_id.encode(), session_id.encode())
    ):
        return None
    return checkout


def order_paying_on_provider_page(payments: Sequence[Payment]) -> bool:
    """Whether the newest of the order's payments (loaded oldest first) waits for the
    customer on the card provider's payment page."""
    latest = payments[-1] if payments else None
    if latest is None or latest.status != PaymentStatus.PENDING:
        return False
    return CheckoutSession.objects.filter(
        payment=latest, status__in=[CheckoutStatus.NEW, CheckoutStatus.OPEN]
    ).exists()

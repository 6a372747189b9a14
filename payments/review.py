"""The review's payment check (the payments phase's `review_checks`)."""

from orders.lifecycle import CheckResult
from orders.models import HoldReason, Order
from payments.models import CheckoutSession, PaymentMethod, PaymentStatus
from payments.selectors import (
    covering_card_payment,
    credit_account_for,
    credit_exposure,
    order_payments_in_play,
)

P = PaymentStatus


def payment_secured(order: Order) -> CheckResult:
    if order.grand_total == 0:
        return CheckResult("payment", passed=True, message="Nothing to pay.")
    in_play = order_payments_in_play(order)
    # The card that pays for the order, if any, whichever page or try it came from; else the
    # newest payment says what the order waits for.
    payment = covering_card_payment(in_play) or next(iter(in_play), None)
    if payment is None:
        return CheckResult(
            "payment",
            passed=False,
            message="Awaiting payment: the customer was sent a link to pay.",
            hold_reason=HoldReason.PAYMENT_FAILED,
        )
    if payment.method == PaymentMethod.INVOICE:
        return _credit_check(order, payment)
    if payment.status in (P.AUTHORIZED, P.CAPTURED):
        return CheckResult(
            "payment",
            passed=True,
            message=f"Card authorised ({payment.card_brand or 'card'} {payment.card_last4}).",
            data={"payment": payment.pk},
        )
    if payment.status == P.FAILED:
        return CheckResult(
            "payment",
            passed=False,
            message=f"The card was declined: {payment.failure_message}",
            hold_reason=HoldReason.PAYMENT_FAILED,
            data={"payment": payment.pk, "code": payment.failure_code},
        )
    if CheckoutSession.objects.filter(payment=payment).exists():
        return CheckResult(
            "payment",
            passed=False,
            message="Awaiting payment on the card provider's payment page: the order goes on "
            "by itself once the customer has paid.",
            hold_reason=HoldReason.PAYMENT_FAILED,
            data={"payment": payment.pk},
        )
    return CheckResult(
        "payment",
        passed=False,
        message="The card authorisation has not completed; it is retried automatically.",
        hold_reason=HoldReason.PAYMENT_FAILED,
        data={"payment": payment.pk},
    )


def _credit_check(order: Order, payment) -> CheckResult:
    account = credit_account_for(order)
    if account is None:
        return CheckResult(
            "payment",
            passed=False,
            message="Invoice terms are no longer active for this customer.",
            hold_reason=HoldReason.PAYMENT_FAILED,
        )
    open_balance = credit_exposure(account.customer_id, excluding_order_id=order.pk)
    exposure = open_balance + payment.amount
    data = {
        "open": str(open_balance),
        "order": str(payment.amount),
        "limit": str(account.credit_limit),
    }
    if exposure > account.credit_limit:
        return CheckResult(
            "payment",
            passed=False,
            message=f"Over the credit limit: {open_balance} open + {payment.amount} this order "
            f"> {account.credit_limit} {account.currency}.",
            hold_reason=HoldReason.PAYMENT_FAILED,
            data=data,
        )
    return CheckResult(
        "payment",
        passed=True,
        message=f"Invoice terms ({account.get_terms_days_display()}), within the credit limit.",
        data=data,
    )

"""Payment services (writes), one module per concern:

- operations: every provider call (begin under the payment's lock, call, record);
- authorisation: card details and authorising the card;
- capture_void: taking the authorised money, or giving the authorisation back;
- refunds: refunds asked for here, and refunds the provider reports;
- declines: a payment the provider refused;
- invoices: invoice terms;
- pay_links, pay_again: the customer's link to pay, and paying again with it;
- hosted_checkout: paying on the card provider's own page (Stripe Checkout);
- order_lifecycle: the payments phase's moments (placing, releasing, confirmed, cancelled)
  and securing a confirmed order's payment;
- reconcile: repeating what a provider did not answer.
"""

from payments.services.authorisation import payment_authorize, payment_validate
from payments.services.capture_void import (
    payment_capture,
    payment_void,
    payment_void_reported_by_provider,
)
from payments.services.declines import payment_fail_reported_by_provider
from payments.services.hosted_checkout import (
    CheckoutUnavailable,
    checkout_open,
    checkout_record,
    checkout_sync,
    payment_checkout_start,
)
from payments.services.inputs import PaymentInput, PaymentNotSecured, PaymentRefused
from payments.services.invoices import invoice_flag_overdue, invoice_issue, invoice_record_payment
from payments.services.order_lifecycle import (
    payment_capture_and_secure,
    payment_collect_for_order,
    payment_on_order_cancelled,
    payment_on_order_confirmed,
    payment_on_order_releasing,
    payment_prepare_for_order,
)
from payments.services.pay_again import payment_pay_again
from payments.services.pay_links import order_for_pay_link, pay_link_token, pay_link_url
from payments.services.reconcile import operation_execute, reconcile
from payments.services.refunds import (
    refund_create,
    refund_execute,
    refund_record_from_provider,
    refund_settle_by_hand,
)

__all__ = [
    "CheckoutUnavailable",
    "PaymentInput",
    "PaymentNotSecured",
    "PaymentRefused",
    "checkout_open",
    "checkout_record",
    "checkout_sync",
    "invoice_flag_overdue",
    "invoice_issue",
    "invoice_record_payment",
    "operation_execute",
    "order_for_pay_link",
    "pay_link_token",
    "pay_link_url",
    "payment_authorize",
    "payment_capture",
    "payment_capture_and_secure",
    "payment_checkout_start",
    "payment_collect_for_order",
    "payment_fail_reported_by_provider",
    "payment_on_order_cancelled",
    "payment_on_order_confirmed",
    "payment_on_order_releasing",
    "payment_pay_again",
    "payment_prepare_for_order",
    "payment_validate",
    "payment_void",
    "payment_void_reported_by_provider",
    "reconcile",
    "refund_create",
    "refund_execute",
    "refund_record_from_provider",
    "refund_settle_by_hand",
]

"""The orders app's own automatic review checks (`ORDER_CHECKS`).

Each check takes a locked `received` order and returns a CheckResult; any failed check holds
the order with the check's hold reason. Later phases add their own checks through the
lifecycle interface (`OrderPhase.review_checks`: payment authorisation, credit limits).
"""

import re
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum

from orders.countries import country_name
from orders.lifecycle import CheckResult
from orders.models import HoldReason, Order, OrderStatus
from orders.services import address_problems

# Postal code formats for common destinations; other countries only need a non-empty code
# where they use one. A manager can extend this list as the business ships further.
POSTAL_CODE_FORMATS = {
    "US": r"^\d{5}(-\d{4})?$",
    "DE": r"^\d{5}$",
    "FR": r"^\d{5}$",
    "IT": r"^\d{5}$",
    "ES": r"^\d{5}$",
    "NL": r"^\d{4} ?[A-Z]{2}$",
    "AT": r"^\d{4}$",
    "CH": r"^\d{4}$",
    "BE": r"^\d{4}$",
    "DK": r"^\d{4}$",
    "SE": r"^\d{3} ?\d{2}$",
    "PL": r"^\d{2}-\d{3}$",
    "CA": r"^[A-Z]\d[A-Z] ?\d[A-Z]\d$",
    "GB": r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$",
    "AU": r"^\d{4}$",
    "JP": r"^\d{3}-?\d{4}$",
}
COUNTRIES_WITHOUT_POSTAL_CODES = {"IE", "HK", "AE", "QA"}


def postal_code_problem(country: str, postal_code: str) -> str:
    code = postal_code.strip().upper()
    if country in COUNTRIES_WITHOUT_POSTAL_CODES:
        return ""
    if not code:
        return "The postal code is missing."
    pattern = POSTAL_CODE_FORMATS.get(country)
    if pattern and not re.match(pattern, code, re.ASCII):  # \d: 0-9, not every script's
        return f"{postal_code!r} is not a valid postal code for {country_name(country)}."
    return ""


def stock_reserved(order: Order) -> CheckResult:
    short = []
    for line in order.lines.filter(product_kind="physical").annotate(
        reserved_units=Sum("reservations__quantity")
    ):
        if (line.reserved_units or 0) < line.quantity:
            short.append(
                {"sku": line.sku, "ordered": line.quantity, "reserved": line.reserved_units or 0}
            )
    if short:
        detail = ", ".join(f"{s['sku']} {s['reserved']}/{s['ordered']}" for s in short)
        return CheckResult(
            "stock",
            passed=False,
            message=f"Not every line is reserved ({detail}).",
            hold_reason=HoldReason.OUT_OF_STOCK,
            data={"short": short},
        )
    return CheckResult("stock", passed=True, message="Every line is reserved.")


def address_complete(order: Order) -> CheckResult:
    problems = []
    if order.shipping_method_id or order.shipping_address_id:
        if order.shipping_address is None:
            problems.append("There is no shipping address.")
        else:
            problems += [
                f"Shipping: {p}" for p in address_problems(order.shipping_address, deliverable=True)
            ]
    if order.billing_address is not None:
        problems += [f"Billing: {p}" for p in address_problems(order.billing_address)]
    if problems:
        return CheckResult(
            "address",
            passed=False,
            message=" ".join(problems),
            hold_reason=HoldReason.ADDRESS_INVALID,
        )
    return CheckResult("address", passed=True, message="The addresses are complete.")


def total_within_limit(order: Order) -> CheckResult:
    limit: Decimal = settings.ORDER_REVIEW_MAX_TOTAL
    if order.grand_total > limit:
        return CheckResult(
            "limit",
            passed=False,
            message=f"Total {order.grand_total} {order.currency} is over the review limit {limit}.",
            hold_reason=HoldReason.MANUAL,
            data={"total": str(order.grand_total), "limit": str(limit)},
        )
    return CheckResult("limit", passed=True, message="The total is within the limit.")


def fraud_score(order: Order) -> CheckResult:
    """A simple additive score; the signals and their points are on the timeline."""
    signals: dict[str, int] = {}
    previous = (
        Order.objects.filter(customer_id=order.customer_id, placed_at__lt=order.placed_at)
        .exclude(status__in=[OrderStatus.CANCELLED, OrderStatus.DRAFT])
        .exists()
        if order.customer_id
        else False
    )
    if not previous:
        signals["new_customer"] = 30
    if order.grand_total >= settings.FRAUD_HIGH_VALUE:
        signals["high_value"] = 40
    shipping, billing = order.shipping_address, order.billing_address
    if shipping is not None and billing is not None and shipping.country != billing.country:
        signals["country_mismatch"] = 30
    score = min(sum(signals.values()), 100)
    order.fraud_score = score
    threshold = settings.FRAUD_SCORE_THRESHOLD
    data = {"score": score, "threshold": threshold, "signals": signals}
    if score >= threshold:
        return CheckResult(
            "fraud",
            passed=False,
            message=f"Fraud score {score} is at or above {threshold} ({', '.join(signals)}).",
            hold_reason=HoldReason.FRAUD_RISK,
            data=data,
        )
    return CheckResult("fraud", passed=True, message=f"Fraud score {score}.", data=data)


ORDER_CHECKS = (stock_reserved, address_complete, total_within_limit, fraud_score)

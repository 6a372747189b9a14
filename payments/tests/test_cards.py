"""The test gateway's cards and tokens, and the order state each leads to."""

from datetime import date
from unittest import mock

import pytest
from django.core import mail

from orders.models import HoldReason, Notification, Order, OrderStatus
from orders.tests.factories import place_order
from payments.models import OperationStatus, Payment, PaymentStatus
from payments.providers.base import CardDetails, InvalidPaymentDetails
from payments.providers.test import TestGateway, luhn_valid, validate_card
from payments.services import PaymentInput

pytestmark = pytest.mark.django_db


def card(number: str, exp_month: int = 12, exp_year: int = 2031, cvc: str = "123") -> PaymentInput:
    return PaymentInput(
        method="card",
        card=CardDetails(number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc),
    )


def token(value: str) -> PaymentInput:
    return PaymentInput(method="card", card=CardDetails(token=value))


def _place(capture, payment: PaymentInput) -> Order:
    with capture(execute=True):
        order = place_order([("MUG-001", 2)], payment=payment).order
    return Order.objects.prefetch_related("holds").get(pk=order.pk)


@pytest.mark.parametrize(
    ("payment", "payment_status", "order_status", "code"),
    [
        (card("4242 4242 4242 4242"), PaymentStatus.CAPTURED, OrderStatus.READY, ""),
        (card("4000 0000 0000 0002"), PaymentStatus.FAILED, OrderStatus.ON_HOLD, "card_declined"),
        (card("4000000000009995"), PaymentStatus.FAILED, OrderStatus.ON_HOLD, "insufficient_funds"),
        (card("4000000000000119"), PaymentStatus.FAILED, OrderStatus.ON_HOLD, "processing_error"),
        (token("tok_visa"), PaymentStatus.CAPTURED, OrderStatus.READY, ""),
        (token("tok_chargeDeclined"), PaymentStatus.FAILED, OrderStatus.ON_HOLD, "card_declined"),
        (
            token("tok_chargeDeclinedInsufficientFunds"),
            PaymentStatus.FAILED,
            OrderStatus.ON_HOLD,
            "insufficient_funds",
        ),
        (
            token("tok_chargeDeclinedProcessingError"),
            PaymentStatus.FAILED,
            OrderStatus.ON_HOLD,
            "processing_error",
        ),
    ],
)
def test_each_test_card_leads_to_its_outcome(
    catalogue, django_capture_on_commit_callbacks, payment, payment_status, order_status, code
):
    order = _place(django_capture_on_commit_callbacks, payment)
    paid = Payment.objects.get(order=order)
    assert paid.status == payment_status
    assert paid.failure_code == code
    assert order.status == order_status
    if order_status == OrderStatus.ON_HOLD:
        assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
        failed = Notification.objects.get(order=order, kind="payment_failed")
        assert failed.status == "sent"
        assert "/orders/pay/" in failed.body_text
    else:
        assert paid.amount_captured == order.grand_total
        assert {m.subject for m in mail.outbox} >= {
            f"Your order {order.number} is confirmed",
            f"Payment received for order {order.number}",
        }


def test_a_processing_error_is_tried_three_times_before_it_counts(
    catalogue, django_capture_on_commit_callbacks
):
    spy = mock.patch.object(
        TestGateway, "authorize", autospec=True, side_effect=TestGateway.authorize
    )
    with spy as authorize:
        order = _place(
            django_capture_on_commit_callbacks, token("tok_chargeDeclinedProcessingError")
        )
    assert authorize.call_count == 3
    keys = {call.kwargs["idempotency_key"] for call in authorize.call_args_list}
    assert len(keys) == 1  # the same request each time
    operation = Payment.objects.get(order=order).operations.get(kind="authorize")
    assert operation.attempts == 1
    assert operation.status == OperationStatus.FAILED
    assert operation.error_code == "processing_error"


def test_only_the_card_token_and_last_digits_are_kept(
    catalogue, django_capture_on_commit_callbacks
):
    order = _place(django_capture_on_commit_callbacks, card("4242424242424242"))
    paid = Payment.objects.get(order=order)
    assert (paid.payment_token, paid.card_brand, paid.card_last4) == ("tok_visa", "visa", "4242")
    stored = " ".join(str(v) for v in Payment.objects.filter(pk=paid.pk).values().first().values())
    assert "4242424242424242" not in stored


@pytest.mark.parametrize(
    ("details", "fields"),
    [
        (
            CardDetails(number="4242424242424241", exp_month=12, exp_year=2031, cvc="123"),
            {"number"},
        ),
        (CardDetails(number="1234", exp_month=12, exp_year=2031, cvc="123"), {"number"}),
        # 4242... in Arabic-Indic digits, and with a superscript two (isdigit, but not int)
        (CardDetails(number="٤٢٤٢" * 4, exp_month=12, exp_year=2031, cvc="123"), {"number"}),
        (
            CardDetails(number="424242424242424²", exp_month=12, exp_year=2031, cvc="123"),
            {"number"},
        ),
        (CardDetails(number="4242424242424242", exp_month=12, exp_year=2031, cvc="١٢٣"), {"cvc"}),
        (
            CardDetails(number="4242424242424242", exp_month=13, exp_year=2031, cvc="123"),
            {"exp_month"},
        ),
        (
            CardDetails(number="4242424242424242", exp_month=10, exp_year=2026, cvc="123"),
            {"exp_year"},
        ),
        (CardDetails(number="4242424242424242", exp_month=12, exp_year=2031, cvc="12"), {"cvc"}),
        (
            CardDetails(number="", exp_month=None, exp_year=None, cvc=""),
            {"number", "exp_month", "exp_year", "cvc"},
        ),
    ],
)
def test_card_validation_names_each_bad_field(details, fields):
    with pytest.raises(InvalidPaymentDetails) as error:
        validate_card(details, today=date(2026, 11, 26))
    assert set(error.value.fields) == fields


def test_this_month_is_still_valid():
    details = CardDetails(number="4242424242424242", exp_month=11, exp_year=2026, cvc="123")
    assert validate_card(details, today=date(2026, 11, 26)) == "4242424242424242"


def test_luhn():
    assert luhn_valid("4242424242424242")
    assert luhn_valid("4000000000000002")
    assert not luhn_valid("4242424242424243")


def test_a_bad_card_refuses_the_order_and_changes_nothing(catalogue):
    with pytest.raises(InvalidPaymentDetails):
        place_order(payment=card("4242424242424241"))
    assert not Order.objects.exists()
    assert not Payment.objects.exists()


def test_an_unknown_token_is_refused(catalogue):
    with pytest.raises(InvalidPaymentDetails, match="tok_nope"):
        place_order(payment=token("tok_nope"))
    assert not Order.objects.exists()

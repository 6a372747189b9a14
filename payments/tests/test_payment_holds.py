"""Releasing a held order that nothing pays for: a release that would confirm the order is
refused, whoever asks, however, and whatever it is held for, until a payment covers the order
(a card authorised or captured, or invoice terms Finance granted); an order held before its
review ran goes through the review instead of being confirmed."""

import pytest
from django.contrib.messages import constants as message_levels
from django.contrib.messages import get_messages
from django.urls import reverse

from orders import services as order_services
from orders.models import EventType, HoldReason, Notification, Order, OrderEvent, OrderStatus
from orders.permissions import CUSTOMER_SERVICE, FINANCE
from orders.tests.factories import payment_securing_deferred, place_order, staff_user
from payments.models import CreditAccount, Payment, PaymentStatus
from payments.providers.base import CardDetails
from payments.services import PaymentInput, PaymentNotSecured, payment_pay_again, payment_void

pytestmark = pytest.mark.django_db
P = PaymentStatus
DECLINED = PaymentInput(method="card", card=CardDetails(token="tok_chargeDeclined"))
INVOICE = PaymentInput(method="invoice")


def _held_for_a_declined_card(capture, email="ada@example.com") -> Order:
    with capture(execute=True):
        order = place_order([("MUG-001", 2)], email=email, payment=DECLINED).order
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    assert Payment.objects.get(order=order).status == P.FAILED
    return order


def _snapshot(order: Order) -> dict:
    order = Order.objects.get(pk=order.pk)
    return {
        "status": order.status,
        "confirmed_at": order.confirmed_at,
        "open_holds": list(
            order.holds.filter(released_at__isnull=True).values_list("reason", flat=True)
        ),
        "events": OrderEvent.objects.filter(order=order).count(),
        "notifications": Notification.objects.filter(order=order).count(),
    }


def _messages(response, level) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request) if m.level == level]


@pytest.mark.parametrize("group", [CUSTOMER_SERVICE, FINANCE])
def test_no_staff_group_can_release_an_order_whose_card_was_declined(
    catalogue, django_capture_on_commit_callbacks, group
):
    # given an order held because its card was declined
    order = _held_for_a_declined_card(django_capture_on_commit_callbacks)
    before = _snapshot(order)

    # when staff release it
    with (
        pytest.raises(PaymentNotSecured) as refused,
        django_capture_on_commit_callbacks(execute=True),
    ):
        order_services.order_release(
            order_id=order.pk, actor=staff_user(group), note="customer says it's fine"
        )

    # then it is refused with the reason, and nothing changed: no confirmation email either
    assert refused.value.code == "payment_not_secured"
    assert refused.value.http_status == 409
    assert f"Order {order.number} is held for payment" in refused.value.message
    assert "The card was declined" in refused.value.message
    assert "pays with the link we emailed" in refused.value.message
    assert _snapshot(order) == before
    assert not Notification.objects.filter(order=order, kind="order_confirmation").exists()
    assert Payment.objects.get(order=order).status == P.FAILED


def test_the_release_button_refuses_with_a_message_and_changes_nothing(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given
    order = _held_for_a_declined_card(django_capture_on_commit_callbacks)
    before = _snapshot(order)
    client.force_login(staff_user(CUSTOMER_SERVICE))

    # when the Release button is pressed on the order's page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:orders_order_action", args=[order.pk, "release"]),
            {"action": "release", "note": "released by phone"},
            follow=True,
        )

    # then
    assert response.status_code == 200
    errors = _messages(response, message_levels.ERROR)
    assert len(errors) == 1
    assert errors[0].startswith(f"Release: Order {order.number} is held for payment")
    assert not _messages(response, message_levels.SUCCESS)
    assert _snapshot(order) == before


def test_the_held_queue_releases_the_paid_orders_and_refuses_the_unpaid_one(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given an order held for a declined card, and one held by hand whose card is fine
    unpaid = _held_for_a_declined_card(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        paid = place_order(email="grace@example.com").order
    paid.refresh_from_db()
    order_services.order_hold(order_id=paid.pk, actor="test", note="check the address")
    before = _snapshot(unpaid)
    client.force_login(staff_user(CUSTOMER_SERVICE))

    # when both are released from the held-orders queue
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:orders_heldorder_changelist"),
            {
                "action": "release_selected",
                "_selected_action": [unpaid.pk, paid.pk],
                "apply": "1",
                "note": "all checked",
            },
            follow=True,
        )

    # then the paid one goes on and the unpaid one stays held, with the reason
    assert _messages(response, message_levels.SUCCESS) == [f"Released: {paid.number}."]
    errors = _messages(response, message_levels.ERROR)
    assert len(errors) == 1
    assert errors[0].startswith(f"{unpaid.number}: Order {unpaid.number} is held for payment")
    assert _snapshot(unpaid) == before
    assert Order.objects.get(pk=paid.pk).status != OrderStatus.ON_HOLD


def test_once_the_customer_paid_again_the_hold_can_be_released(
    catalogue, django_capture_on_commit_callbacks, mailoutbox
):
    # given an order held for a declined card and for a manual check, so paying again does
    # not release it by itself
    order = _held_for_a_declined_card(django_capture_on_commit_callbacks)
    order_services.order_hold(order_id=order.pk, actor="test", note="call the customer")
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_pay_again(
            order_id=order.pk, card=CardDetails(token="tok_visa"), actor="customer"
        )
    assert payment.status == P.AUTHORIZED
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert sorted(order.active_hold_reasons()) == [HoldReason.MANUAL, HoldReason.PAYMENT_FAILED]

    # when customer service releases it
    with django_capture_on_commit_callbacks(execute=True):
        order_services.order_release(
            order_id=order.pk, actor=staff_user(CUSTOMER_SERVICE), note="called, all fine"
        )

    # then it is confirmed, the customer told, and the new card captured
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.READY
    assert order.active_hold_reasons() == []
    assert Payment.objects.get(pk=payment.pk).status == P.CAPTURED
    assert f"Your order {order.number} is confirmed" in {m.subject for m in mailoutbox}


@pytest.mark.parametrize("status", [P.AUTHORIZED, P.CAPTURED])
def test_an_authorised_or_captured_payment_lets_the_payment_hold_go(
    catalogue, django_capture_on_commit_callbacks, status
):
    # given an order held for payment whose new card payment came through (recorded as the
    # provider's webhook would)
    order = _held_for_a_declined_card(django_capture_on_commit_callbacks)
    Payment.objects.create(
        order=order,
        method="card",
        provider="test",
        amount=order.grand_total,
        amount_captured=order.grand_total if status == P.CAPTURED else 0,
        currency=order.currency,
        status=status,
    )

    # when / then
    released = order_services.order_release(order_id=order.pk, actor="support")
    assert released.status == OrderStatus.CONFIRMED
    assert released.events.filter(type=EventType.RELEASED).exists()


def test_invoice_terms_over_the_limit_are_released_once_finance_raises_it(
    catalogue, business, django_capture_on_commit_callbacks, mailoutbox
):
    # given an invoice order held because it takes the customer over the credit limit
    with django_capture_on_commit_callbacks(execute=True):
        place_order([("MUG-001", 29)], email="buyer@acme.example", payment=INVOICE)
        order = place_order([("MUG-001", 21)], email="buyer@acme.example", payment=INVOICE).order
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    before = _snapshot(order)
    support = staff_user(CUSTOMER_SERVICE)

    # when customer service releases it, it is refused: Finance decides about credit
    with pytest.raises(PaymentNotSecured) as refused:
        order_services.order_release(order_id=order.pk, actor=support)
    assert "Over the credit limit" in refused.value.message
    assert "Payments → Credit accounts" in refused.value.message
    assert _snapshot(order) == before

    # when Finance raises the limit, the release goes through and the invoice is issued
    CreditAccount.objects.filter(customer=business).update(credit_limit=1000)
    with django_capture_on_commit_callbacks(execute=True):
        order_services.order_release(order_id=order.pk, actor=support, note="limit raised")
    order.refresh_from_db()
    assert order.status == OrderStatus.READY
    assert Payment.objects.get(order=order).status == P.INVOICED
    assert f"Your order {order.number} is confirmed" in {m.subject for m in mailoutbox}


def test_a_hold_for_another_reason_is_released_as_before(
    catalogue, django_capture_on_commit_callbacks
):
    # given a paid order held by hand (the payment check has nothing to say about it)
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order().order
    order_services.order_hold(order_id=order.pk, actor="test", reason=HoldReason.FRAUD_RISK)

    # when / then
    released = order_services.order_release(order_id=order.pk, actor="support")
    assert released.status != OrderStatus.ON_HOLD


def test_releasing_a_manual_hold_on_a_received_order_whose_card_was_declined_runs_the_review(
    catalogue, django_capture_on_commit_callbacks
):
    # given an order whose card was declined, held by hand while still `received` (its
    # review had not run yet: the broker was down, say)
    order = place_order([("MUG-001", 2)], payment=DECLINED).order
    assert Order.objects.get(pk=order.pk).status == OrderStatus.RECEIVED
    support = staff_user(CUSTOMER_SERVICE)
    order_services.order_hold(order_id=order.pk, actor=support, note="customer called")

    # when customer service releases it
    with django_capture_on_commit_callbacks(execute=True):
        order_services.order_release(order_id=order.pk, actor=support, note="all fine")

    # then it is not confirmed: the review ran, and its payment check held it for payment
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    assert order.confirmed_at is None
    payment_check = order.events.get(type=EventType.REVIEW_CHECK, data__check="payment")
    assert payment_check.data["passed"] is False
    assert not Notification.objects.filter(order=order, kind="order_confirmation").exists()
    assert Payment.objects.get(order=order).status == P.FAILED


def _held_by_review_for(reason: str, settings) -> Order:
    # given an order the review held for its address or a fraud risk, its card authorised
    if reason == HoldReason.FRAUD_RISK:
        settings.FRAUD_SCORE_THRESHOLD = 30  # a new customer scores 30
        order = place_order([("MUG-001", 1)]).order
    else:
        address = order_services.AddressInput(
            name="A", line1="Street 1", city="Berlin", postal_code="1234", country="DE"
        )
        order = place_order([("MUG-001", 1)], shipping_address=address).order
    order_services.order_review(order_id=order.pk)
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.active_hold_reasons() == [reason]
    assert Payment.objects.get(order=order).status == P.AUTHORIZED
    return order


@pytest.mark.parametrize("reason", [HoldReason.ADDRESS_INVALID, HoldReason.FRAUD_RISK])
def test_a_hold_for_another_reason_is_not_released_once_nothing_pays_for_the_order(
    catalogue, django_capture_on_commit_callbacks, settings, reason
):
    # given an order held by the review for another reason, whose authorisation Finance then
    # gave back (so the order has no payment, and no payment hold either)
    order = _held_by_review_for(reason, settings)
    finance = staff_user(FINANCE)
    payment_void(payment_id=Payment.objects.get(order=order).pk, actor=finance)
    assert Payment.objects.get(order=order).status == P.VOIDED
    before = _snapshot(order)

    # when customer service releases it
    with (
        pytest.raises(PaymentNotSecured) as refused,
        django_capture_on_commit_callbacks(execute=True),
    ):
        order_services.order_release(order_id=order.pk, actor=staff_user(CUSTOMER_SERVICE))

    # then it is refused, says why and what to do, and nothing changed
    message = refused.value.message
    assert message.startswith(f"Order {order.number} cannot be released until it is paid:")
    assert "Awaiting payment" in message
    assert "Release it again once the customer has paid" in message
    assert _snapshot(order) == before
    assert not Notification.objects.filter(order=order, kind="order_confirmation").exists()


def test_a_hold_from_before_the_payment_was_secured_is_not_released_unpaid(
    catalogue, django_capture_on_commit_callbacks
):
    # given a confirmed order (its capture not run yet) held by hand, whose authorisation
    # was then given back
    with payment_securing_deferred():
        order = place_order([("MUG-001", 1)]).order
        order_services.order_review(order_id=order.pk)
    order_services.order_hold(order_id=order.pk, actor="test", note="call the customer")
    assert Order.objects.get(pk=order.pk).held_from == OrderStatus.CONFIRMED
    payment_void(payment_id=Payment.objects.get(order=order).pk, actor="test")
    before = _snapshot(order)

    # when / then
    with pytest.raises(PaymentNotSecured):
        order_services.order_release(order_id=order.pk, actor=staff_user(FINANCE))
    assert _snapshot(order) == before

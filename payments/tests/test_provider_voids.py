"""The provider cancels a card authorisation (its webhook says so) before the payment was
secured: the customer is emailed the link to pay again, the order is held for payment (a
received one is left to the review), and nothing confirms it unpaid."""

import pytest

from orders import services as order_services
from orders.models import EventType, HoldReason, Notification, Order, OrderStatus
from orders.permissions import CUSTOMER_SERVICE
from orders.services import AddressInput
from orders.tests.factories import (
    authorisation_cancelled_at_provider,
    payment_securing_deferred,
    place_order,
    staff_user,
)
from payments.models import Payment, PaymentStatus
from payments.providers.base import CardDetails, WebhookEvent
from payments.services import PaymentNotSecured, payment_pay_again
from payments.webhooks import webhook_receive

pytestmark = pytest.mark.django_db
P = PaymentStatus
VISA = CardDetails(token="tok_visa")
UNDELIVERABLE = AddressInput(
    name="A", line1="Street 1", city="Berlin", postal_code="1234", country="DE"
)


def _provider_cancels(payment: Payment) -> None:
    """The provider's webhook: it cancelled this authorisation."""
    event = WebhookEvent(
        event_id=f"evt_cancelled_{payment.pk}",
        type="payment_intent.canceled",
        reference=payment.provider_reference,
        payload={"data": {"object": {"id": payment.provider_reference}}},
    )
    assert webhook_receive(provider=payment.provider, event=event) == "voided"


def _pay_again_email(order: Order) -> Notification:
    email = Notification.objects.get(order=order, kind="payment_failed", channel="email")
    assert "/orders/pay/" in email.context["pay_url"]
    assert email.context["reason"] == "The authorisation on your card was cancelled."
    return email


def test_a_cancelled_authorisation_holds_an_order_held_for_its_address_for_payment_too(
    catalogue, django_capture_on_commit_callbacks, mailoutbox
):
    # given an order the review held for its address, its card authorised
    order = place_order([("MUG-001", 1)], shipping_address=UNDELIVERABLE).order
    order_services.order_review(order_id=order.pk)
    authorised = Payment.objects.get(order=order)
    assert authorised.status == P.AUTHORIZED

    # when the provider reports that it cancelled the authorisation
    with django_capture_on_commit_callbacks(execute=True):
        authorisation_cancelled_at_provider(order)

    # then the payment is voided, the order is held for payment as well, and the customer
    # is sent the link to pay again
    assert Payment.objects.get(pk=authorised.pk).status == P.VOIDED
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert sorted(order.active_hold_reasons()) == [
        HoldReason.ADDRESS_INVALID,
        HoldReason.PAYMENT_FAILED,
    ]
    assert _pay_again_email(order).status == "sent"
    assert f"Payment for order {order.number} did not go through" in {m.subject for m in mailoutbox}

    # and releasing the address hold is refused until the customer has paid again
    support = staff_user(CUSTOMER_SERVICE)
    with pytest.raises(PaymentNotSecured, match="held for payment"):
        order_services.order_release(order_id=order.pk, actor=support, note="address fixed")
    with django_capture_on_commit_callbacks(execute=True):
        payment_pay_again(order_id=order.pk, card=VISA, actor="customer")
        order_services.order_release(order_id=order.pk, actor=support, note="address fixed")
    order.refresh_from_db()
    assert order.status == OrderStatus.READY
    assert order.payments.get(status=P.CAPTURED).pk != authorised.pk


def test_a_cancelled_authorisation_holds_a_confirmed_order_and_paying_again_lets_it_go_on(
    catalogue, django_capture_on_commit_callbacks
):
    # given a confirmed order whose capture has not run yet
    with payment_securing_deferred():
        order = place_order([("MUG-001", 1)]).order
        order_services.order_review(order_id=order.pk)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CONFIRMED

    # when the provider reports that it cancelled the authorisation
    authorisation_cancelled_at_provider(order)

    # then the order is held for payment and the customer asked to pay again
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert (order.status, order.held_from) == (OrderStatus.ON_HOLD, OrderStatus.CONFIRMED)
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    _pay_again_email(order)

    # and once the customer pays again, it goes on by itself
    with django_capture_on_commit_callbacks(execute=True):
        payment_pay_again(order_id=order.pk, card=VISA, actor="customer")
    order.refresh_from_db()
    assert order.status == OrderStatus.READY


def test_a_cancelled_authorisation_on_a_received_order_is_left_to_the_review(
    catalogue, django_capture_on_commit_callbacks
):
    # given an order not reviewed yet, its card authorised
    order = place_order([("MUG-001", 1)]).order

    # when the provider cancels the authorisation, through its webhook
    _provider_cancels(Payment.objects.get(order=order))

    # then the customer is asked to pay again, and the order waits for its review, which
    # holds it for payment
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.RECEIVED
    _pay_again_email(order)
    order = order_services.order_review(order_id=order.pk)
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    assert not order.events.filter(type=EventType.CONFIRMED).exists()


def test_a_cancelled_authorisation_asks_nothing_of_a_customer_who_paid_another_way(catalogue):
    # given a confirmed order with two authorised cards (a retried authorisation)
    with payment_securing_deferred():
        order = place_order([("MUG-001", 1)]).order
        order_services.order_review(order_id=order.pk)
    first = Payment.objects.get(order=order)
    Payment.objects.create(
        order=order,
        method="card",
        provider="test",
        amount=order.grand_total,
        currency=order.currency,
        status=P.AUTHORIZED,
    )

    # when the provider cancels one of them
    _provider_cancels(first)

    # then the other still pays for the order: no hold, no email
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.CONFIRMED
    assert not Notification.objects.filter(order=order, kind="payment_failed").exists()

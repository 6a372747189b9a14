"""Stripe through the official library against a local fake server; webhooks verified,
deduplicated and applied once."""

import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
from django.urls import reverse

from orders.models import EventType, HoldReason, Notification, Order, OrderStatus
from orders.services import order_cancel, order_hold, order_review
from orders.tests.factories import (
    authorisation_cancelled_at_provider,
    payment_securing_deferred,
    place_order,
)
from payments import services
from payments.models import Payment, PaymentStatus, ProviderEvent, Refund
from payments.providers.base import CardDetails, InvalidPaymentDetails, ProviderUnavailable
from payments.providers.stripe import StripeGateway
from payments.services import PaymentInput

pytestmark = pytest.mark.django_db
P = PaymentStatus
WEBHOOK_URL = "/payments/webhooks/stripe/"


def _stripe_order(capture, pm: str = "pm_card_visa") -> Order:
    with capture(execute=True):
        order = place_order(
            [("MUG-001", 2)], payment=PaymentInput(method="card", card=CardDetails(token=pm))
        ).order
    return Order.objects.prefetch_related("holds").get(pk=order.pk)


def test_authorise_capture_and_refund_through_stripe(
    catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    order = _stripe_order(django_capture_on_commit_callbacks)
    assert order.status == OrderStatus.READY
    payment = Payment.objects.get(order=order)
    assert payment.status == P.CAPTURED
    assert payment.provider == "stripe"
    created = fake_stripe.calls("/v1/payment_intents")[0]
    assert created["form"]["amount"] == "2500"
    assert created["form"]["capture_method"] == "manual"
    assert created["form"]["payment_method"] == "pm_card_visa"
    assert created["key"] == f"payment-{payment.pk}-authorize"
    capture = fake_stripe.calls(f"/v1/payment_intents/{payment.provider_reference}/capture")
    assert [c["key"] for c in capture] == [f"payment-{payment.pk}-capture"]
    # refund part of it
    with django_capture_on_commit_callbacks(execute=True):
        refund = services.refund_create(
            payment_id=payment.pk,
            amount="7.50",
            reason="Dented",
            actor="finance",
            idempotency_key="r1",
        )
    refund.refresh_from_db()
    assert refund.provider_reference.startswith("re_")
    sent = fake_stripe.calls("/v1/refunds")
    assert [(c["form"]["amount"], c["form"]["payment_intent"]) for c in sent] == [
        ("750", payment.provider_reference)
    ]
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (P.PARTIALLY_REFUNDED, Decimal("7.50"))


def test_a_stripe_decline_holds_the_order(
    catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    order = _stripe_order(django_capture_on_commit_callbacks, pm="pm_card_chargeDeclined")
    payment = Payment.objects.get(order=order)
    assert (payment.status, payment.failure_code) == (P.FAILED, "generic_decline")
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]


def test_stripe_takes_no_card_numbers(catalogue, fake_stripe):
    with pytest.raises(InvalidPaymentDetails, match="never a card number"):
        place_order(
            payment=PaymentInput(
                method="card",
                card=CardDetails(number="4242424242424242", exp_month=1, exp_year=2030, cvc="1"),
            )
        )
    assert fake_stripe.requests == []


def test_stripe_being_down_is_retried_with_the_same_key(catalogue, fake_stripe):
    fake_stripe.fail_next = 1
    gateway = StripeGateway()
    with pytest.raises(ProviderUnavailable):
        gateway.authorize(
            token="pm_card_visa",
            amount=Decimal("10"),
            currency="EUR",
            idempotency_key="k-1",
            metadata={},
        )
    first = gateway.authorize(
        token="pm_card_visa",
        amount=Decimal("10"),
        currency="EUR",
        idempotency_key="k-1",
        metadata={},
    )
    again = gateway.authorize(
        token="pm_card_visa",
        amount=Decimal("10"),
        currency="EUR",
        idempotency_key="k-1",
        metadata={},
    )
    assert first.success and first.reference == again.reference
    assert len(fake_stripe.intents) == 1


def test_cancel_voids_at_stripe(
    catalogue, fake_stripe, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("payments.tasks.secure_order_payment.delay", lambda order_id: None)
    order = _stripe_order(django_capture_on_commit_callbacks)
    payment = Payment.objects.get(order=order)
    assert payment.status == P.AUTHORIZED
    with django_capture_on_commit_callbacks(execute=True):
        order_cancel(order_id=order.pk, actor="customer")
    assert fake_stripe.intents[payment.provider_reference]["status"] == "canceled"
    assert Payment.objects.get(pk=payment.pk).status == P.VOIDED


# --- webhooks -----------------------------------------------------------------------------


def _sign(payload: bytes, secret: str = "whsec_test_secret", timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def _event(event_id: str, type_: str, obj: dict) -> bytes:
    return json.dumps(
        {"id": event_id, "object": "event", "type": type_, "data": {"object": obj}}
    ).encode()


def test_a_signed_webhook_is_applied_once_even_when_sent_five_times(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    order = _stripe_order(django_capture_on_commit_callbacks)
    payment = Payment.objects.get(order=order)
    # a refund of 5.00 made in the Stripe dashboard
    body = _event(
        "evt_1",
        "charge.refunded",
        {
            "id": "ch_1",
            "object": "charge",
            "payment_intent": payment.provider_reference,
            "amount_refunded": 500,
        },
    )
    answers = [
        client.post(
            WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=_sign(body)
        )
        for _ in range(5)
    ]
    assert [a.status_code for a in answers] == [200] * 5
    assert answers[0].json()["result"] == "refund of 5.00 recorded"
    assert {a.json()["result"] for a in answers[1:]} == {"duplicate"}
    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("5.00")
    assert Refund.objects.filter(payment=payment).count() == 1
    assert ProviderEvent.objects.filter(event_id="evt_1").count() == 1
    assert order.events.filter(type=EventType.REFUND_ISSUED).count() == 1


def test_a_webhook_with_a_bad_signature_is_rejected(client, catalogue, fake_stripe):
    body = _event("evt_2", "charge.refunded", {"payment_intent": "pi_1", "amount_refunded": 100})
    response = client.post(
        WEBHOOK_URL,
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=_sign(body, secret="whsec_wrong"),
    )
    assert response.status_code == 400
    assert not ProviderEvent.objects.exists()


def test_a_webhook_with_a_stale_timestamp_is_rejected(client, catalogue, fake_stripe):
    body = _event("evt_3", "charge.refunded", {"payment_intent": "pi_1", "amount_refunded": 100})
    stale = _sign(body, timestamp=int(time.time()) - 3600)
    response = client.post(
        WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=stale
    )
    assert response.status_code == 400
    assert not ProviderEvent.objects.exists()


@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_STRIPE_SIGNATURE": "garbage"}, {"HTTP_STRIPE_SIGNATURE": "t=1,v1="}],
)
def test_unsigned_or_malformed_webhooks_are_rejected(client, fake_stripe, headers):
    response = client.post(WEBHOOK_URL, b"{not json", content_type="application/json", **headers)
    assert response.status_code == 400


def test_the_webhook_only_takes_post(client, fake_stripe):
    assert client.get(WEBHOOK_URL).status_code == 405


def test_a_cancelled_intent_voids_the_payment(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr("payments.tasks.secure_order_payment.delay", lambda order_id: None)
    order = _stripe_order(django_capture_on_commit_callbacks)
    payment = Payment.objects.get(order=order)
    body = _event(
        "evt_4",
        "payment_intent.canceled",
        {"id": payment.provider_reference, "object": "payment_intent"},
    )
    response = client.post(
        WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=_sign(body)
    )
    assert response.json()["result"] == "voided"
    assert Payment.objects.get(pk=payment.pk).status == P.VOIDED


def test_webhook_url_is_named():
    assert reverse("payments:stripe-webhook") == WEBHOOK_URL


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'{"id": "evt_9", "type": "charge.refunded", "data": []}',
        b'{"id": "evt_9", "type": "charge.refunded", "data": {"object": {"payment_intent": "pi_1",'
        b' "amount_refunded": "abc"}}}',
    ],
)
def test_signed_but_odd_webhooks_never_give_a_server_error(client, fake_stripe, body):
    response = client.post(
        WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=_sign(body)
    )
    assert response.status_code in (200, 400)


def _pending_stripe_payment(order: Order, reference: str) -> Payment:
    # given: a card payment the provider has not answered for yet (the placement's
    # authorisation is still on its way)
    return Payment.objects.create(
        order=order,
        method="card",
        provider="stripe",
        amount=order.grand_total,
        currency=order.currency,
        provider_reference=reference,
    )


def _payment_failed(client, capture, payment: Payment, event_id: str):
    body = _event(
        event_id,
        "payment_intent.payment_failed",
        {
            "id": payment.provider_reference,
            "object": "payment_intent",
            "last_payment_error": {"code": "card_declined", "message": "Your card was declined."},
        },
    )
    with capture(execute=True):
        return client.post(
            WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=_sign(body)
        )


def test_a_failed_payment_webhook_leaves_a_received_order_to_the_review_and_tells_the_customer_once(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    order = place_order(payment=None).order
    payment = _pending_stripe_payment(order, "pi_failing")
    assert order.status == OrderStatus.RECEIVED
    # when the provider reports the failure, then again (a replay, and a second event)
    answers = [
        _payment_failed(client, django_capture_on_commit_callbacks, payment, event_id)
        for event_id in ("evt_fail_1", "evt_fail_1", "evt_fail_2")
    ]
    assert [a.json()["result"] for a in answers] == [
        "failed",
        "duplicate",
        "ignored: nothing to change",
    ]
    payment.refresh_from_db()
    assert (payment.status, payment.failure_code) == (P.FAILED, "card_declined")
    # then the order waits for its review, not held (held now, paying again would release it
    # to confirmed with the fraud, address and limit checks never run)
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.RECEIVED
    assert order.active_hold_reasons() == []
    failed = Notification.objects.get(order=order, kind="payment_failed", channel="email")
    assert failed.status == "sent"
    assert "/orders/pay/" in failed.body_text
    assert order.events.filter(type=EventType.PAYMENT_FAILED).count() == 1
    # and the review's payment check, after the other checks, holds it for payment
    order_review(order_id=order.pk, actor="review")
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    checks = order.events.filter(type=EventType.REVIEW_CHECK).values_list("data", flat=True)
    assert {check["check"] for check in checks} > {"payment"}


def test_a_failed_payment_webhook_holds_a_confirmed_order(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    # given: a confirmed order whose card authorisation the provider cancelled before the
    # capture, and a new card payment the provider has not answered for yet
    order = place_order().order
    with payment_securing_deferred():
        order_review(order_id=order.pk, actor="review")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CONFIRMED
    authorisation_cancelled_at_provider(order)
    payment = _pending_stripe_payment(order, "pi_failing_confirmed")
    # when the provider reports the failure
    answer = _payment_failed(client, django_capture_on_commit_callbacks, payment, "evt_fail_4")
    # then the order is held for payment, in the webhook's own transaction
    assert answer.json()["result"] == "failed"
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert order.held_from == OrderStatus.CONFIRMED
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]


def test_a_failed_payment_webhook_adds_the_payment_reason_to_an_order_already_held(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    order = place_order(payment=None).order
    order_hold(order_id=order.pk, actor="support", reason=HoldReason.MANUAL, note="check it")
    payment = _pending_stripe_payment(order, "pi_failing_held")
    answer = _payment_failed(client, django_capture_on_commit_callbacks, payment, "evt_fail_3")
    assert answer.json()["result"] == "failed"
    assert Payment.objects.get(pk=payment.pk).status == P.FAILED
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert sorted(order.active_hold_reasons()) == [HoldReason.MANUAL, HoldReason.PAYMENT_FAILED]
    assert Notification.objects.filter(order=order, kind="payment_failed").count() == 1


def test_a_failed_payment_webhook_does_not_hold_an_order_twice_for_payment(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    # given: an order the review held for payment, with a card payment still pending
    order = place_order(payment=None).order
    order_review(order_id=order.pk, actor="review")
    payment = _pending_stripe_payment(order, "pi_failing_again")
    answer = _payment_failed(client, django_capture_on_commit_callbacks, payment, "evt_fail_5")
    assert answer.json()["result"] == "failed"
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]


def test_a_failed_payment_webhook_does_not_hold_an_order_another_payment_covers(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    # given: a confirmed order paid by an authorised card, and an older attempt still pending
    order = place_order().order
    order_review(order_id=order.pk, actor="review")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CONFIRMED
    payment = _pending_stripe_payment(order, "pi_abandoned")
    # when the provider reports that older attempt failed
    answer = _payment_failed(client, django_capture_on_commit_callbacks, payment, "evt_fail_6")
    # then the payment is recorded as failed, and the paid order goes on, not held
    assert answer.json()["result"] == "failed"
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status != OrderStatus.ON_HOLD
    assert order.active_hold_reasons() == []
    assert not Notification.objects.filter(order=order, kind="payment_failed").exists()


# --- webhooks from anyone: malformed headers and bodies -------------------------------------


def _signature_header_cases(body: bytes, now: int) -> dict[str, str]:
    good = _sign(body, timestamp=now).split("v1=", 1)[1]
    return {
        "non-ASCII v1": f"t={now},v1=é{good[1:]}",
        "400-digit t": f"t={'9' * 400},v1={good}",
        "Arabic-Indic digits in t": f"t={'٣' * 10},v1={good}",
        "non-ASCII elsewhere": f"t={now},v1={good},v0=ü",
        "t twice": f"t={now},t={now},v1={good}",
        "a signature from the future": _sign(body, timestamp=now + 3600),
        "huge header": f"t={now},v1={good},v0={'a' * 5000}",
        "six v1 values": f"t={now}" + f",v1={'0' * 64}" * 5 + f",v1={good}",
    }


@pytest.mark.parametrize("case", list(_signature_header_cases(b"", 0)))
def test_malformed_signature_headers_are_400_and_store_nothing(client, fake_stripe, case):
    body = _event("evt_h", "charge.refunded", {"payment_intent": "pi_1", "amount_refunded": 1})
    header = _signature_header_cases(body, int(time.time()))[case]
    response = client.post(
        WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "bad_signature"
    assert not ProviderEvent.objects.exists()


def test_several_v1_values_and_spaces_are_read_like_stripe_sends_them(client, fake_stripe):
    body = _event("evt_r", "charge.refunded", {"payment_intent": "pi_none"})
    now = int(time.time())
    good = _sign(body, timestamp=now).split("v1=", 1)[1]
    header = f"t={now}, v1={'0' * 64}, v1={good}, v0={'1' * 64}"
    response = client.post(
        WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=header
    )
    assert response.status_code == 200, response.content
    assert ProviderEvent.objects.filter(event_id="evt_r").count() == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"\xff\xfe{\x00}\x00", 400),  # UTF-16
        (b"{not json", 400),
        (b'"event"', 400),
        (b'{"id": "evt_n", "type": "charge.refunded", "data": {"object": {"x": "\\u0000"}}}', 400),
        (b'{"id": "' + b"e" * 129 + b'", "type": "charge.refunded"}', 400),
        (b'{"id": "evt_d", "type": "x", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400),
        (b"[" * 300_000, 413),
    ],
    ids=["utf-16", "not json", "not an object", "NUL", "long id", "deep", "too large"],
)
def test_signed_bodies_that_are_not_an_event_are_refused_and_store_nothing(
    client, fake_stripe, body, status
):
    response = client.post(
        WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=_sign(body)
    )
    assert response.status_code == status, response.content
    assert set(response.json()["error"]) == {"code", "message", "fields"}
    assert not ProviderEvent.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        _event("evt_\ud800", "charge.refunded", {"payment_intent": "pi_1"}),
        _event("evt_s", "charge.refunded", {"payment_intent": "pi_1", "note": "\udc00"}),
        _event("evt_s", "charge.refunded", {"payment_intent": "pi_\ud800"}),
    ],
    ids=["in the id", "in the payload", "in the reference"],
)
def test_a_signed_event_with_an_escaped_lone_surrogate_is_400_and_stores_nothing(
    client, fake_stripe, body
):
    response = client.post(
        WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=_sign(body)
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "bad_json"
    assert not ProviderEvent.objects.exists()


def test_an_absurd_declared_length_is_413_and_stores_nothing(client, fake_stripe):
    body = _event("evt_len", "charge.refunded", {"payment_intent": "pi_1"})
    response = client.post(
        WEBHOOK_URL,
        body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=_sign(body),
        CONTENT_LENGTH="9" * 5000,
    )
    assert response.status_code == 413, response.content
    assert response.json()["error"]["code"] == "too_large"
    assert not ProviderEvent.objects.exists()


def _refunded_event(payment: Payment, event_id: str, amount_refunded: object) -> bytes:
    obj = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": payment.provider_reference,
        "amount_refunded": amount_refunded,
    }
    return _event(event_id, "charge.refunded", obj)


@pytest.mark.parametrize(
    "amount_refunded",
    ["٣", "５00", 5.5, 500.0, True, -500, "-500", " 500", [500], {"cents": 500}, "9" * 5000],
    ids=lambda value: repr(value)[:12],
)
def test_a_refunded_amount_that_is_not_whole_cents_is_recorded_as_ignored(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, amount_refunded
):
    payment = Payment.objects.get(order=_stripe_order(django_capture_on_commit_callbacks))
    body = _refunded_event(payment, "evt_amount", amount_refunded)
    response = client.post(
        WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=_sign(body)
    )
    assert response.status_code == 200, response.content
    assert response.json()["result"] == (
        "ignored: amount_refunded is not a whole number of cents (a JSON integer, 0 or more)"
    )
    assert ProviderEvent.objects.get(event_id="evt_amount").result == response.json()["result"]
    assert not Refund.objects.exists()
    assert Payment.objects.get(pk=payment.pk).amount_refunded == 0


@pytest.mark.parametrize("amount_refunded", [500, "500"], ids=repr)
def test_a_refunded_amount_in_whole_cents_is_recorded(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, amount_refunded
):
    payment = Payment.objects.get(order=_stripe_order(django_capture_on_commit_callbacks))
    body = _refunded_event(payment, "evt_cents", amount_refunded)
    response = client.post(
        WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=_sign(body)
    )
    assert response.json()["result"] == "refund of 5.00 recorded"


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1" + b"0" * 400 + b".0"])
def test_a_number_too_large_for_a_float_is_400_and_stores_nothing(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, number
):
    payment = Payment.objects.get(order=_stripe_order(django_capture_on_commit_callbacks))
    body = _refunded_event(payment, "evt_inf", 0).replace(
        b'"amount_refunded": 0', b'"amount_refunded": ' + number
    )
    assert number in body
    response = client.post(
        WEBHOOK_URL, body, content_type="application/json", HTTP_STRIPE_SIGNATURE=_sign(body)
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "bad_json"
    assert not ProviderEvent.objects.exists()
    assert not Refund.objects.exists()

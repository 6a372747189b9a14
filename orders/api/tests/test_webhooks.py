"""Partner webhooks: written in the event's transaction, sent after the commit, signed,
retried on 5xx and timeouts with backoff, never retried on 4xx, and every attempt logged."""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from orders.api import services, webhooks
from orders.api.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from orders.api.tasks import deliver_webhook
from orders.api.tests.conftest import ORDERS_URL, order_body
from orders.broker import broker_reset
from orders.exceptions import DomainError
from orders.models import Order
from orders.services import order_cancel
from orders.tasks import relay_outbox
from orders.tests.factories import place_order

pytestmark = pytest.mark.django_db


def _endpoint(partner, url, events=("order.created",)):
    return services.webhook_endpoint_create(partner=partner, url=url, events=list(events))


def _place(client, capture, **body):
    with capture(execute=True):
        response = client.post_order(order_body(**body), key=body.get("external_reference", "k"))
    assert response.status_code == 201, response.json()
    return Order.objects.get(number=response.json()["number"])


def _time_passes(delta: timedelta) -> None:
    """Move every delivery's clock back by `delta`, as if that much time had gone by."""
    WebhookDelivery.objects.update(
        created_at=F("created_at") - delta,
        next_attempt_at=F("next_attempt_at") - delta,
        retry_until=F("retry_until") - delta,
    )


def verify_like_a_partner(body: bytes, header: str, secret: str, tolerance: int = 300) -> bool:
    """A receiver written from the README alone: X-Signature: t=<unix>,v1=<hex HMAC-SHA256
    of "<t>.<body>"> with the endpoint's secret; refuse old timestamps."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    timestamp = parts["t"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    fresh = abs(time.time() - int(timestamp)) <= tolerance
    return fresh and hmac.compare_digest(expected.hexdigest(), parts["v1"])


# --- fan-out ------------------------------------------------------------------------------


def test_a_delivery_is_written_for_each_subscribed_endpoint_of_the_partner(
    catalogue, acme, globex, settings
):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = True
    created = _endpoint(acme.partner, "http://127.0.0.1:9/created")
    _endpoint(acme.partner, "http://127.0.0.1:9/shipped", events=["order.shipped"])
    off = _endpoint(acme.partner, "http://127.0.0.1:9/off")
    WebhookEndpoint.objects.filter(pk=off.pk).update(is_active=False)
    _endpoint(globex.partner, "http://127.0.0.1:9/globex")

    order = Order.objects.get(number=acme.post_order().json()["number"])  # no commit: not sent
    place_order([("MUG-001", 1)])  # a web shop order: no partner, no webhook

    [delivery] = WebhookDelivery.objects.all()
    assert delivery.endpoint == created
    assert delivery.order == order
    assert (delivery.event, delivery.status, delivery.attempts) == ("order.created", "pending", 0)
    assert delivery.retry_until - delivery.created_at == timedelta(days=3)
    payload = delivery.payload
    assert payload["id"] == str(delivery.pk)
    assert payload["type"] == "order.created"
    assert payload["data"]["order"] == {
        "number": order.number,
        "status": "received",
        "external_reference": "acme-1001",
        "grand_total": "25.00",
        "currency": "EUR",
    }


def test_the_webhook_is_sent_only_after_the_commit_and_signed(
    catalogue, acme, receiver, django_capture_on_commit_callbacks
):
    endpoint = _endpoint(acme.partner, receiver.url)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = acme.post_order()
    assert response.status_code == 201
    assert receiver.requests == []  # nothing leaves before the commit
    for callback in callbacks:
        callback()

    # the first callbacks run review etc.; the created event went out exactly once
    created = [r for r in receiver.requests if r["headers"]["X-Event-Type"] == "order.created"]
    assert len(created) == 1
    request = created[0]
    headers = request["headers"]
    assert headers["Content-Type"] == "application/json"
    assert verify_like_a_partner(request["body"], headers["X-Signature"], endpoint.secret)
    assert not verify_like_a_partner(
        request["body"] + b" ", headers["X-Signature"], endpoint.secret
    )
    assert not verify_like_a_partner(request["body"], headers["X-Signature"], "whsec_other")
    body = receiver.bodies()[receiver.requests.index(request)]
    assert headers["X-Delivery-Id"] == body["id"]
    assert body["type"] == "order.created"
    assert body["data"]["order"]["number"] == response.json()["number"]
    delivery = WebhookDelivery.objects.get(pk=body["id"])
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None
    [attempt] = delivery.log.all()
    assert (attempt.number, attempt.status_code, attempt.error) == (1, 200, "")
    assert attempt.response_excerpt == "answered 200"


def test_the_lifecycle_events_follow_the_order(
    catalogue, acme, receiver, django_capture_on_commit_callbacks
):
    _endpoint(acme.partner, receiver.url, events=sorted(webhooks.WEBHOOK_EVENTS))
    order = _place(
        acme, django_capture_on_commit_callbacks, payment={"method": "card", "token": "tok_visa"}
    )
    types = [body["type"] for body in receiver.bodies()]
    assert types == ["order.created", "order.confirmed", "payment.captured"]
    captured = receiver.bodies()[2]
    assert captured["data"]["amount"] == "25.00"
    assert captured["data"]["order"]["number"] == order.number

    with django_capture_on_commit_callbacks(execute=True):
        acme.client.post(f"{ORDERS_URL}{order.number}/cancel/", {"reason": "No"}, format="json")
    assert [b["type"] for b in receiver.bodies()][3:] == ["order.cancelled", "payment.refunded"]
    cancelled = receiver.bodies()[3]
    assert cancelled["data"]["reason"] == "No"
    assert cancelled["data"]["order"]["status"] == "cancelled"


def test_a_declined_card_tells_the_partner_the_order_is_on_hold(
    catalogue, acme, receiver, django_capture_on_commit_callbacks
):
    _endpoint(acme.partner, receiver.url, events=["order.on_hold"])
    _place(
        acme,
        django_capture_on_commit_callbacks,
        payment={"method": "card", "token": "tok_chargeDeclined"},
    )
    [body] = receiver.bodies()
    assert body["type"] == "order.on_hold"
    assert body["data"]["reasons"] == ["payment_failed"]


def test_a_broken_subscriber_never_breaks_the_order(catalogue, acme, monkeypatch, settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = True
    _endpoint(acme.partner, "http://127.0.0.1:9/x")

    def broken(*args, **kwargs):
        raise RuntimeError("bug in webhooks")

    monkeypatch.setattr(webhooks, "_write_deliveries", broken)
    response = acme.post_order()
    assert response.status_code == 201
    assert Order.objects.count() == 1
    assert not WebhookDelivery.objects.exists()


def test_a_failed_hand_over_after_the_commit_never_breaks_the_order(
    catalogue, acme, monkeypatch, settings, caplog, django_capture_on_commit_callbacks
):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = True
    _endpoint(acme.partner, "http://127.0.0.1:9/x")

    def broken(*args, **kwargs):
        raise RuntimeError("bug in the hand-over")

    monkeypatch.setattr(webhooks, "enqueue", broken)
    order = _place(acme, django_capture_on_commit_callbacks)  # 201: the order stands
    assert WebhookDelivery.objects.get(order=order).status == "pending"  # the relay sends it
    assert "Error calling enqueue_deliveries in on_commit()" in caplog.text


# --- retries ------------------------------------------------------------------------------


def test_a_receiver_that_fails_twice_then_succeeds_gets_it_exactly_once_more(
    catalogue, acme, receiver, django_capture_on_commit_callbacks
):
    _endpoint(acme.partner, receiver.url)
    receiver.script.extend([500, 503])

    # the first attempt, right after the commit, fails
    _place(acme, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    wait = delivery.next_attempt_at - timezone.now()
    assert timedelta(seconds=55) < wait <= timedelta(minutes=1)
    assert relay_outbox() == 0  # not due yet

    # a minute later the relay sends it again: 503, and the wait doubles
    _time_passes(timedelta(minutes=1))
    assert relay_outbox() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 2, 503)
    wait = delivery.next_attempt_at - timezone.now()
    assert timedelta(seconds=115) < wait <= timedelta(minutes=2)

    # two minutes later: delivered
    _time_passes(timedelta(minutes=2))
    assert relay_outbox() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 3)

    # and never again
    _time_passes(timedelta(days=1))
    assert relay_outbox() == 0
    assert deliver_webhook(str(delivery.pk)) == "skipped"
    assert len(receiver.requests) == 3
    assert len({r["headers"]["X-Delivery-Id"] for r in receiver.requests}) == 1
    assert len({r["body"] for r in receiver.requests}) == 1
    assert list(delivery.log.values_list("number", "status_code")) == [
        (1, 500),
        (2, 503),
        (3, 200),
    ]


@pytest.mark.parametrize("code", [400, 401, 404, 410, 422])
def test_a_4xx_is_never_retried(
    catalogue, acme, receiver, django_capture_on_commit_callbacks, code
):
    _endpoint(acme.partner, receiver.url)
    receiver.script.append(code)

    _place(acme, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, code)
    assert "not retried" in delivery.last_error
    _time_passes(timedelta(hours=1))
    assert relay_outbox() == 0
    assert deliver_webhook(str(delivery.pk)) == "skipped"
    assert len(receiver.requests) == 1


def test_a_timeout_is_retried(
    catalogue, acme, receiver, settings, django_capture_on_commit_callbacks
):
    settings.PARTNER_WEBHOOK_TIMEOUT = 1
    _endpoint(acme.partner, receiver.url)
    receiver.delay = 1.5

    _place(acme, django_capture_on_commit_callbacks)

    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.last_status_code) == ("pending", None)
    assert delivery.last_error == "Timed out."
    attempt = delivery.log.get()
    assert attempt.duration_ms >= 900
    receiver.delay = 0
    _time_passes(timedelta(minutes=1))
    relay_outbox()
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_a_connection_error_is_retried(catalogue, acme, settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = True
    _endpoint(acme.partner, "http://127.0.0.1:9/nobody-listens")
    acme.post_order()
    delivery = WebhookDelivery.objects.get()

    assert deliver_webhook(str(delivery.pk)) == "pending"

    delivery.refresh_from_db()
    assert delivery.last_error.startswith("ConnectionError")
    assert delivery.log.get().error.startswith("ConnectionError")


def test_failing_deliveries_give_up_after_three_days(catalogue, acme, receiver):
    _endpoint(acme.partner, receiver.url)
    acme.post_order()
    delivery = WebhookDelivery.objects.get()
    receiver.script.extend([500] * 100)

    # retried with backoff, the waits capped at 6 hours, until three days have passed
    waits = []
    while delivery.status == DeliveryStatus.PENDING:
        assert deliver_webhook(str(delivery.pk)) in ("pending", "failed")
        delivery.refresh_from_db()
        if delivery.status == DeliveryStatus.PENDING:
            waits.append(delivery.next_attempt_at - timezone.now())
            _time_passes(delivery.next_attempt_at - timezone.now())
        assert delivery.attempts < 40

    assert delivery.status == DeliveryStatus.FAILED
    assert "Gave up" in delivery.last_error
    assert [round(w.total_seconds() / 60) for w in waits[:5]] == [1, 2, 4, 8, 16]
    assert max(waits) <= timedelta(hours=6)
    assert sum(waits, timedelta()) >= timedelta(days=3) - timedelta(minutes=1)
    assert WebhookAttempt.objects.filter(delivery=delivery).count() == delivery.attempts


def test_a_broker_outage_delays_webhooks_but_does_not_lose_them(
    catalogue, acme, receiver, monkeypatch, django_capture_on_commit_callbacks
):
    _endpoint(acme.partner, receiver.url)

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    with monkeypatch.context() as patched:
        patched.setattr(deliver_webhook, "delay", broker_down)
        _place(acme, django_capture_on_commit_callbacks)  # the request still succeeds
    assert receiver.requests == []
    assert WebhookDelivery.objects.get().status == "pending"

    # the relay sends it once it is overdue (and this process tries the broker again)
    assert relay_outbox() == 0
    _time_passes(timedelta(minutes=1))
    broker_reset()
    assert relay_outbox() == 1
    assert len(receiver.requests) == 1
    assert WebhookDelivery.objects.get().status == "delivered"


def test_two_workers_with_the_same_delivery_send_it_once(catalogue, acme, receiver):
    _endpoint(acme.partner, receiver.url)
    acme.post_order()
    delivery_id = str(WebhookDelivery.objects.get().pk)

    assert deliver_webhook(delivery_id) == "delivered"
    assert deliver_webhook(delivery_id) == "skipped"
    assert len(receiver.requests) == 1


def test_staff_resend_sends_it_again(catalogue, acme, receiver, django_capture_on_commit_callbacks):
    _endpoint(acme.partner, receiver.url)
    receiver.script.append(410)
    _place(acme, django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"

    with django_capture_on_commit_callbacks(execute=True):
        webhooks.webhook_delivery_resend(delivery_id=delivery.pk, actor=None)

    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert len(receiver.requests) == 2
    assert receiver.bodies()[0] == receiver.bodies()[1]  # the same event, the same id
    assert delivery.log.count() == 2


def test_a_disabled_endpoint_gets_nothing_more(catalogue, acme, receiver):
    endpoint = _endpoint(acme.partner, receiver.url)
    acme.post_order()
    services.webhook_endpoint_disable(partner=acme.partner, endpoint_id=endpoint.pk)

    assert deliver_webhook(str(WebhookDelivery.objects.get().pk)) == "skipped"

    assert receiver.requests == []
    assert WebhookDelivery.objects.get().status == "failed"


def test_in_production_private_destinations_are_refused_when_sending(catalogue, acme, settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = True
    _endpoint(acme.partner, "https://localhost:9/x")
    acme.post_order()
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = False

    assert deliver_webhook(str(WebhookDelivery.objects.get().pk)) == "failed"

    delivery = WebhookDelivery.objects.get()
    assert delivery.last_error.startswith("Refused:")


def test_old_delivered_rows_are_purged(catalogue, acme, receiver):
    from orders.api.tasks import purge_old_webhook_deliveries

    _endpoint(acme.partner, receiver.url)
    acme.post_order()
    deliver_webhook(str(WebhookDelivery.objects.get().pk))
    WebhookDelivery.objects.update(delivered_at=timezone.now() - timedelta(days=91))

    assert purge_old_webhook_deliveries() == 1
    assert not WebhookAttempt.objects.exists()


# --- the endpoints API --------------------------------------------------------------------

WEBHOOKS_URL = "/api/v1/webhooks/"


def test_a_partner_registers_lists_and_removes_endpoints(catalogue, acme, globex, settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = False
    response = acme.client.post(
        WEBHOOKS_URL,
        {
            "url": "https://hooks.acme.example/orderflow",
            "events": ["order.shipped", "order.created"],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["order.created", "order.shipped"]
    assert response["Location"] == f"{WEBHOOKS_URL}{created['id']}/"

    listed = acme.client.get(WEBHOOKS_URL).json()["results"]
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert acme.client.get(f"{WEBHOOKS_URL}{created['id']}/").json()["url"] == created["url"]
    # another partner cannot see or remove it
    assert globex.client.get(f"{WEBHOOKS_URL}{created['id']}/").status_code == 404
    assert globex.client.delete(f"{WEBHOOKS_URL}{created['id']}/").status_code == 404
    assert globex.client.get(WEBHOOKS_URL).json()["results"] == []

    assert acme.client.delete(f"{WEBHOOKS_URL}{created['id']}/").status_code == 204
    assert acme.client.get(f"{WEBHOOKS_URL}{created['id']}/").status_code == 404
    assert acme.client.delete(f"{WEBHOOKS_URL}{created['id']}/").status_code == 404
    assert not WebhookEndpoint.objects.get(pk=created["id"]).is_active


@pytest.mark.parametrize(
    ("url", "events", "field"),
    [
        ("http://hooks.acme.example/x", ["order.created"], "url"),
        ("https://127.0.0.1/x", ["order.created"], "url"),
        ("https://10.1.2.3/x", ["order.created"], "url"),
        ("https://[::1]/x", ["order.created"], "url"),
        ("https://localhost/x", ["order.created"], "url"),
        ("https://user:pw@hooks.acme.example/x", ["order.created"], "url"),
        ("ftp://hooks.acme.example/x", ["order.created"], "url"),
        ("https://hooks.acme.example/x", [], "events"),
        ("https://hooks.acme.example/x", ["order.exploded"], "events.0"),
    ],
)
def test_endpoints_that_cannot_be_used_are_refused(acme, settings, url, events, field):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = False
    response = acme.client.post(WEBHOOKS_URL, {"url": url, "events": events}, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"], response.json()
    assert not WebhookEndpoint.objects.exists()


def test_a_partner_has_at_most_twenty_endpoints(acme, settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = False
    for i in range(services.MAX_WEBHOOK_ENDPOINTS):
        _endpoint(acme.partner, f"https://hooks.acme.example/{i}")
    response = acme.client.post(
        WEBHOOKS_URL,
        {"url": "https://hooks.acme.example/one-more", "events": ["order.created"]},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "limit_reached"


def test_order_shipped_carries_the_tracking(catalogue, acme, receiver):
    from orders.models import OrderStatus
    from orders.services import order_transition

    _endpoint(acme.partner, receiver.url, events=["order.shipped"])
    order = Order.objects.get(number=acme.post_order().json()["number"])
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.PACKED)
    order.refresh_from_db()
    data = {"carrier": "dhl", "tracking_number": "123", "tracking_url": "https://t/123"}
    order_transition(
        order,
        "ship",
        actor="test",
        event_type="shipped",
        message="Shipped.",
        publish="order.shipped",
        data=data,
        all_shipped=True,
    )
    delivery = WebhookDelivery.objects.get(event="order.shipped")
    deliver_webhook(str(delivery.pk))
    [body] = receiver.bodies()
    assert body["data"]["tracking_number"] == "123"
    assert body["data"]["order"]["status"] == "shipped"


def test_cancelling_in_the_console_tells_the_partner(catalogue, acme, settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = True
    _endpoint(acme.partner, "http://127.0.0.1:9/x", events=["order.cancelled"])
    order = Order.objects.get(number=acme.post_order().json()["number"])

    order_cancel(order_id=order.pk, actor="support", reason="Duplicate")

    delivery = WebhookDelivery.objects.get()
    assert delivery.payload["data"]["reason"] == "Duplicate"


# --- a sender that died mid-send --------------------------------------------------------


def _claimed_by_a_dead_worker(delivery: WebhookDelivery) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING,
        attempts=1,
        next_attempt_at=timezone.now() - timedelta(seconds=1),  # its lease is over
    )


def test_a_webhook_whose_sender_died_is_sent_again(catalogue, acme, receiver):
    _endpoint(acme.partner, receiver.url)
    acme.post_order()
    delivery = WebhookDelivery.objects.get()
    _claimed_by_a_dead_worker(delivery)

    # the relay puts it back and sends it (the receiver tells a repeat by X-Delivery-Id)
    assert relay_outbox() == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 2)
    assert len(receiver.requests) == 1


def test_a_webhook_whose_sender_died_after_its_retry_period_fails(catalogue, acme, receiver):
    _endpoint(acme.partner, receiver.url)
    acme.post_order()
    delivery = WebhookDelivery.objects.get()
    _claimed_by_a_dead_worker(delivery)
    _time_passes(timedelta(days=4))

    assert relay_outbox() == 0
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "Gave up" in delivery.last_error
    assert receiver.requests == []


def test_a_delivery_being_sent_cannot_be_resent(catalogue, acme, receiver):
    _endpoint(acme.partner, receiver.url)
    acme.post_order()
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.SENDING)

    with pytest.raises(DomainError, match="being sent right now"):
        webhooks.webhook_delivery_resend(delivery_id=str(delivery.pk))
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENDING
    assert receiver.requests == []


def test_no_retry_is_scheduled_past_the_retry_period(catalogue, acme, receiver):
    _endpoint(acme.partner, receiver.url)
    acme.post_order()
    delivery = WebhookDelivery.objects.get()
    receiver.script.extend([500] * 100)

    while delivery.status == DeliveryStatus.PENDING:
        deliver_webhook(str(delivery.pk))
        delivery.refresh_from_db()
        if delivery.status == DeliveryStatus.PENDING:
            assert delivery.next_attempt_at <= delivery.retry_until
            _time_passes(delivery.next_attempt_at - timezone.now())
    assert delivery.status == DeliveryStatus.FAILED


def test_a_staff_resend_starts_a_fresh_retry_period(catalogue, acme, receiver):
    # given a delivery that failed for good: its retry period is over
    _endpoint(acme.partner, receiver.url)
    acme.post_order()
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED)
    _time_passes(timedelta(days=4))
    receiver.script.append(500)

    # when staff resend it and the receiver fails once more
    webhooks.webhook_delivery_resend(delivery_id=str(delivery.pk))
    assert deliver_webhook(str(delivery.pk)) == "pending"

    # then it waits for its next retry instead of giving up at once
    delivery.refresh_from_db()
    assert delivery.retry_until > timezone.now() + timedelta(days=2)


def test_a_webhook_says_null_for_what_has_no_value(catalogue, acme, settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = True
    _endpoint(acme.partner, "http://127.0.0.1:9/all", events=["order.created", "order.cancelled"])
    number = acme.post_order(order_body(external_reference=""), key="no-ref").json()["number"]
    order_cancel(order_id=Order.objects.get(number=number).pk, actor="test", reason="")
    created, cancelled = WebhookDelivery.objects.order_by("created_at")
    assert created.payload["data"]["order"]["external_reference"] is None
    assert cancelled.payload["data"]["reason"] is None
    assert cancelled.payload["data"]["order"]["external_reference"] is None


def test_a_delivery_written_before_null_meant_no_value_is_sent_with_null(catalogue, acme, settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = True
    _endpoint(acme.partner, "http://127.0.0.1:9/created")
    acme.post_order(key="old-delivery")
    delivery = WebhookDelivery.objects.get()
    delivery.payload["data"]["order"]["external_reference"] = ""  # as 1.0.0 wrote it
    delivery.save(update_fields=["payload"])
    body = json.loads(webhooks.body_of(WebhookDelivery.objects.get(pk=delivery.pk)))
    assert body["data"]["order"]["external_reference"] is None

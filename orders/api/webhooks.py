"""Partner webhooks through an outbox (DESIGN.md rule 3).

`on_order_event` hears the order-event feed (the partner API's lifecycle phase): inside the
transaction that made an event happen it writes one WebhookDelivery per active endpoint of the
order's partner that subscribed to the event, and hands them to Celery after the commit.
`webhook_delivery_send` sends one delivery through the outbox engine (orders.outbox): claim it
under a row lock and commit, POST outside any transaction, then record the outcome. 2xx is
delivered; 4xx is failed and never retried; 5xx, timeouts and connection errors are retried on
the outbox's schedule until PARTNER_WEBHOOK_RETRY_FOR (3 days) has passed. The one outbox
relay resends whatever is due, so a broker outage delays webhooks but never loses them.

Every request carries `X-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
keyed with the endpoint's secret (orders.webhook_signing).
"""

import json
import logging
import time
import uuid
from datetime import timedelta
from functools import partial, update_wrapper
from typing import Any

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from orders.api.fields import blank_as_null
from orders.api.models import (
    WEBHOOK_EVENTS,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from orders.api.webhook_urls import refused_destination
from orders.broker import enqueue
from orders.models import Order
from orders.outbox import OutboxKind, SendOutcome, outbox_requeue, outbox_send, retry_delay
from orders.webhook_signing import sign

logger = logging.getLogger(__name__)

USER_AGENT = "Orderflow-Webhooks/1.0"
EXCERPT_BYTES = 1024


def order_summary(order: Order) -> dict[str, Any]:
    return {
        "number": order.number,
        "status": order.status,
        "external_reference": order.external_reference or None,
        "grand_total": str(order.grand_total),
        "currency": order.currency,
    }


def on_order_event(*, order: Order, event: str, data: dict[str, Any]) -> None:
    """Called inside the transaction for every event on the order-event feed. A failure here
    is logged and never breaks the business transaction: it runs in a savepoint of its own."""
    partner_id = order.partner_id
    if partner_id is None or event not in WEBHOOK_EVENTS:
        return
    try:
        with transaction.atomic():
            deliveries = _write_deliveries(order, partner_id, event, data)
    except Exception:
        logger.exception(
            "webhook deliveries not written", extra={"order": order.number, "event": event}
        )
        return
    if deliveries:
        # Named like the function it calls: Django logs a failing robust callback by its
        # __qualname__, which a bare partial lacks (the AttributeError would escape).
        enqueue = update_wrapper(
            partial(enqueue_deliveries, [str(d.pk) for d in deliveries]), enqueue_deliveries
        )
        transaction.on_commit(enqueue, robust=True)


def _write_deliveries(
    order: Order, partner_id: int, event: str, data: dict[str, Any]
) -> list[WebhookDelivery]:
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(
            partner_id=partner_id, is_active=True, partner__is_active=True
        ).only("pk", "events")
        if event in (endpoint.events or [])
    ]
    if not endpoints:
        return []
    now = timezone.now()
    event_id = uuid.uuid4()
    # Through JSON once, so what is stored is exactly what is sent (decimals, dates as text),
    # with null for what has no value, as in the API's answers.
    event_data = blank_as_null(json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder)))
    deliveries = []
    for endpoint in endpoints:
        delivery_id = uuid.uuid4()
        deliveries.append(
            WebhookDelivery(
                id=delivery_id,
                endpoint=endpoint,
                order=order,
                event=event,
                event_id=event_id,
                payload={
                    "id": str(delivery_id),
                    "type": event,
                    "created": now.isoformat(),
                    "data": {**event_data, "order": order_summary(order)},
                },
                created_at=now,
                # The task enqueued after the commit sends it now; the relay only picks it
                # up if that has not happened a minute later (a broker outage, say).
                next_attempt_at=now + settings.OUTBOX_RELAY_AFTER,
                retry_until=now + settings.PARTNER_WEBHOOK_RETRY_FOR,
            )
        )
    return WebhookDelivery.objects.bulk_create(deliveries)


def enqueue_deliveries(delivery_ids: list[str]) -> None:
    """Hand deliveries to Celery. A broker outage is logged, not raised: the relay sends
    them later."""
    from orders.api.tasks import deliver_webhook

    for delivery_id in delivery_ids:
        enqueue(deliver_webhook, delivery_id, later_by="the outbox relay", row=delivery_id)


def body_of(delivery: WebhookDelivery) -> bytes:
    # blank_as_null: deliveries written before webhooks said null for "no value" say it too.
    payload = blank_as_null(delivery.payload)
    return json.dumps(payload, separators=(",", ":"), cls=DjangoJSONEncoder).encode()


class WebhookOutbox(OutboxKind):
    """Partner webhook deliveries. Receivers tell repeats by X-Delivery-Id, so a delivery
    whose sender died mid-send goes out again; a retry waits for its time."""

    model = WebhookDelivery
    done_status = DeliveryStatus.DELIVERED
    resend_unconfirmed = True
    label = "webhook"
    give_up_note = " Gave up: retried for the whole retry period."

    def lock_query(self) -> Any:
        return super().lock_query().select_related("endpoint")

    def refusal(self, row: WebhookDelivery) -> str:
        return "" if row.endpoint.is_active else "The endpoint is disabled."

    def lease(self, row: WebhookDelivery) -> timedelta:
        return max(
            retry_delay(row.attempts), timedelta(seconds=settings.PARTNER_WEBHOOK_TIMEOUT * 3)
        )

    def send(self, row: WebhookDelivery, prepared: Any) -> SendOutcome:
        code, error, excerpt, duration = _post(row)
        details = {"code": code, "excerpt": excerpt, "duration": duration}
        if code is not None and 200 <= code < 300:
            return SendOutcome(delivered=True, details=details)
        if error.startswith("Refused:") or (code is not None and code < 500):
            # A client error (or a destination we refuse): retrying would not help.
            return SendOutcome(
                delivered=False,
                retryable=False,
                error=error or f"The endpoint answered {code}; not retried.",
                details=details,
            )
        return SendOutcome(
            delivered=False, error=error or f"The endpoint answered {code}.", details=details
        )

    def record(
        self, row: WebhookDelivery, outcome: SendOutcome, prepared: Any, started_at: Any
    ) -> list[str]:
        details = outcome.details or {}
        WebhookAttempt.objects.create(
            delivery=row,
            number=row.attempts,
            started_at=started_at,
            duration_ms=details.get("duration", 0),
            status_code=details.get("code"),
            error="" if outcome.delivered else outcome.error,
            response_excerpt=details.get("excerpt", ""),
        )
        row.last_status_code = details.get("code")
        if outcome.delivered:
            row.delivered_at = timezone.now()
        log = logger.info if outcome.delivered else logger.warning
        log(
            "webhook attempt",
            extra={
                "delivery": str(row.pk),
                "event": row.event,
                "attempt": row.attempts,
                "status_code": details.get("code"),
                "error": outcome.error,
                "duration_ms": details.get("duration", 0),
            },
        )
        return ["last_status_code", "delivered_at"]

    def gives_up(self, row: WebhookDelivery, now: Any) -> bool:
        return now >= row.retry_until

    def next_attempt_at(self, row: WebhookDelivery, now: Any) -> Any:
        return min(now + retry_delay(row.attempts), row.retry_until)

    def requeued(self, row: WebhookDelivery, now: Any) -> list[str]:
        row.retry_until = now + settings.PARTNER_WEBHOOK_RETRY_FOR
        return ["retry_until"]

    def enqueue(self, row_ids: list[Any]) -> None:
        enqueue_deliveries([str(row_id) for row_id in row_ids])


WEBHOOKS = WebhookOutbox()


def _post(delivery: WebhookDelivery) -> tuple[int | None, str, str, int]:
    """(status code or None, error, response excerpt, duration in ms)."""
    endpoint = delivery.endpoint
    refused = refused_destination(endpoint.url)
    if refused:
        return None, f"Refused: {refused}", "", 0
    body = body_of(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Signature": sign(body, endpoint.secret),
        "X-Event-Type": delivery.event,
        "X-Delivery-Id": str(delivery.pk),
    }
    started = time.monotonic()
    try:
        with requests.post(
            endpoint.url,
            data=body,
            headers=headers,
            timeout=settings.PARTNER_WEBHOOK_TIMEOUT,
            allow_redirects=False,
            stream=True,
        ) as response:
            code = response.status_code
            try:
                excerpt = response.raw.read(EXCERPT_BYTES, decode_content=True) or b""
            except Exception:  # the status is what counts; a broken body does not
                excerpt = b""
    except requests.Timeout:
        return None, "Timed out.", "", _ms_since(started)
    except requests.RequestException as exc:
        return None, f"{type(exc).__name__}: {exc}"[:2000], "", _ms_since(started)
    return code, "", excerpt.decode("utf-8", errors="replace"), _ms_since(started)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def webhook_delivery_send(*, delivery_id: str) -> str:
    """Send one delivery if it is due (orders.outbox: claim, commit, POST outside any
    transaction, record). Returns its status afterwards ("delivered", "pending" when it will
    be retried, "failed"), or "skipped" when there was nothing to do."""
    row, _why_not = outbox_send(WEBHOOKS, delivery_id)
    return row.status if row is not None else "skipped"


def webhook_delivery_resend(*, delivery_id: str, actor: Any = None) -> WebhookDelivery:
    """Staff resend: the delivery goes out again now, with a fresh retry period. The payload
    (and its id) stay the same, so a receiver that already has it can tell. A delivery being
    sent right now is refused with OutboxRowBusy."""
    with transaction.atomic():
        delivery = outbox_requeue(WEBHOOKS, delivery_id)
    logger.info(
        "webhook resend",
        extra={"delivery": str(delivery.pk), "by": getattr(actor, "pk", actor)},
    )
    return delivery


def webhook_deliveries_purge(*, older_than_days: int) -> int:
    """Delivered rows (and their attempt logs) are kept this long for the staff console."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    _total, per_model = WebhookDelivery.objects.filter(
        status=DeliveryStatus.DELIVERED, delivered_at__lt=cutoff
    ).delete()
    return per_model.get(WebhookDelivery._meta.label, 0)

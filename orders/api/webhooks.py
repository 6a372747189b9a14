"""Partner webhooks through an outbox (DESIGN.md rule 3).

`on_order_event` is an ORDER_EVENT_SUBSCRIBERS entry: inside the transaction that made an
event happen it writes one WebhookDelivery per active endpoint of the order's partner that
subscribed to the event, and hands them to Celery after the commit. `webhook_delivery_send`
sends one delivery the way the payment services call providers: claim it under a row lock and
commit, POST outside any transaction, then record the outcome. 2xx is delivered; 4xx is
failed and never retried; 5xx, timeouts and connection errors are retried with exponential
backoff until PARTNER_WEBHOOK_RETRY_FOR (3 days) has passed. The relay task resends
whatever is due, so a broker outage delays webhooks but never loses them.

Every request carries `X-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
keyed with the endpoint's secret (orders.webhook_signing).
"""

import json
import logging
import time
import uuid
from datetime import timedelta
from functools import partial
from typing import Any

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from orders.api.models import (
    WEBHOOK_EVENTS,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from orders.api.webhook_urls import refused_destination
from orders.models import Order
from orders.webhook_signing import sign

logger = logging.getLogger(__name__)

USER_AGENT = "Orderflow-Webhooks/1.0"
EXCERPT_BYTES = 1024


def partner_id_of(order: Order) -> int | None:
    """The partner that placed the order through the API (its Order.source), if any."""
    prefix, _, ident = (order.source or "").partition(":")
    if prefix != "partner" or not ident.isdigit():
        return None
    return int(ident)


def order_summary(order: Order) -> dict[str, Any]:
    return {
        "number": order.number,
        "status": order.status,
        "external_reference": order.external_reference,
        "grand_total": str(order.grand_total),
        "currency": order.currency,
    }


def on_order_event(*, order: Order, event: str, data: dict[str, Any]) -> None:
    """Called inside the transaction for every published order event (settings
    ORDER_EVENT_SUBSCRIBERS). A failure here is logged and never breaks the business
    transaction: it runs in a savepoint of its own."""
    partner_id = partner_id_of(order)
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
        transaction.on_commit(
            partial(enqueue_deliveries, [str(d.pk) for d in deliveries]), robust=True
        )


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
    # Through JSON once, so what is stored is exactly what is sent (decimals, dates as text).
    event_data = json.loads(json.dumps(data or {}, cls=DjangoJSONEncoder))
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
                next_attempt_at=now + settings.PARTNER_WEBHOOK_FIRST_RETRY,
                retry_until=now + settings.PARTNER_WEBHOOK_RETRY_FOR,
            )
        )
    return WebhookDelivery.objects.bulk_create(deliveries)


def enqueue_deliveries(delivery_ids: list[str]) -> None:
    """Hand deliveries to Celery. A broker outage is logged, not raised: the relay sends
    them later."""
    from orders.api.tasks import deliver_webhook

    for delivery_id in delivery_ids:
        try:
            deliver_webhook.delay(delivery_id)
        except Exception:
            logger.warning(
                "webhook not enqueued; the relay will send it",
                extra={"delivery": delivery_id},
                exc_info=True,
            )


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff after the n-th failed attempt: 1, 2, 4, ... minutes, at most 6 h."""
    first = settings.PARTNER_WEBHOOK_FIRST_RETRY
    return min(first * 2 ** max(attempts - 1, 0), settings.PARTNER_WEBHOOK_MAX_RETRY_DELAY)


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), cls=DjangoJSONEncoder).encode()


def _claim(delivery_id: str) -> WebhookDelivery | None:
    """Under the row lock: take the next attempt, and push next_attempt_at out as a lease so
    a second worker (or the relay) leaves it alone. A first attempt is always due; a retry
    when its time has come. None when there is nothing to send."""
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",), no_key=True)
            .select_related("endpoint")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return None
        now = timezone.now()
        if delivery.attempts and delivery.next_attempt_at > now:
            return None  # not due: another worker holds it, or a retry is scheduled later
        if not delivery.endpoint.is_active:
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = "The endpoint is disabled."
            delivery.save(update_fields=["status", "last_error"])
            return None
        delivery.attempts += 1
        delivery.next_attempt_at = now + max(
            retry_delay(delivery.attempts), timedelta(seconds=settings.PARTNER_WEBHOOK_TIMEOUT * 3)
        )
        delivery.save(update_fields=["attempts", "next_attempt_at"])
        return delivery


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
    """Send one delivery if it is due. Returns its status afterwards ("delivered", "pending"
    when it will be retried, "failed"), or "skipped" when there was nothing to do."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return "skipped"
    started_at = timezone.now()
    code, error, excerpt, duration = _post(delivery)
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update(no_key=True).get(pk=delivery.pk)
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            started_at=started_at,
            duration_ms=duration,
            status_code=code,
            error=error,
            response_excerpt=excerpt,
        )
        if delivery.status != DeliveryStatus.PENDING:
            return delivery.status  # resolved meanwhile (staff, or a slower duplicate)
        now = timezone.now()
        delivery.last_status_code = code
        if code is not None and 200 <= code < 300:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.last_error = ""
        elif error.startswith("Refused:") or (code is not None and code < 500):
            # A client error (or a destination we refuse): retrying would not help.
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = error or f"The endpoint answered {code}; not retried."
        else:
            delivery.last_error = error or f"The endpoint answered {code}."
            if now >= delivery.retry_until:
                delivery.status = DeliveryStatus.FAILED
                delivery.last_error += " Gave up: retried for the whole retry period."
            else:
                delivery.next_attempt_at = min(
                    now + retry_delay(delivery.attempts), delivery.retry_until
                )
        delivery.save(
            update_fields=[
                "status",
                "delivered_at",
                "last_status_code",
                "last_error",
                "next_attempt_at",
            ]
        )
    log = logger.info if delivery.status == DeliveryStatus.DELIVERED else logger.warning
    log(
        "webhook attempt",
        extra={
            "delivery": str(delivery.pk),
            "event": delivery.event,
            "attempt": delivery.attempts,
            "status_code": code,
            "error": error,
            "outcome": delivery.status,
            "duration_ms": duration,
        },
    )
    return delivery.status


def deliveries_due(*, limit: int = 500) -> list[str]:
    """Pending deliveries whose next attempt is due: the relay's work list."""
    return [
        str(pk)
        for pk in WebhookDelivery.objects.filter(
            status=DeliveryStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    ]


def webhook_delivery_resend(*, delivery_id: str, actor: Any = None) -> WebhookDelivery:
    """Staff resend: the delivery goes out again now, with a fresh retry period. The payload
    (and its id) stay the same, so a receiver that already has it can tell."""
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update(no_key=True).get(pk=delivery_id)
        now = timezone.now()
        delivery.status = DeliveryStatus.PENDING
        delivery.attempts = 0  # backoff starts again; the attempt log keeps every try
        delivery.next_attempt_at = now + settings.PARTNER_WEBHOOK_FIRST_RETRY
        delivery.retry_until = now + settings.PARTNER_WEBHOOK_RETRY_FOR
        delivery.last_error = ""
        delivery.save(
            update_fields=["status", "attempts", "next_attempt_at", "retry_until", "last_error"]
        )
        transaction.on_commit(partial(enqueue_deliveries, [str(delivery.pk)]), robust=True)
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

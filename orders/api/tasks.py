"""Thin Celery tasks for the partner API: fetch by id, call a service. Safe to run twice."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from orders.api.services import idempotency_records_purge
from orders.api.webhooks import webhook_deliveries_purge, webhook_delivery_send
from orders.broker import state_task


@state_task
def deliver_webhook(delivery_id: str) -> str:
    """One attempt. A failed attempt schedules the next one on the row; the outbox relay
    (orders.tasks.relay_outbox) sends it when it is due, so retries survive worker restarts
    and broker outages."""
    return webhook_delivery_send(delivery_id=delivery_id)


@shared_task
def purge_idempotency_records() -> int:
    """Idempotency records are kept PARTNER_IDEMPOTENCY_TTL (at least 24 hours)."""
    ttl = max(settings.PARTNER_IDEMPOTENCY_TTL, timedelta(hours=24))
    return idempotency_records_purge(older_than=timezone.now() - ttl)


@shared_task
def purge_old_webhook_deliveries() -> int:
    return webhook_deliveries_purge(older_than_days=settings.PARTNER_WEBHOOK_KEEP_DAYS)

"""Where a partner's webhooks go: endpoints, their events and the per-partner limit."""

import logging
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from orders.api.models import (
    WEBHOOK_EVENTS,
    Partner,
    WebhookEndpoint,
)
from orders.api.services.errors import MAX_WEBHOOK_ENDPOINTS, InvalidRequest, LimitReached, NotFound
from orders.api.webhook_urls import validate_webhook_url

logger = logging.getLogger(__name__)


def _clean_events(events: Sequence[str]) -> list[str]:
    if not isinstance(events, list | tuple) or not events:
        raise InvalidRequest(
            "Choose at least one event.", fields={"events": ["Choose at least one."]}
        )
    unknown = sorted({str(event) for event in events} - set(WEBHOOK_EVENTS))
    if unknown:
        raise InvalidRequest(
            "Unknown events: " + ", ".join(unknown) + ".",
            fields={"events": [f"{event!r} is not an event." for event in unknown]},
        )
    return sorted(set(events))


def _clean_url(url: str) -> str:
    try:
        validate_webhook_url(url)
    except ValidationError as exc:
        raise InvalidRequest(
            "The URL cannot receive webhooks.", fields={"url": exc.messages}
        ) from exc
    return url


def _check_endpoint_limit(*, partner_id: int) -> None:
    """Room for one more active endpoint."""
    if (
        WebhookEndpoint.objects.filter(partner_id=partner_id, is_active=True).count()
        >= MAX_WEBHOOK_ENDPOINTS
    ):
        raise LimitReached(
            f"A partner can have at most {MAX_WEBHOOK_ENDPOINTS} webhook endpoints switched on; "
            "switch one off first (DELETE in the API, untick Is active in the console)."
        )


def webhook_endpoint_validate(
    *, partner: Partner, url: str, events: Sequence[str], activating: bool
) -> list[str]:
    """What creating or changing an endpoint checks, without writing (`activating`: a new
    active endpoint, or one switched back on, which counts against the partner's limit). The
    staff console shows a refusal as form errors; the write services check the limit again
    under the partner's lock. Returns the events as they are stored."""
    _clean_url(url)
    events = _clean_events(events)
    if activating:
        _check_endpoint_limit(partner_id=partner.pk)
    return events


def webhook_endpoint_create(
    *,
    partner: Partner,
    url: str,
    events: Sequence[str],
    description: str = "",
    is_active: bool = True,
) -> WebhookEndpoint:
    """Register an endpoint. An inactive one (staff may prepare it switched off) does not
    count against the partner's limit until it is switched on."""
    _clean_url(url)
    events = _clean_events(events)
    with transaction.atomic():
        # Lock the partner so two requests at once cannot pass the limit together.
        Partner.objects.select_for_update(no_key=True).filter(pk=partner.pk).first()
        if is_active:
            _check_endpoint_limit(partner_id=partner.pk)
        endpoint = WebhookEndpoint.objects.create(
            partner=partner,
            url=url,
            events=events,
            description=(description or "").strip(),
            is_active=is_active,
        )
    logger.info("webhook endpoint created", extra={"partner": partner.pk, "endpoint": endpoint.pk})
    return endpoint


def webhook_endpoint_update(
    *,
    endpoint_id: int,
    actor: Any,
    url: str,
    events: Sequence[str],
    description: str,
    is_active: bool,
) -> WebhookEndpoint:
    """Change where an endpoint sends and what, or switch it on or off. It stays with its
    partner: the partner holds a copy of its signing secret, and its delivery log is that
    partner's. Switching it on counts against the partner's limit."""
    _clean_url(url)
    events = _clean_events(events)
    with transaction.atomic():
        partner_id = (
            WebhookEndpoint.objects.filter(pk=endpoint_id).values_list("partner_id", flat=True)
        ).first()
        if partner_id is None:
            raise NotFound(f"There is no webhook endpoint {endpoint_id}.")
        # The partner first, as creating does, so creations and re-activations for the same
        # partner wait for each other and cannot pass the limit together.
        Partner.objects.select_for_update(no_key=True).filter(pk=partner_id).first()
        endpoint = WebhookEndpoint.objects.select_for_update(no_key=True).get(pk=endpoint_id)
        if is_active and not endpoint.is_active:
            _check_endpoint_limit(partner_id=partner_id)
        endpoint.url, endpoint.events = url, events
        endpoint.description = (description or "").strip()
        endpoint.is_active = is_active
        endpoint.save(update_fields=["url", "events", "description", "is_active", "updated_at"])
    logger.info(
        "webhook endpoint changed",
        extra={"partner": partner_id, "endpoint": endpoint_id, "actor": str(actor)},
    )
    return endpoint


def webhook_endpoint_disable(*, partner: Partner, endpoint_id: int) -> None:
    """Stop sending to the endpoint. Its delivery log stays for the staff console; what was
    still pending for it is not sent."""
    updated = WebhookEndpoint.objects.filter(
        partner=partner, pk=endpoint_id, is_active=True
    ).update(is_active=False, updated_at=timezone.now())
    if not updated:
        raise NotFound(f"There is no webhook endpoint {endpoint_id}.")
    logger.info("webhook endpoint disabled", extra={"partner": partner.pk, "endpoint": endpoint_id})

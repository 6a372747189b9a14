"""Per-partner rate limits: a fixed window counted in Django's cache (Redis in production,
so every web process counts together). Over the limit: 429 with Retry-After.

With the cache unreachable, a partner's requests are let through (fail open): the partner
authenticated with its key, and refusing it would lose orders over an outage of ours."""

import logging
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from orders.api.models import parse_rate
from orders.ratelimit import CounterUnavailable, hit

logger = logging.getLogger(__name__)


def partner_rate(rate: str) -> tuple[int, int]:
    try:
        return parse_rate(rate or settings.PARTNER_API_THROTTLE_RATE)
    except ValueError:
        return parse_rate(settings.PARTNER_API_THROTTLE_RATE)


class PartnerRateThrottle(BaseThrottle):
    scope = "partner-api"

    def __init__(self) -> None:
        self._wait = 0

    def allow_request(self, request: Request, view: Any) -> bool:
        partner = getattr(request.user, "partner", None)
        if partner is None:
            return True
        limit, window = partner_rate(partner.throttle_rate)
        try:
            self._wait = hit(self.scope, str(partner.pk), limit=limit, window=window)
        except CounterUnavailable:
            logger.warning("partner rate limit unavailable: allowed", extra={"partner": partner.pk})
            self._wait = 0
        return self._wait == 0

    def wait(self) -> float | None:
        return self._wait or None

"""Liveness and readiness for load balancers: the database, and Redis when it is configured.

Without the database nothing works: 503 "unavailable", take this process out of rotation.
Without Redis orders are still taken (rate limits fail open or closed per scope, tasks wait in
the outbox for the sweeps): 200 "degraded", keep sending traffic, and page someone."""

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


def _check_database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        logger.exception("health check: database unreachable")
        return False


def _check_redis() -> bool:
    import redis

    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
        )
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        logger.exception("health check: redis unreachable")
        return False


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": "ok" if _check_database() else "unavailable"}
    if settings.REDIS_URL:
        checks["redis"] = "ok" if _check_redis() else "unavailable"
    if checks["database"] != "ok":
        status = "unavailable"
    elif any(value != "ok" for value in checks.values()):
        status = "degraded"
    else:
        status = "ok"
    return JsonResponse(
        {"status": status, "checks": checks},
        status=503 if status == "unavailable" else 200,
    )

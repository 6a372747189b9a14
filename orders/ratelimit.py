"""A small fixed-window rate limiter on Django's cache (Redis in production), so the limits
hold across every web process.

    @ratelimit("login", key=client_ip)
    @ratelimit("login", key=posted("username"))
    def login(request): ...

Each decorator counts the requests in the current window under its own key; over the limit
the view is not called and the client gets a friendly 429 page with Retry-After. Only unsafe
methods (POST, ...) count by default: browsing a page never locks anyone out.

When the cache cannot be reached (Redis down), a limit cannot be counted. Each scope says
what happens then (settings.RATE_LIMITS_FAIL_CLOSED): a scope that guards against guessing
(logging in, password resets, sign-ups) fails closed, with a 503 page asking to try again in
a minute; every other scope (checkout, order actions, the partner API) fails open, so an
outage never loses a sale.
"""

import logging
import time
from collections.abc import Callable
from functools import wraps
from hashlib import sha256
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

logger = logging.getLogger(__name__)

KeyFunc = Callable[[HttpRequest], str]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def parse_rate(rate: str) -> tuple[int, int]:
    """ "10/300" -> (10 requests, 300 seconds)."""
    try:
        count, seconds = (int(part) for part in rate.split("/", 1))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"A rate is '<requests>/<seconds>', not {rate!r}.") from exc
    if count < 1 or seconds < 1:
        raise ValueError(f"A rate needs at least 1 request and 1 second, not {rate!r}.")
    return count, seconds


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind a trusted proxy that appends it to X-Forwarded-For, the
    last entry is the one the proxy saw (earlier ones are whatever the client claimed)."""
    if settings.RATE_LIMIT_TRUST_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def posted(field: str) -> KeyFunc:
    """Key on a posted field, case-insensitively (a username, an email)."""

    def key(request: HttpRequest) -> str:
        return (request.POST.get(field, "") or "").strip().lower()

    key.__name__ = f"posted_{field}"
    return key


class CounterUnavailable(Exception):
    """The cache that counts requests cannot be reached."""


def hit(scope: str, ident: str, *, limit: int, window: int, now: float | None = None) -> int:
    """Count one request for `ident` in `scope`; returns seconds to wait, 0 when allowed.
    Raises CounterUnavailable when the cache cannot be reached."""
    try:
        return _count(scope, ident, limit=limit, window=window, now=now)
    except Exception as exc:  # the cache backend's own errors: redis.ConnectionError, ...
        raise CounterUnavailable(f"rate limit counter unavailable: {type(exc).__name__}") from exc


def _count(scope: str, ident: str, *, limit: int, window: int, now: float | None) -> int:
    now = time.time() if now is None else now
    start = int(now // window) * window
    digest = sha256(ident.encode()).hexdigest()[:32]
    cache_key = f"ratelimit:{scope}:{digest}:{start}"
    # add() creates the counter only if it is missing; incr() is atomic on Redis and locmem.
    cache.add(cache_key, 0, timeout=window + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:
        # The counter expired between add() and incr(): this is the window's first request.
        cache.set(cache_key, 1, timeout=window + 1)
        count = 1
    if count > limit:
        return max(int(start + window - now), 1)
    return 0


def ratelimit(
    scope: str,
    *,
    key: KeyFunc = client_ip,
    rate: str | None = None,
    methods: frozenset[str] | None = None,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Limit a view to settings.RATE_LIMITS[scope] (or `rate`) requests per window and key.
    Requests whose key is empty (no username posted, say) are not counted by this limiter."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            counted = (
                request.method not in SAFE_METHODS
                if methods is None
                else (request.method in methods)
            )
            ident = key(request) if counted else ""
            if ident:
                limit, window = parse_rate(rate or settings.RATE_LIMITS[scope])
                try:
                    wait = hit(f"{scope}:{key.__name__}", ident, limit=limit, window=window)
                except CounterUnavailable:
                    if scope in settings.RATE_LIMITS_FAIL_CLOSED:
                        logger.warning("rate limit unavailable: refused", extra={"scope": scope})
                        return limit_unavailable(request)
                    logger.warning("rate limit unavailable: allowed", extra={"scope": scope})
                    wait = 0
                if wait:
                    return too_many_requests(request, wait)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def too_many_requests(request: HttpRequest, retry_after: int) -> HttpResponse:
    minutes = max(round(retry_after / 60), 1)
    response = render(
        request,
        "orders/ratelimited.html",
        {"retry_after": retry_after, "minutes": minutes},
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response


#: When the counter is back: the cache client's own timeouts are short, so a minute is ample.
UNAVAILABLE_RETRY_AFTER = 60


def limit_unavailable(request: HttpRequest) -> HttpResponse:
    """A scope that fails closed, while its counter cannot be reached."""
    response = render(
        request,
        "orders/ratelimited.html",
        {"unavailable": True, "retry_after": UNAVAILABLE_RETRY_AFTER, "minutes": 1},
        status=503,
    )
    response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
    return response

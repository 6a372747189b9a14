"""A small fixed-window rate limiter on Django's cache (Redis in production), so the limits
hold across every web process.

    @ratelimit("login", key=client_ip)
    @ratelimit("login_account", key=posted("username"))
    def login(request): ...

Each decorator counts the requests in the current window under its own key; over the limit
the view is not called and the client gets a friendly 429 page with Retry-After, and a warning
is logged ("rate limit exceeded": the scope, the client's address, and for a limit per
username or email a keyed digest of it; never what was posted). Only unsafe methods (POST,
...) count by default: browsing a page never locks anyone out.

A posted username or email is counted as Django's login form reads it, whatever look-alike
was typed: NFKC-normalised ("ｇrace" is "grace"), case-folded and stripped.

The two login pages, the shop's (/account/login/) and the staff console's (/admin/login/,
config/admin_site.py), count each client address apart ("login" and "staff_login": customers
failing in an office never lock its staff out of the console), and each account together
("login_account"): a staff account, which either page logs in, gets one allowance of guesses,
not one per page.

When the cache cannot be reached (Redis down), a limit cannot be counted. Each scope says
what happens then (settings.RATE_LIMITS_FAIL_CLOSED): a scope that guards against guessing
(logging in, password resets, sign-ups) fails closed, with a 503 page asking to try again in
a minute; every other scope (checkout, order actions, the partner API) fails open, so an
outage never loses a sale.
"""

import logging
import time
import unicodedata
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.crypto import salted_hmac

logger = logging.getLogger(__name__)

KeyFunc = Callable[[HttpRequest], str]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# The HMAC salts of a counter's cache key and of an account's digest in the log.
COUNTER_SALT = "orders.ratelimit.counter"
KEY_DIGEST_SALT = "orders.ratelimit.key_digest"


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


def account_key(value: str) -> str:
    """A username or email as one account: the look-alikes that Django's forms read as the
    same name (UsernameField NFKC-normalises: full-width "ｇrace" is "grace") count as one,
    and so do their cases."""
    return unicodedata.normalize("NFKC", value).casefold().strip()


def posted(field: str) -> KeyFunc:
    """Key on a posted field as one account (a username, an email): account_key()."""

    def key(request: HttpRequest) -> str:
        return account_key(request.POST.get(field, "") or "")

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
    # Keyed like the log's digest: whoever reads the cache cannot tell whose counter it is.
    digest = salted_hmac(COUNTER_SALT, ident, algorithm="sha256").hexdigest()[:32]
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


#: The page a refused request gets, and what else it needs in its context.
PageContext = Callable[[HttpRequest], dict[str, Any]]
SHOP_PAGE = "orders/ratelimited.html"


def ratelimit(
    scope: str,
    *,
    key: KeyFunc = client_ip,
    rate: str | None = None,
    methods: frozenset[str] | None = None,
    template_name: str = SHOP_PAGE,
    page_context: PageContext | None = None,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Limit a view to settings.RATE_LIMITS[scope] (or `rate`) requests per window and key.
    Requests whose key is empty (no username posted, say) are not counted by this limiter.
    A refused request gets `template_name` (the shop's page unless told), with
    `page_context(request)` added to its context."""

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
                        return limit_unavailable(
                            request, template_name=template_name, page_context=page_context
                        )
                    logger.warning("rate limit unavailable: allowed", extra={"scope": scope})
                    wait = 0
                if wait:
                    _log_refusal(request, scope=scope, key=key, ident=ident, retry_after=wait)
                    return too_many_requests(
                        request, wait, template_name=template_name, page_context=page_context
                    )
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _log_refusal(
    request: HttpRequest, *, scope: str, key: KeyFunc, ident: str, retry_after: int
) -> None:
    """A warning for each refused request. It names the client by its address; a limit keyed
    on a posted username or email is named by key_digest() (the same one for the same
    account, which is not written out), and nothing else that was posted is logged."""
    fields: dict[str, Any] = {
        "scope": scope,
        "limited_by": key.__name__,
        "client": client_ip(request),
        "path": request.path,
        "retry_after": retry_after,
    }
    if key is not client_ip:
        fields["key_digest"] = key_digest(ident)
    logger.warning("rate limit exceeded", extra=fields)


def key_digest(ident: str) -> str:
    """12 hex digits naming an account in the log: an HMAC keyed with SECRET_KEY, so that
    nobody holding a list of customers' emails, but not the key, can tell whose it is."""
    return salted_hmac(KEY_DIGEST_SALT, ident, algorithm="sha256").hexdigest()[:12]


def _page(
    request: HttpRequest,
    template_name: str,
    context: dict[str, Any],
    page_context: PageContext | None,
    *,
    status: int,
) -> HttpResponse:
    if page_context is not None:
        context = {**page_context(request), **context}
    return render(request, template_name, context, status=status)


def too_many_requests(
    request: HttpRequest,
    retry_after: int,
    *,
    template_name: str = SHOP_PAGE,
    page_context: PageContext | None = None,
) -> HttpResponse:
    minutes = max(round(retry_after / 60), 1)
    response = _page(
        request,
        template_name,
        {"retry_after": retry_after, "minutes": minutes},
        page_context,
        status=429,
    )
    response["Retry-After"] = str(retry_after)
    return response


#: When the counter is back: the cache client's own timeouts are short, so a minute is ample.
UNAVAILABLE_RETRY_AFTER = 60


def limit_unavailable(
    request: HttpRequest,
    *,
    template_name: str = SHOP_PAGE,
    page_context: PageContext | None = None,
) -> HttpResponse:
    """A scope that fails closed, while its counter cannot be reached."""
    response = _page(
        request,
        template_name,
        {"unavailable": True, "retry_after": UNAVAILABLE_RETRY_AFTER, "minutes": 1},
        page_context,
        status=503,
    )
    response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER)
    return response

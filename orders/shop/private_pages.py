"""Pages about one customer's order, and the answer when a link to one is refused."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache


def private(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Pages about one customer's order: never cached, never indexed, and the address (which
    may hold a guest token) is not sent to other sites as a referrer. ("no-referrer" would
    make browsers post forms with "Origin: null", which the CSRF check rightly refuses.)"""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = never_cache(view)(request, *args, **kwargs)
        response["Referrer-Policy"] = "same-origin"
        response["X-Robots-Tag"] = "noindex, nofollow"
        return response

    return wrapper


def link_refused(request: HttpRequest, message: str) -> HttpResponse:
    """An emailed link that is forged, expired or revoked: a page saying why, as a 404."""
    return render(request, "orders/link_refused.html", {"message": message}, status=404)

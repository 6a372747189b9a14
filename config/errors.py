"""The site's last word on an error nobody handled.

A database that cannot be reached (its connection refused, dropped or terminated) is an
outage, not a bug: the request gets 503 with Retry-After, in the API's error shape under
/api/ and as a page elsewhere, and nothing it asked for was half done (every write is one
transaction). The next request opens a new connection, so the site recovers by itself.
Anything else is a 500."""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views.decorators.csrf import requires_csrf_token

#: Seconds a client is asked to wait after a database outage.
RETRY_AFTER = 5

UNAVAILABLE = (
    "The service is briefly unavailable. Nothing was changed; please try again in a few seconds."
)


def is_database_outage(exc: BaseException | None) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        error = {"code": "unavailable", "message": UNAVAILABLE, "fields": {}}
        response: HttpResponse = JsonResponse({"error": error}, status=503)
    else:
        # A plain template: base.html would ask the database for the signed-in user.
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER)
    return response


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    """handler500. Django calls it while handling the exception, so sys.exc_info() is it."""
    if is_database_outage(sys.exc_info()[1]):
        return database_unavailable(request)
    if request.path.startswith("/api/"):
        message = "Something went wrong on our side. It has been logged."
        error = {"code": "server_error", "message": message, "fields": {}}
        return JsonResponse({"error": error}, status=500)
    return HttpResponse(render_to_string("500.html"), status=500)

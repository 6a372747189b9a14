"""The site's last word on errors nobody else answered, in the API's error shape
({"error": {"code", "message", "fields"}}) under /api/ and the webhooks, as pages elsewhere.

- 400 (handler400): what Django refuses before a view runs: a body over
  DATA_UPLOAD_MAX_MEMORY_SIZE (413 in the error shape), too many form fields, a broken
  multipart body.
- 503 (from handler500): a database that cannot be reached (its connection refused, dropped
  or terminated) is an outage, not a bug: Retry-After. Nothing the request asked for is half
  done (every write is one transaction), but it may have been done before the connection
  dropped, so the answer says a retry is safe (checkout tokens and idempotency keys make it
  so). The next request opens a new connection, so the site recovers by itself.
- 500 (handler500): anything else."""

import sys

from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

JSON_PATH_PREFIXES = ("/api/", "/warehouse/webhooks/", "/payments/webhooks/")

#: Seconds a client is asked to wait after a database outage.
RETRY_AFTER = 5

UNAVAILABLE = (
    "The service is briefly unavailable, so your request may not have been completed. "
    "Trying again in a few seconds is safe."
)


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith(JSON_PATH_PREFIXES)


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, "fields": {}}}, status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not _wants_json(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return _error("too_large", "The request body is too large.", 413)
    return _error("bad_request", "The request could not be read.", 400)


def is_database_outage(exc: BaseException | None) -> bool:
    return isinstance(exc, OperationalError | InterfaceError)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        response: HttpResponse = _error("unavailable", UNAVAILABLE, 503)
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
    if _wants_json(request):
        return _error("server_error", "Something went wrong on our side. It has been logged.", 500)
    return HttpResponse(render_to_string("500.html"), status=500)

"""The site's 400 page, for what Django refuses before a view runs: a body over
DATA_UPLOAD_MAX_MEMORY_SIZE, too many form fields, a broken multipart body. The API and the
webhooks answer in their error shape ({"error": {"code", "message", "fields"}}), a body too
large with 413; the pages keep Django's 400 page."""

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

JSON_PATH_PREFIXES = ("/api/", "/warehouse/webhooks/", "/payments/webhooks/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not request.path.startswith(JSON_PATH_PREFIXES):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        status, code, message = 413, "too_large", "The request body is too large."
    else:
        status, code, message = 400, "bad_request", "The request could not be read."
    error = {"code": code, "message": message, "fields": {}}
    return JsonResponse({"error": error}, status=status)

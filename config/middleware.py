"""Refuse requests that carry a NUL character in the path, the query or a form field.

PostgreSQL text cannot hold NUL, so such a value reaching a query would fail deep inside a
view as a server error; it is never legitimate input, so it gets a 400 at the door."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

NUL = "\x00"
MESSAGE = "Bad request: NUL characters are not allowed."


def _refuse(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):  # the API's one error shape
        error = {"code": "bad_request", "message": MESSAGE, "fields": {}}
        return JsonResponse({"error": error}, status=400)
    return HttpResponseBadRequest(MESSAGE)


class RejectNulBytesMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if NUL in request.path or _has_nul(request.GET):
            return _refuse(request)
        content_type = request.META.get("CONTENT_TYPE", "")
        if (
            request.method == "POST"
            and content_type.startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            )
            and _has_nul(request.POST)
        ):
            return HttpResponseBadRequest("Bad request: NUL characters are not allowed.")
        return self.get_response(request)


def _has_nul(data: object) -> bool:
    return any(NUL in key or any(NUL in value for value in data.getlist(key)) for key in data)

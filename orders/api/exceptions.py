"""One error shape for every 4xx the partner API answers:

    {"error": {"code": "out_of_stock", "message": "...", "fields": {"lines.0.sku": ["..."]}}}

`fields` maps the request field (dotted for nested ones) to its messages, and is empty when
no field is to blame. An out-of-stock answer adds `available` ({sku: units}). Domain errors
from the services keep their own status (orders.exceptions.DomainError.http_status)."""

import logging
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from config.errors import RETRY_AFTER, UNAVAILABLE, is_database_outage
from orders.exceptions import DomainError
from warehouse.exceptions import OutOfStock

logger = logging.getLogger(__name__)


def error_body(
    code: str, message: str, fields: dict[str, list[str]] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation errors as {"lines.0.quantity": ["..."]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key == api_settings.NON_FIELD_ERRORS_KEY and prefix:
                name = prefix  # a nested object's own error belongs to the object's field
            else:
                name = f"{prefix}.{key}" if prefix else str(key)
            for field, messages in flatten_errors(value, name).items():
                flat.setdefault(field, []).extend(messages)
    elif isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            if detail:
                flat[prefix or api_settings.NON_FIELD_ERRORS_KEY] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                if item:
                    flat.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or api_settings.NON_FIELD_ERRORS_KEY] = [str(detail)]
    return flat


def _summary(fields: dict[str, list[str]]) -> str:
    parts = [
        f"{key}: {' '.join(m.rstrip('.') for m in messages)}"
        for key, messages in list(fields.items())[:5]
    ]
    more = len(fields) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _domain_response(exc: DomainError) -> Response:
    extra: dict[str, Any] = {}
    if isinstance(exc, OutOfStock):
        extra["available"] = {sku: available for sku, (_req, available) in exc.shortages.items()}
    fields = {str(key): [str(m) for m in messages] for key, messages in exc.fields.items()}
    return Response(error_body(exc.code, exc.message, fields, **extra), status=exc.http_status)


def _api_response(exc: exceptions.APIException, response: Response) -> Response:
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        response.data = error_body(
            "invalid", "The request is not valid: " + _summary(fields) + ".", fields
        )
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    message = exc.detail if isinstance(exc.detail, str) else str(exc.default_detail)
    if isinstance(exc, exceptions.Throttled) and exc.wait:
        message = f"Too many requests; try again in {int(exc.wait) or 1} seconds."
    response.data = error_body(code, str(message))
    return response


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DomainError):
        set_rollback()
        return _domain_response(exc)
    response = drf_exception_handler(exc, context)
    if response is not None:
        return _api_response(exc, response)
    set_rollback()
    if is_database_outage(exc):
        logger.warning("partner API: database unavailable", exc_info=True)
        return Response(
            error_body("unavailable", UNAVAILABLE),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER)},
        )
    # Not a refusal but a fault of ours: log it with the traceback, answer in the API's shape.
    view = context.get("view")
    logger.exception("partner API error", extra={"view": type(view).__name__ if view else None})
    return Response(
        error_body("server_error", "Something went wrong on our side. It has been logged."),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


@csrf_exempt  # an API client never has a CSRF cookie; a 404 is its answer, not a 403
def api_not_found(request: HttpRequest, path: str = "") -> JsonResponse:
    """Any path under /api/ that matches no endpoint: the API's 404, not the site's page."""
    message = f"There is no endpoint at {request.path}."
    if not request.path.endswith("/"):
        message += " Endpoint paths end with a slash."
    return JsonResponse(error_body("not_found", message), status=404)

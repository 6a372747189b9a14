"""Cursor pagination: stable while orders keep arriving, and cheap however deep a partner
pages. A cursor that was tampered with gets 400."""

from typing import Any

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


class _Cursor(CursorPagination):
    page_size_query_param = "page_size"
    max_page_size = 100

    def decode_cursor(self, request: Request) -> Any:
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            raise ValidationError({self.cursor_query_param: ["This cursor is not valid."]}) from exc

    def get_page_size(self, request: Request) -> int:
        """DRF quietly falls back to the default for a bad page_size; we say so instead."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = f"Results per page, 1 to {self.max_page_size}."
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                    "default": self.page_size,
                }
            if parameter["name"] == self.cursor_query_param:
                parameter["description"] = "The `next` or `previous` link's cursor."
        return parameters


class OrderCursorPagination(_Cursor):
    page_size = 50
    ordering = "-pk"  # newest first; the primary key never changes, so pages never shift


class ProductCursorPagination(_Cursor):
    page_size = 100
    ordering = "sku"


class WebhookEndpointPagination(_Cursor):
    page_size = 50
    ordering = "pk"

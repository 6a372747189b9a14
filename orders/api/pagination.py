"""Cursor pagination: stable while orders keep arriving, and cheap however deep a partner
pages. A cursor that was tampered with gets 400."""

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class _Cursor(CursorPagination):
    page_size_query_param = "page_size"
    max_page_size = 100

    def decode_cursor(self, request):  # type: ignore[no-untyped-def]
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            raise ValidationError({self.cursor_query_param: ["This cursor is not valid."]}) from exc


class OrderCursorPagination(_Cursor):
    page_size = 50
    ordering = "-pk"  # newest first; the primary key never changes, so pages never shift


class ProductCursorPagination(_Cursor):
    page_size = 100
    ordering = "sku"


class WebhookEndpointPagination(_Cursor):
    page_size = 50
    ordering = "pk"

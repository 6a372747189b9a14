"""The partner API's JSON parser: DRF's, behind a cap on the body's size (API_MAX_JSON_BYTES,
413) and on its nesting depth (API_MAX_JSON_DEPTH, 400), both checked before parsing.

The depth is counted on the raw bytes, which only works for UTF-8 (in EBCDIC a `[` is another
byte; in UTF-16 a character can carry a stray `"` byte), so a Content-Type naming any other
charset is refused (415): JSON between systems is UTF-8 (RFC 8259, section 8.1). Should the
count still miss a nesting, the parser's RecursionError is the same 400 as the cap's.

It wraps DRF's JSONParser rather than subclassing it: for its own JSONParser DRF reads the
whole body into memory first (up to DATA_UPLOAD_MAX_MEMORY_SIZE), while this one is handed the
request stream and reads at most one byte past the cap."""

import io
from typing import Any

from django.conf import settings
from django.utils.http import parse_header_parameters
from rest_framework import renderers, status
from rest_framework.exceptions import APIException, ParseError, UnsupportedMediaType
from rest_framework.parsers import BaseParser, JSONParser

from orders.json_bodies import declared_length, nests_deeper_than


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "The request body is too large."


def refuse_declared_too_large(meta: Any) -> None:
    """413 when the Content-Length says the body is over the cap, before anything is read."""
    max_bytes = settings.API_MAX_JSON_BYTES
    if declared_length(meta) > max_bytes:
        raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")


def _refuse_other_charsets(media_type: str | None) -> None:
    _main, params = parse_header_parameters(media_type or "")
    charset = params.get("charset", "utf-8").strip().lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(
            media_type,
            detail=f"JSON must be UTF-8; the Content-Type names the charset {charset!r}.",
        )


def _too_deep(max_depth: int) -> ParseError:
    return ParseError(
        f"JSON parse error - arrays and objects nest deeper than {max_depth} levels.",
        code="too_deep",
    )


class CappedJSONParser(BaseParser):
    media_type = "application/json"
    renderer_class = renderers.JSONRenderer

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: dict | None = None
    ) -> Any:
        _refuse_other_charsets(media_type)
        request = (parser_context or {}).get("request")
        if request is not None:
            refuse_declared_too_large(request.META)
        max_bytes = settings.API_MAX_JSON_BYTES
        body = stream.read(max_bytes + 1)
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"The request body is larger than {max_bytes} bytes.")
        max_depth = settings.API_MAX_JSON_DEPTH
        if nests_deeper_than(body, max_depth):
            raise _too_deep(max_depth)
        try:
            return JSONParser().parse(io.BytesIO(body), media_type, parser_context)
        except RecursionError as exc:
            raise _too_deep(max_depth) from exc

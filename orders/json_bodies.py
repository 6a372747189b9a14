"""JSON request bodies from outside (the partner API, the carrier and payment webhooks), capped
in size and in nesting depth before they are parsed.

Python's json module recurses once per nested array or object, so a body of 100,000 `[` ends in
a RecursionError, a server error, instead of a parse error. The depth is therefore counted on
the raw bytes first, outside strings, without recursion; only a body within both caps reaches
json.loads. Every refusal is a JsonBodyRefused carrying the status and the API's error shape.
"""

import json
import math
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, JsonResponse
from django.http.request import RawPostDataException

# A JSON string with its escapes, or what is left of one that never closes (the parser refuses
# that body anyway); brackets inside strings do not nest anything.
_STRING = re.compile(rb'"(?:[^"\\]+|\\.)*"?', re.DOTALL)
_OPENING = frozenset(b"[{")
_NOT_A_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))


class JsonBodyRefused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def as_response(self) -> JsonResponse:
        error = {"code": self.code, "message": self.message, "fields": {}}
        return JsonResponse({"error": error}, status=self.status)


def too_large(max_bytes: int) -> JsonBodyRefused:
    return JsonBodyRefused(413, "too_large", f"The body is larger than {max_bytes} bytes.")


def too_deep(max_depth: int) -> JsonBodyRefused:
    return JsonBodyRefused(
        400, "too_deep", f"The JSON nests arrays and objects deeper than {max_depth} levels."
    )


# More digits than any body could have (a billion gigabytes); int() refuses outright a string
# of more than 4,300 digits (a ValueError, a server error).
_MAX_LENGTH_DIGITS = 18
ABSURD_LENGTH = 10**_MAX_LENGTH_DIGITS


def declared_length(meta: Any) -> int:
    """The Content-Length the client sent; 0 when it sent none or nonsense (the body is then
    read only up to the cap), ABSURD_LENGTH when it has more than 18 digits."""
    value = str(meta.get("CONTENT_LENGTH") or "").strip()
    if not (value.isascii() and value.isdigit()):
        return 0
    return int(value) if len(value) <= _MAX_LENGTH_DIGITS else ABSURD_LENGTH


def nests_deeper_than(body: bytes, max_depth: int) -> bool:
    brackets = _STRING.sub(b"", body).translate(None, _NOT_A_BRACKET)
    depth = 0
    for byte in brackets:
        if byte in _OPENING:
            depth += 1
            if depth > max_depth:
                return True
        else:
            depth -= 1
    return False


def read_body(request: HttpRequest, *, max_bytes: int) -> bytes:
    """The raw body, or JsonBodyRefused: too large (said by its Content-Length before anything
    is read), or already taken apart as a form by the time the view runs."""
    if declared_length(request.META) > max_bytes:
        raise too_large(max_bytes)
    try:
        body = request.body
    except RequestDataTooBig as exc:
        raise too_large(max_bytes) from exc
    except RawPostDataException as exc:
        raise JsonBodyRefused(400, "bad_json", "The body must be JSON, not a form.") from exc
    if len(body) > max_bytes:
        raise too_large(max_bytes)
    return body


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON.")


def _finite_float(text: str) -> float:
    # 1e400 is valid JSON but an infinite float, which no JSON column stores.
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:20]} is too large a number.")
    return number


def load_json_object(body: bytes, *, max_depth: int | None = None) -> dict[str, Any]:
    """The body as a JSON object: UTF-8, at most `max_depth` levels deep (API_MAX_JSON_DEPTH
    unless given), no NUL characters, no lone surrogates, no NaN, Infinity or number too large
    for a float. JsonBodyRefused (400) otherwise."""
    limit = settings.API_MAX_JSON_DEPTH if max_depth is None else max_depth
    if nests_deeper_than(body, limit):
        raise too_deep(limit)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonBodyRefused(400, "bad_json", "The body must be UTF-8.") from exc
    # PostgreSQL stores no NUL character in text or JSON.
    if "\x00" in text or "\\u0000" in text:
        raise JsonBodyRefused(400, "bad_json", "NUL characters are not allowed.")
    try:
        payload = json.loads(text, parse_constant=_no_constants, parse_float=_finite_float)
    except ValueError as exc:
        raise JsonBodyRefused(400, "bad_json", f"The body is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise JsonBodyRefused(400, "bad_json", "The body must be a JSON object.")
    _refuse_lone_surrogates(payload)
    return payload


def _refuse_lone_surrogates(payload: dict[str, Any]) -> None:
    """An escape such as \\ud800 without its pair parses into a string no UTF-8 text, no
    database and no log line can hold."""
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise JsonBodyRefused(
            400, "bad_json", "The JSON has an unpaired surrogate escape (\\ud800 to \\udfff)."
        ) from exc

"""The partner API's limits and the refusals its services raise."""

import re

from orders.exceptions import DomainError

MAX_WEBHOOK_ENDPOINTS = 20
MAX_REASON_LENGTH = 1000
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces


class InvalidRequest(DomainError):
    code = "invalid"
    http_status = 400


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class IdempotencyKeyReused(DomainError):
    """The key was used before with a different request."""

    code = "idempotency_key_reused"
    http_status = 422


class IdempotencyKeyInUse(DomainError):
    """The first request with this key has not finished (only seen if it never committed)."""

    code = "idempotency_key_in_use"
    http_status = 409


class LimitReached(DomainError):
    code = "limit_reached"
    http_status = 422

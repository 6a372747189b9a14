"""Structured logs: one JSON object per line, with the order number where there is one.

No line carries a signed-link token (orders.link_redaction): RedactTokensFilter rewrites the
message of every record a handler it is on passes (Django's request and runserver lines
included), and JsonFormatter redacts each value before it encodes the line (the message, the
extras such as Django's `request`, the traceback), so that a token next to a quote cannot
take the JSON escape with it."""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from orders.link_redaction import RedactTokensFilter, redact_tokens

__all__ = ["JsonFormatter", "RedactTokensFilter"]

# Attributes every LogRecord has; anything else was passed in `extra=` and is logged as a field.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)
_MAX_DEPTH = 10


def _redacted(value: Any, depth: int = 0) -> Any:
    """`value` as JSON can hold it, tokens taken out of its text: strings in containers too,
    any other object (or a container nested absurdly deep) by its str()."""
    if isinstance(value, str):
        return redact_tokens(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if depth < _MAX_DEPTH and isinstance(value, dict):
        return {redact_tokens(str(key)): _redacted(item, depth + 1) for key, item in value.items()}
    if depth < _MAX_DEPTH and isinstance(value, list | tuple | set | frozenset):
        return [_redacted(item, depth + 1) for item in value]
    return redact_tokens(str(value))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(_redacted(entry))

"""Structured logs: one JSON object per line, with the order number where there is one.

No line carries a signed-link token (orders.link_redaction): RedactTokensFilter rewrites the
message of every record a handler it is on passes (Django's request and runserver lines
included), and JsonFormatter redacts the whole line it writes, so the extras (Django's
`request`) and tracebacks are covered as well."""

import json
import logging
from datetime import UTC, datetime

from orders.link_redaction import redact_tokens

# Attributes every LogRecord has; anything else was passed in `extra=` and is logged as a field.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


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
        return redact_tokens(json.dumps(entry, default=str))


class RedactTokensFilter(logging.Filter):
    """Takes signed-link tokens out of a record's message (its arguments merged in)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True

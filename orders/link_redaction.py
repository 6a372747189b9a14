"""Signed-link tokens kept out of logs.

A guest's order link, a pay-again link, the return address from the card provider's payment
page, an account-claim link, a download link and a password reset link carry their secret in
the URL path, and the sign-up page carries an order link in
`?link=`; anyone who reads a log line with one could open it. `redact_tokens` replaces each
such token in any text (a request line, a path, a Referer, an error message) with
"[redacted]" and leaves everything else as it was. gunicorn's access and error logs
(config/gunicorn.py) and the application's log handlers (config/logging.py) pass every line
through it.

Only the standard library is imported here: gunicorn's master process loads this module
before (and without) Django.
"""

import logging
import re
from urllib.parse import unquote

REDACTED = "[redacted]"
# A token: anything up to the next separator of a URL or of a log line.
_SEGMENT = r"[^/?#&\s\"'<>]+"
# The path segments before a token (a leading slash optional: Django's 404 messages drop it).
_BEFORE_TOKEN = (
    r"orders/track/",
    r"orders/pay/",
    r"checkout/return/",
    r"downloads/",
    r"account/claim/(?!send(?:[/?#\s\"']|$))",
    r"account/password-reset/[^/?#\s\"']+/(?!set-password(?:[/?#\s\"']|$))",
)
TOKEN_IN_PATH = re.compile(r"(?<![\w.-])(" + "|".join(_BEFORE_TOKEN) + r")" + _SEGMENT)
# After a `?` or `&`, or at the start of a query string logged on its own (gunicorn's `q`),
# or of a word in a log line.
TOKEN_IN_QUERY = re.compile(r"((?<![^\s?&\"'])(?:link|token)=)" + _SEGMENT)


def _redact_plain(text: str) -> str:
    text = TOKEN_IN_PATH.sub(r"\1" + REDACTED, text)
    return TOKEN_IN_QUERY.sub(r"\1" + REDACTED, text)


def redact_tokens(text: str) -> str:
    """`text` with every token replaced. A path may reach Django percent-encoded
    (/orders/%74rack/<token>/ is the guest order page), so when the text decoded has a token
    the decoded text is what is returned, redacted."""
    redacted = _redact_plain(text)
    decoded = redacted
    while "%" in decoded and (step := unquote(decoded)) != decoded:
        decoded = step
    if decoded != redacted and _redact_plain(decoded) != decoded:
        return _redact_plain(decoded)
    return redacted


class RedactTokensFilter(logging.Filter):
    """Takes signed-link tokens out of a record: its message (its arguments merged in), its
    traceback and its stack. On a handler, or on a logger such as gunicorn's error log."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_tokens(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_tokens(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_tokens(record.stack_info)
        return True


_TRACEBACKS = logging.Formatter()

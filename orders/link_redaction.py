"""Signed-link tokens kept out of logs.

A guest's order link, a pay-again link, an account-claim link, a download link and a password
reset link carry their secret in the URL path, and the sign-up page carries an order link in
`?link=`; anyone who reads a log line with one could open it. `redact_tokens` replaces each
such token in any text (a request line, a path, a Referer, an error message) with
"[redacted]" and leaves everything else as it was. gunicorn's access log (config/gunicorn.py)
and the application's log handlers (config/logging.py) pass every line through it.

Only the standard library is imported here: gunicorn's master process loads this module
before (and without) Django.
"""

import re

REDACTED = "[redacted]"
# A token: anything up to the next separator of a URL or of a log line.
_SEGMENT = r"[^/?#&\s\"'<>]+"
# The path segments before a token (a leading slash optional: Django's 404 messages drop it).
_BEFORE_TOKEN = (
    r"orders/track/",
    r"orders/pay/",
    r"downloads/",
    r"account/claim/(?!send(?:[/?#\s\"']|$))",
    r"account/password-reset/[^/?#\s\"']+/(?!set-password(?:[/?#\s\"']|$))",
)
TOKEN_IN_PATH = re.compile(r"(?<![\w.-])(" + "|".join(_BEFORE_TOKEN) + r")" + _SEGMENT)
TOKEN_IN_QUERY = re.compile(r"([?&](?:link|token)=)" + _SEGMENT)


def redact_tokens(text: str) -> str:
    text = TOKEN_IN_PATH.sub(r"\1" + REDACTED, text)
    return TOKEN_IN_QUERY.sub(r"\1" + REDACTED, text)

"""gunicorn's settings for `make serve` (`gunicorn -c config/gunicorn.py config.wsgi`).

The access log goes to stdout in gunicorn's usual format, except that signed-link tokens (a
guest's order link, a pay-again, claim, download or password-reset link) in the request line,
the path, the query and the Referer are written as [redacted] (orders.link_redaction), also
when the client percent-encoded the path. The error log ("Error handling request GET ...",
with its traceback) is redacted the same way. Bind address and worker count stay on the
command line (Makefile: HOST, PORT, WEB_CONCURRENCY).
"""

from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from orders.link_redaction import RedactTokensFilter, redact_tokens

_REDACT = RedactTokensFilter()


class RedactingLogger(Logger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        # On the logger, not its handlers: gunicorn replaces those on a reload.
        self.error_log.addFilter(_REDACT)

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: timedelta) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact_tokens(value) if isinstance(value, str) else value
            for key, value in atoms.items()
        }


accesslog = "-"
logger_class = RedactingLogger

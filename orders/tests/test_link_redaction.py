"""Signed-link tokens never reach a log: not gunicorn's access log, not Django's request log,
not runserver's lines. Other paths are logged as they are."""

import io
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock
from urllib.parse import unquote

import pytest
from celery.app.log import Logging as CeleryLogging
from celery.utils.log import get_task_logger
from django.conf import settings as django_settings
from django.contrib.auth.tokens import default_token_generator
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django.utils.log import configure_logging
from gunicorn.config import Config

from config.celery import app as celery_app
from config.gunicorn import RedactingLogger
from config.logging import JsonFormatter
from orders import signed_links
from orders.link_redaction import REDACTED, redact_tokens

ORDER = {"order": 41, "token": "f3a9c0d1e2b4"}


def _tokens() -> dict[str, str]:
    return {
        "order": signed_links.make(signed_links.ORDER_LINK, ORDER),
        "pay": signed_links.make(signed_links.PAY_LINK, ORDER),
        "claim": signed_links.make(signed_links.CLAIM_LINK, {"user": 7, "customer": 9}),
        "download": signed_links.make(signed_links.DOWNLOAD_LINK, {"grant": 12}),
    }


def _token_urls() -> list[tuple[str, str]]:
    tokens = _tokens()
    return [
        (reverse("orders:order-link", args=[tokens["order"]]), tokens["order"]),
        (reverse("orders:order-link-cancel", args=[tokens["order"]]), tokens["order"]),
        (reverse("orders:order-link-address", args=[tokens["order"]]), tokens["order"]),
        (reverse("orders:order-link-invoice", args=[tokens["order"]]), tokens["order"]),
        (reverse("orders:pay-again", args=[tokens["pay"]]), tokens["pay"]),
        (reverse("orders:account-claim", args=[tokens["claim"]]), tokens["claim"]),
        (reverse("download", args=[tokens["download"]]), tokens["download"]),
        (reverse("orders:register") + f"?link={tokens['order']}", tokens["order"]),
        (reverse("orders:password-reset-confirm", args=["MQ", "cf3k-8d1e2c"]), "cf3k-8d1e2c"),
    ]


@pytest.mark.parametrize(("url", "token"), _token_urls())
def test_each_kind_of_link_loses_its_token(url, token):
    line = f'127.0.0.1 - - "GET {url} HTTP/1.1" 200 512 "https://shop.example{url}"'
    redacted = redact_tokens(line)
    assert token not in redacted
    assert redacted.count(REDACTED) == 2
    # what the path was stays readable
    assert redacted.startswith(f'127.0.0.1 - - "GET {url.split(token)[0]}{REDACTED}')


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/products/MUG-001/",
        "/cart/",
        "/account/claim/send/",
        "/account/orders/ORD-2026-000041/",
        "/account/password-reset/sent/",
        "/account/password-reset/MQ/set-password/",
        "/api/v1/orders/ORD-2026-000041/",
        "/static/orders/site.css",
        "/account/register/?next=/cart/",
    ],
)
def test_other_paths_are_left_alone(path):
    assert redact_tokens(f"GET {path} HTTP/1.1") == f"GET {path} HTTP/1.1"


def _token_routes(patterns: list, namespace: str = "") -> Iterator[tuple[str, list[str]]]:
    """(URL name, its parameters) of every URL pattern with a `token` parameter."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(part for part in (namespace, entry.namespace) if part)
            yield from _token_routes(entry.url_patterns, inner)
        elif isinstance(entry, URLPattern) and "token" in entry.pattern.converters:
            name = ":".join(part for part in (namespace, entry.name) if part)
            yield name, list(entry.pattern.converters)


def test_every_url_with_a_token_in_its_path_is_redacted():
    routes = list(_token_routes(get_resolver().url_patterns))
    assert len(routes) >= 7  # order link pages, pay again, claim, download, password reset
    sample = "eyJzZWNyZXQiOjF9:1tXyZa:s3cr3tS1gnatur3"
    for name, parameters in routes:
        url = reverse(name, kwargs={key: sample if key == "token" else "MQ" for key in parameters})
        assert sample not in redact_tokens(f"GET {url} HTTP/1.1"), name


def test_gunicorns_access_log_writes_paths_without_tokens():
    token = _tokens()["pay"]
    logger = RedactingLogger(Config())

    class Response:
        status = "200 OK"
        sent = 512
        headers: list = []

    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/orders/pay/{token}/?from=email",
        "PATH_INFO": f"/orders/pay/{token}/",
        "QUERY_STRING": "from=email",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": f"https://shop.example/orders/track/{token}/",
    }
    headers = [("REFERER", environ["HTTP_REFERER"])]
    atoms = logger.atoms(Response(), headers, environ, timedelta(milliseconds=12))
    line = Config().access_log_format % atoms
    assert token not in line
    assert f'"GET /orders/pay/{REDACTED}/?from=email HTTP/1.1" 200 512' in line
    assert f'"https://shop.example/orders/track/{REDACTED}/"' in line
    assert token not in " ".join(str(value) for value in atoms.values())


@contextmanager
def _captured(logger_name: str) -> Iterator[io.StringIO]:
    """What the handlers configured in settings.LOGGING write for this logger."""
    logger = logging.getLogger(logger_name)
    configured = logger.handlers or logging.getLogger().handlers
    # pytest adds handlers of its own (subclasses); these are the ones from settings.LOGGING
    handlers = [handler for handler in configured if type(handler) is logging.StreamHandler]
    assert handlers
    buffer = io.StringIO()
    previous = [handler.setStream(buffer) for handler in handlers]
    try:
        yield buffer
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)


@pytest.mark.django_db
def test_a_404_on_a_token_url_is_logged_without_the_token(client):
    token = _tokens()["order"]
    with _captured("django.request") as log:
        response = client.get(f"/orders/track/{token}/no-such-page/")
    assert response.status_code == 404
    written = log.getvalue()
    assert "Not Found: /orders/track/[redacted]/no-such-page/" in written
    assert token not in written


@pytest.mark.django_db
def test_a_refused_link_is_logged_without_the_token(client):
    token = signed_links.make(signed_links.ORDER_LINK, {"order": 10**9, "token": "x"})
    with _captured("django.request") as log:
        response = client.get(reverse("orders:order-link", args=[token]))
    assert response.status_code == 404
    assert REDACTED in log.getvalue()
    assert token not in log.getvalue()


def test_runservers_request_lines_are_logged_without_the_token():
    token = _tokens()["download"]
    with _captured("django.server") as log:
        logging.getLogger("django.server").info(
            '"%s" %s %s', f"GET /downloads/{token}/ HTTP/1.1", "404", "179"
        )
    assert f'"GET /downloads/{REDACTED}/ HTTP/1.1" 404 179' in log.getvalue()
    assert token not in log.getvalue()


def test_a_password_reset_token_is_redacted_as_django_makes_it(django_user_model, db):
    user = django_user_model.objects.create_user("ada", "ada@example.com", "pw-123456789")
    token = default_token_generator.make_token(user)
    url = reverse(
        "orders:password-reset-confirm", args=[urlsafe_base64_encode(force_bytes(user.pk)), token]
    )
    assert token not in redact_tokens(url)


@contextmanager
def _logging_restored() -> Iterator[None]:
    """Put the logging configuration of the test run back however the test changed it."""
    names = ["", "django", "django.request", "django.server", "celery", "celery.task"]
    saved = {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).level)
        for name in names
    }
    propagate = {name: logging.getLogger(name).propagate for name in names}
    try:
        yield
    finally:
        configure_logging(django_settings.LOGGING_CONFIG, django_settings.LOGGING)
        for name, (handlers, level) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate[name]


def _all_streams_into(buffer: io.StringIO) -> None:
    """Every console handler any logger has now writes into `buffer` (pytest's own handlers,
    subclasses, are left alone)."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if type(handler) is logging.StreamHandler:
                handler.setStream(buffer)


@pytest.mark.django_db
def test_a_debug_run_logs_a_404_on_a_token_url_without_the_token(client, settings):
    # given: logging set up as `make run` does it, with DEBUG on (Django's own console
    # handler on the `django` logger only writes when DEBUG is on)
    settings.DEBUG = True
    token = _tokens()["order"]
    buffer = io.StringIO()
    with _logging_restored():
        configure_logging(django_settings.LOGGING_CONFIG, django_settings.LOGGING)
        _all_streams_into(buffer)
        # when
        response = client.get(f"/orders/track/{token}/no-such-page/")
        logging.getLogger("django.server").warning("%s", f"GET /orders/track/{token}/ 404")
        written = buffer.getvalue()
    # then
    assert response.status_code == 404
    assert "Not Found: /orders/track/[redacted]/no-such-page/" in written
    assert f"GET /orders/track/{REDACTED}/ 404" in written
    assert token not in written


def test_a_celery_worker_keeps_the_json_lines_without_tokens():
    token = _tokens()["pay"]
    root = logging.getLogger()
    handlers_before = list(root.handlers)
    buffer = io.StringIO()
    with _logging_restored(), mock.patch.dict(os.environ), warnings.catch_warnings():
        try:
            # what `celery -A config worker` does once Django is set up
            celery_app.log.setup(loglevel="INFO", redirect_stdouts=False)
        finally:
            CeleryLogging._setup = False
            logging.captureWarnings(False)
        assert root.handlers == handlers_before
        _all_streams_into(buffer)
        get_task_logger("orders.tasks").warning("retrying /orders/pay/%s/", token)
        logging.getLogger("celery.app.trace").error("Task failed: /orders/pay/%s/", token)
        lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [line["event"] for line in lines] == [
        f"retrying /orders/pay/{REDACTED}/",
        f"Task failed: /orders/pay/{REDACTED}/",
    ]


@pytest.mark.parametrize(
    "query",
    ["link={token}", "link={token}&from=email", "from=email&token={token}"],
)
def test_a_query_string_logged_on_its_own_loses_its_token(query):
    token = _tokens()["order"]
    text = query.format(token=token)
    assert redact_tokens(text) == query.format(token=REDACTED)


@pytest.mark.parametrize("text", ["blink=1", "?relink=abc", "a_token=xyz", "reset-token=q"])
def test_words_that_end_in_link_or_token_are_not_redacted(text):
    assert redact_tokens(text) == text


def _gunicorn_atoms(raw_uri: str, query: str = "") -> dict:
    class Response:
        status = "404 Not Found"
        sent = 179
        headers: list = []

    path = raw_uri.split("?", 1)[0]
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": raw_uri,
        "PATH_INFO": unquote(path),
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
    }
    logger = RedactingLogger(Config())
    return logger.atoms(Response(), [], environ, timedelta(milliseconds=3))


def test_gunicorns_query_atoms_are_logged_without_the_token():
    token = _tokens()["order"]
    atoms = _gunicorn_atoms(f"/account/register/?link={token}", f"link={token}")
    assert atoms["q"] == f"link={REDACTED}"
    assert atoms["{query_string}e"] == f"link={REDACTED}"
    assert token not in " ".join(atoms[key] for key in ("r", "U", "q"))


@pytest.mark.parametrize(
    "raw_path",
    [
        "/orders/%74rack/{token}/",
        "/orders/track/{token}%2F",
        "/%64ownloads/{token}/",
        "/orders/pay%2F{token}/",
    ],
)
def test_a_percent_encoded_path_is_logged_without_the_token(raw_path):
    token = _tokens()["download"]
    raw_uri = raw_path.format(token=token)
    atoms = _gunicorn_atoms(raw_uri)
    line = Config().access_log_format % atoms
    assert token not in line
    assert REDACTED in line
    assert token not in redact_tokens(f"Not Found: {raw_uri}")


def test_a_percent_encoded_path_still_reaches_the_guest_order_page():
    # why the decoded form matters: Django routes the decoded path
    assert resolve(unquote("/orders/%74rack/abc/")).url_name == "order-link"


def test_gunicorns_error_log_writes_the_request_and_traceback_without_the_token():
    token = _tokens()["download"]
    logger = RedactingLogger(Config())
    buffer = io.StringIO()
    handlers = logger.error_log.handlers
    previous = [handler.setStream(buffer) for handler in handlers]
    try:
        try:
            raise OSError(f"no file behind /downloads/{token}/")
        except OSError:
            logger.exception("Error handling request %s %s", "GET", f"/downloads/{token}/")
        logger.error("Error handling request %s", f"/orders/%74rack/{token}/")
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)
    written = buffer.getvalue()
    assert f"Error handling request GET /downloads/{REDACTED}/" in written
    assert f"OSError: no file behind /downloads/{REDACTED}/" in written
    assert f"Error handling request /orders/track/{REDACTED}/" in written
    assert token not in written


def _json_line(**record_fields) -> str:
    record = logging.LogRecord("orders.shop", logging.WARNING, __file__, 1, "%s", None, None)
    record.__dict__.update(record_fields)
    return JsonFormatter().format(record)


def test_a_token_next_to_a_quote_leaves_the_json_line_valid():
    token = _tokens()["order"]
    body = f'Track it: "https://shop/orders/track/{token}" (guest link)'
    entry = json.loads(_json_line(args=(body,), body=body))
    expected = f'Track it: "https://shop/orders/track/{REDACTED}" (guest link)'
    assert entry["event"] == expected
    assert entry["body"] == expected


def test_extras_and_tracebacks_in_a_json_line_lose_their_tokens():
    token = _tokens()["pay"]

    class Request:
        def __str__(self) -> str:
            return f"<WSGIRequest: GET '/orders/pay/{token}/'>"

    try:
        raise ValueError(f'bad link "/orders/pay/{token}"')
    except ValueError:
        exc_info = sys.exc_info()
    line = _json_line(
        args=("x",),
        request=Request(),
        links={"sent": [f"/orders/pay/{token}/", 3]},
        exc_info=exc_info,
    )
    assert token not in line
    entry = json.loads(line)
    assert entry["request"] == f"<WSGIRequest: GET '/orders/pay/{REDACTED}/'>"
    assert entry["links"] == {"sent": [f"/orders/pay/{REDACTED}/", 3]}
    assert f'ValueError: bad link "/orders/pay/{REDACTED}"' in entry["exception"]

"""`/healthz` for the load balancer, and the JSON log format."""

import io
import json
import logging
import os
from decimal import Decimal

import pytest

from config.logging import JsonFormatter

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.mark.django_db
def test_healthy_when_the_database_answers(client, settings):
    # given: no Redis configured, so only the database is checked
    settings.REDIS_URL = ""

    # when
    response = client.get("/healthz")

    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok"}}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_unavailable_when_the_database_check_fails(client, settings, monkeypatch):
    # given
    settings.REDIS_URL = ""
    monkeypatch.setattr("config.health._check_database", lambda: False)

    # when
    response = client.get("/healthz")

    # then
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "unavailable"}}


@pytest.mark.django_db
def test_degraded_when_the_configured_redis_is_unreachable(client, settings):
    # given: nothing listens on port 1
    settings.REDIS_URL = UNREACHABLE_REDIS

    # when
    response = client.get("/healthz")

    # then: orders are still taken without Redis, so the balancer keeps this process
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"] == {"database": "ok", "redis": "unavailable"}


@pytest.mark.django_db
def test_healthy_with_a_reachable_redis(client, settings):
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.skip("needs a Redis server (set REDIS_URL)")
    # given
    settings.REDIS_URL = redis_url

    # when
    response = client.get("/healthz")

    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}


def test_post_is_not_allowed(client):
    response = client.post("/healthz")

    assert response.status_code == 405


# --- JSON logs ----------------------------------------------------------------------------


@pytest.fixture
def json_log():
    """A logger writing through JsonFormatter into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.json_log")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


def test_json_formatter_writes_one_line_with_the_extra_fields(json_log):
    # given
    logger, stream = json_log

    # when
    logger.info("order %s", "placed", extra={"order": "100001", "channel": "web"})

    # then
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["order"] == "100001"
    assert entry["channel"] == "web"
    assert entry["event"] == "order placed"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "tests.json_log"
    assert "time" in entry
    # the LogRecord's own attributes stay out
    assert not {"msg", "args", "lineno", "pathname", "levelno"} & entry.keys()


def test_json_formatter_keeps_a_traceback_on_the_same_line(json_log):
    logger, stream = json_log

    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("review failed", extra={"order": "100002"})

    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "ERROR"
    assert entry["order"] == "100002"
    assert "ValueError: boom" in entry["exception"]


def test_json_formatter_writes_values_json_cannot_as_text(json_log):
    logger, stream = json_log

    logger.warning("total", extra={"total": Decimal("12.50")})

    assert json.loads(stream.getvalue())["total"] == "12.50"

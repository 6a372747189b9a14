"""Bodies the partner API refuses before parsing them: too large (413) or nested too deep
(400), in the API's error shape, with nothing created."""

import json

import pytest

from orders.api.tests.conftest import ORDERS_URL, order_body
from orders.models import Order

pytestmark = pytest.mark.django_db


def _post_raw(partner, body: bytes, content_type: str = "application/json", **extra):
    return partner.client.post(
        ORDERS_URL, body, content_type=content_type, HTTP_IDEMPOTENCY_KEY="raw-1", **extra
    )


def _refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["message"] and error["fields"] == {}
    assert not Order.objects.exists()
    return error


def test_a_hundred_thousand_brackets_are_400_not_a_server_error(catalogue, acme):
    error = _refused(_post_raw(acme, b"[" * 100_000), 400, "too_deep")
    assert "32 levels" in error["message"]


def test_nesting_just_past_the_cap_is_refused_and_at_the_cap_is_parsed(catalogue, acme, settings):
    settings.API_MAX_JSON_DEPTH = 4
    order = order_body()
    deep = {**order, "customer_note": {"a": {"b": {"c": {"d": 1}}}}}  # 5 levels
    _refused(_post_raw(acme, json.dumps(deep).encode()), 400, "too_deep")
    # 3 levels: the body, lines, a line; parsed, validated and placed as usual
    response = _post_raw(acme, json.dumps(order).encode())
    assert response.status_code == 201, response.content


def test_brackets_inside_strings_are_not_nesting(catalogue, acme):
    response = _post_raw(acme, json.dumps(order_body(customer_note="[{" * 400)).encode())
    assert response.status_code == 201, response.content


def test_a_body_above_the_byte_cap_is_413(catalogue, acme, settings):
    body = json.dumps(order_body()).encode()
    padded = body[:-1] + b" " * (settings.API_MAX_JSON_BYTES - len(body) + 1) + b"}"
    assert len(padded) == settings.API_MAX_JSON_BYTES + 1
    _refused(_post_raw(acme, padded), 413, "too_large")
    assert _post_raw(acme, padded[:-2] + b"}").status_code == 201


def test_a_declared_length_above_the_cap_is_413_before_reading(catalogue, acme):
    body = json.dumps(order_body()).encode()
    response = _post_raw(acme, body, CONTENT_LENGTH=str(10**12))
    _refused(response, 413, "too_large")


def test_a_form_body_above_djangos_upload_limit_is_413_in_the_api_shape(catalogue, acme, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = ("note=" + "x" * 2000).encode()
    _refused(_post_raw(acme, body, "application/x-www-form-urlencoded"), 413, "too_large")


def test_too_many_form_fields_are_400_in_the_api_shape(catalogue, acme, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = "&".join(f"f{n}=1" for n in range(20)).encode()
    _refused(_post_raw(acme, body, "application/x-www-form-urlencoded"), 400, "bad_request")


def test_a_body_that_is_not_utf8_is_400(catalogue, acme):
    body = json.dumps(order_body()).encode().replace(b"Ada", b"\xc1da")
    _refused(_post_raw(acme, body), 400, "parse_error")


def test_a_body_above_djangos_upload_limit_is_413_not_a_server_error(catalogue, acme, settings):
    body = b" " * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + json.dumps(order_body()).encode()
    _refused(_post_raw(acme, body), 413, "too_large")


@pytest.mark.parametrize(
    ("body", "charset"),
    [
        (("[" * 100_000).encode("cp500"), "cp500"),  # EBCDIC: no 0x5B for a `[`
        (('["\u2200",' + "[" * 100_000).encode("utf-16-le"), "utf-16-le"),  # a stray `"` byte
        (json.dumps(order_body()).encode("utf-16"), "utf-16"),
    ],
)
def test_a_charset_other_than_utf8_is_415_before_parsing(catalogue, acme, body, charset):
    response = _post_raw(acme, body, f"application/json; charset={charset}")
    error = _refused(response, 415, "unsupported_media_type")
    assert "UTF-8" in error["message"] and charset in error["message"]


@pytest.mark.parametrize("charset", ["utf-8", "UTF-8", '"utf-8"', "utf8"])
def test_a_utf8_charset_is_parsed_as_usual(catalogue, acme, charset):
    body = json.dumps(order_body()).encode()
    response = _post_raw(acme, body, f"application/json; charset={charset}")
    assert response.status_code == 201, response.content


def test_nesting_the_count_misses_is_still_400_not_a_server_error(catalogue, acme, monkeypatch):
    monkeypatch.setattr("orders.api.parsers.nests_deeper_than", lambda body, depth: False)
    _refused(_post_raw(acme, b"[" * 100_000), 400, "too_deep")


@pytest.mark.parametrize("where", ["customer.name", "shipping_address.line1", "external_reference"])
def test_an_escaped_lone_surrogate_is_a_field_error_not_a_server_error(catalogue, acme, where):
    # DRF's CharField refuses surrogates, so the API needs no check of its own (the webhooks,
    # which read the JSON themselves, do: orders.json_bodies)
    order = order_body()
    if "." in where:
        outer, inner = where.split(".")
        order[outer][inner] = "Ada \ud800"
    else:
        order[where] = "acme-\udfff"
    body = json.dumps(order).encode()  # ASCII: the surrogate is escaped as \ud800
    assert b"\\ud" in body
    response = _post_raw(acme, body)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "Surrogate characters are not allowed" in error["fields"][where][0]
    assert not Order.objects.exists()


def test_an_escaped_surrogate_pair_is_one_character_and_accepted(catalogue, acme):
    body = json.dumps(order_body(customer_note="Thanks \U0001f600")).encode()
    assert b"\\ud83d\\ude00" in body
    assert _post_raw(acme, body).status_code == 201


def test_an_absurd_declared_length_is_refused_not_a_server_error(catalogue, acme):
    body = json.dumps(order_body()).encode()
    # DRF reads the body as empty; the API still answers what the Content-Length says
    _refused(_post_raw(acme, body, CONTENT_LENGTH="9" * 5000), 413, "too_large")

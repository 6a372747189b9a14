"""The tracking webhook against headers and bodies from anyone on the internet: every malformed
one is a 400 (or 413) in the error shape, and nothing is stored."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from orders.webhook_signing import sign
from warehouse.models import Shipment, ShipmentStatus, TrackingEvent
from warehouse.tests.test_fulfilment import WEBHOOK, _shipped

pytestmark = pytest.mark.django_db
SECRET = "track-secret"
EVENT = {"event_id": "dhl-1", "tracking_number": "1234567890", "status": "in_transit"}
BODY = json.dumps(EVENT).encode()


@pytest.fixture
def shipment(settings, catalogue, bins, picker, box, django_capture_on_commit_callbacks):
    settings.TRACKING_WEBHOOK_SECRET = SECRET
    return _shipped(django_capture_on_commit_callbacks, picker, box)


def _v1(body: bytes, timestamp: int) -> str:
    return sign(body, SECRET, timestamp).split("v1=", 1)[1]


def _post(client, body: bytes, header: str, **extra):
    return client.post(
        WEBHOOK, body, content_type="application/json", HTTP_X_SIGNATURE=header, **extra
    )


def _assert_refused(response, shipment: Shipment, status: int = 400) -> None:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] and error["message"] and error["fields"] == {}
    assert not TrackingEvent.objects.exists()
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.SHIPPED


def _bad_headers(now: int) -> dict[str, str]:
    good = _v1(BODY, now)
    return {
        "non-ASCII v1": f"t={now},v1=é{good[1:]}",
        "400-digit t": f"t={'9' * 400},v1={good}",
        "Arabic-Indic digits in t": f"t={'٣' * 10},v1={good}",
        "non-ASCII after a good signature": f"t={now},v1={good},x=ü",
        "t twice": f"t={now},t={now},v1={good}",
        "no v1": f"t={now}",
        "v1 not hex": f"t={now},v1={'z' * 64}",
        "v1 too short": f"t={now},v1={good[:10]}",
        "a part without =": f"t={now},v1={good},junk",
        "space inside t": f"t={str(now)[:5]} {str(now)[5:]},v1={good}",
        "huge header": f"t={now},v1={good},v0={'a' * 5000}",
        "six v1 values": f"t={now}" + f",v1={'0' * 64}" * 5 + f",v1={good}",
        "t as a float": f"t={now}.5,v1={good}",
        "negative t": f"t=-{now},v1={good}",
        "empty": "",
    }


@pytest.mark.parametrize("case", list(_bad_headers(0)))
def test_malformed_signature_headers_are_refused_and_nothing_is_stored(client, shipment, case):
    header = _bad_headers(int(time.time()))[case]
    _assert_refused(_post(client, BODY, header), shipment)


def test_whitespace_around_the_parts_and_a_rolled_secret_are_accepted(client, shipment):
    now = int(time.time())
    # a carrier rolling its secret signs with the old one and the new one
    header = f" t = {now} , v1 = {'0' * 64} , v1 = {_v1(BODY, now).upper()} , v0 = old "
    response = _post(client, BODY, header)
    assert response.status_code == 200, response.content
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 1


@pytest.mark.parametrize(
    "body",
    [
        b"\xff\xfe{\x00}\x00",  # UTF-16, not UTF-8
        b'{"event_id": "caf\xe9"}',  # Latin-1
        b"{not json",
        b"[]",
        b'"a string"',
        b'{"event_id": NaN}',
        b'{"event_id": "a\\u0000b", "tracking_number": "1234567890"}',
        b"1" * 5000,  # more digits than Python turns into an int
        b"[" * 60_000,  # deeper than API_MAX_JSON_DEPTH, within the size cap
        b'{"a":' * 33 + b"1" + b"}" * 33,
    ],
    ids=lambda body: repr(body[:24]),
)
def test_signed_bodies_that_are_not_a_json_object_are_refused(client, shipment, body):
    _assert_refused(_post(client, body, sign(body, SECRET)), shipment)


def test_brackets_inside_strings_do_not_count_as_nesting(client, shipment):
    body = json.dumps({**EVENT, "description": "[" * 1000}).encode()
    assert _post(client, body, sign(body, SECRET)).status_code == 200


def test_a_body_above_the_cap_is_413(client, shipment):
    body = b"[" * 100_000
    _assert_refused(_post(client, body, sign(body, SECRET)), shipment, status=413)


def test_a_declared_length_above_the_cap_is_refused_before_reading(client, shipment):
    response = _post(client, BODY, sign(BODY, SECRET), CONTENT_LENGTH=str(10**9))
    _assert_refused(response, shipment, status=413)


def test_a_form_post_is_refused_not_a_server_error(client, shipment):
    # the NUL-byte middleware has already read a multipart body as a form by then
    response = client.post(WEBHOOK, {"event_id": "x"}, HTTP_X_SIGNATURE=sign(b"", SECRET))
    _assert_refused(response, shipment)


def test_a_form_body_above_djangos_limit_gets_the_error_shape(client, shipment, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = "a=" + "b" * 2000
    response = client.post(WEBHOOK, body, content_type="application/x-www-form-urlencoded")
    _assert_refused(response, shipment, status=413)


@pytest.mark.parametrize("key", ["event_id", "tracking_number", "description", "location"])
def test_an_escaped_lone_surrogate_is_refused_not_a_server_error(client, shipment, key):
    body = json.dumps({**EVENT, key: "dhl-\ud800"}).encode()
    response = _post(client, body, sign(body, SECRET))
    _assert_refused(response, shipment)
    assert response.json()["error"]["code"] == "bad_json"
    assert "surrogate" in response.json()["error"]["message"]


def test_an_escaped_surrogate_pair_is_a_character_like_any_other(client, shipment):
    body = json.dumps({**EVENT, "location": "Hub \U0001f69a"}).encode()
    assert _post(client, body, sign(body, SECRET)).status_code == 200
    assert TrackingEvent.objects.get().location == "Hub \U0001f69a"


@pytest.mark.parametrize(
    "occurred_at",
    [
        "9999-12-31T23:00:00-05:00",  # UTC: year 10000
        "0001-01-01T00:30:00+01:00",  # UTC: before year 1
        "1999-12-31T23:59:59Z",
        "2999-01-01T00:00:00Z",
    ],
)
@pytest.mark.parametrize("status", ["in_transit", "delivered"])
def test_a_time_outside_a_sane_window_is_422_and_nothing_is_stored(
    client, shipment, occurred_at, status
):
    body = json.dumps({**EVENT, "status": status, "occurred_at": occurred_at}).encode()
    response = _post(client, body, sign(body, SECRET))
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "from 2000-01-01 to a day from now" in error["fields"]["occurred_at"][0]
    assert not TrackingEvent.objects.exists()
    assert Shipment.objects.get(pk=shipment.pk).delivered_at is None


def test_a_time_within_the_window_is_kept_and_the_shipment_page_shows_it(
    client, shipment, admin_client
):
    soon = datetime.now(UTC) + timedelta(hours=23)
    body = json.dumps({**EVENT, "status": "delivered", "occurred_at": soon.isoformat()}).encode()
    assert _post(client, body, sign(body, SECRET)).status_code == 200
    assert Shipment.objects.get(pk=shipment.pk).delivered_at == soon
    page = admin_client.get(reverse("admin:warehouse_shipment_change", args=[shipment.pk]))
    assert page.status_code == 200


@pytest.mark.parametrize("length", ["9" * 5000, "1" + "0" * 19, "99999999999999999999999"])
def test_an_absurd_declared_length_is_413_not_a_server_error(client, shipment, length):
    # 5,000 digits are more than Python turns into an int (ValueError)
    response = _post(client, BODY, sign(BODY, SECRET), CONTENT_LENGTH=length)
    _assert_refused(response, shipment, status=413)

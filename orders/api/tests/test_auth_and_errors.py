"""Who may call the API, what each partner may see, rate limits, and the one error shape."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from orders.api import services
from orders.api.models import Partner, PartnerAPIKey
from orders.api.tests.conftest import ORDERS_URL
from orders.models import Order, OrderStatus

pytestmark = pytest.mark.django_db


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "fields"} <= set(body["error"]), body
    return body["error"]


# --- authentication -----------------------------------------------------------------------


def test_no_key_gets_401_with_the_scheme_to_use(catalogue):
    response = APIClient().get(ORDERS_URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Api-Key realm="api"'
    assert _error(response)["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "header",
    [
        "Api-Key nonsense",
        "Api-Key abcdefgh.wrongsecretwrongsecretwrongsec",
        "Api-Key ",
        "Bearer abc.def",
        "Api-Key toolongprefix.secret",
    ],
)
def test_a_wrong_key_gets_401(acme, header):
    response = APIClient().get(ORDERS_URL, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert _error(response)["code"] in ("invalid_api_key", "authentication_failed")


def test_a_right_prefix_with_a_wrong_secret_gets_401(acme):
    prefix = acme.key.split(".")[0]
    response = APIClient().get(ORDERS_URL, HTTP_AUTHORIZATION=f"Api-Key {prefix}.{'x' * 32}")
    assert response.status_code == 401
    assert _error(response)["code"] == "invalid_api_key"


def test_a_revoked_key_gets_401(acme):
    api_key = PartnerAPIKey.objects.get(partner=acme.partner)
    services.partner_api_key_revoke(api_key_id=api_key.pk)

    response = acme.client.get(ORDERS_URL)

    assert response.status_code == 401
    assert _error(response)["code"] == "api_key_revoked"


def test_an_expired_key_gets_401(acme):
    PartnerAPIKey.objects.filter(partner=acme.partner).update(
        expiry_date=timezone.now() - timedelta(minutes=1)
    )
    response = acme.client.get(ORDERS_URL)
    assert response.status_code == 401
    assert _error(response)["code"] == "api_key_expired"


def test_a_key_that_expires_later_works(acme):
    PartnerAPIKey.objects.filter(partner=acme.partner).update(
        expiry_date=timezone.now() + timedelta(days=1)
    )
    assert acme.client.get(ORDERS_URL).status_code == 200


def test_a_switched_off_partner_gets_403(acme):
    Partner.objects.filter(pk=acme.partner.pk).update(is_active=False)
    response = acme.client.get(ORDERS_URL)
    assert response.status_code == 403
    assert _error(response)["code"] == "partner_inactive"


def test_a_revoked_key_cannot_be_unrevoked(acme):
    from django.core.exceptions import ValidationError

    services.partner_api_key_revoke(api_key_id=PartnerAPIKey.objects.get(partner=acme.partner).pk)
    api_key = PartnerAPIKey.objects.get(partner=acme.partner)
    api_key.revoked = False
    with pytest.raises(ValidationError):
        api_key.save()


def test_only_a_hash_of_the_key_is_stored(acme):
    api_key = PartnerAPIKey.objects.get(partner=acme.partner)
    prefix, secret = acme.key.split(".")
    assert api_key.prefix == prefix
    assert secret not in api_key.hashed_key
    assert secret not in api_key.pk


# --- a partner sees and changes only its own orders -----------------------------------------


def test_partners_never_see_each_others_orders(catalogue, acme, globex):
    # given an order of each partner
    acme_number = acme.post_order(key="same-key").json()["number"]
    globex_number = globex.post_order(key="same-key").json()["number"]
    assert acme_number != globex_number  # the same key is another partner's own

    # then each lists only its own
    assert [o["number"] for o in acme.client.get(ORDERS_URL).json()["results"]] == [acme_number]
    assert [o["number"] for o in globex.client.get(ORDERS_URL).json()["results"]] == [globex_number]
    # and the other's order is simply not there: detail, shipments, cancel
    for path in (f"{globex_number}/", f"{globex_number}/shipments/"):
        response = acme.client.get(ORDERS_URL + path)
        assert response.status_code == 404
        assert _error(response)["code"] == "not_found"
    response = acme.client.post(f"{ORDERS_URL}{globex_number}/cancel/", format="json")
    assert response.status_code == 404
    assert Order.objects.get(number=globex_number).status == OrderStatus.RECEIVED


def test_guessing_numbers_finds_nothing_else(catalogue, acme, globex):
    from orders.tests.factories import place_order

    web_order = place_order([("MUG-001", 1)]).order  # a web shop order
    globex.post_order()
    numbers = list(Order.objects.exclude(number=None).values_list("number", flat=True))
    for number in numbers:
        assert acme.client.get(f"{ORDERS_URL}{number}/").status_code == 404
    assert acme.client.post(f"{ORDERS_URL}{web_order.number}/cancel/").status_code == 404


# --- errors -------------------------------------------------------------------------------


def test_an_unknown_path_under_api_is_a_json_404(acme):
    for path in ("/api/v1/nothing/", "/api/v2/orders/", "/api/v1/orders", "/api/"):
        response = acme.client.get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json"
        assert _error(response)["code"] == "not_found"
    assert "end with a slash" in _error(acme.client.get("/api/v1/orders"))["message"]


def test_a_wrong_method_is_405(acme):
    response = acme.client.put(ORDERS_URL, {}, format="json")
    assert response.status_code == 405
    assert _error(response)["code"] == "method_not_allowed"


def test_only_json_is_accepted(catalogue, acme):
    response = acme.client.post(
        ORDERS_URL,
        "lines=1",
        content_type="application/x-www-form-urlencoded",
        HTTP_IDEMPOTENCY_KEY="k",
    )
    assert response.status_code == 415
    assert _error(response)["code"] == "unsupported_media_type"


def test_too_many_requests_get_429_with_retry_after(acme):
    Partner.objects.filter(pk=acme.partner.pk).update(throttle_rate="3/min")
    codes = [acme.client.get(ORDERS_URL).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    response = acme.client.get(ORDERS_URL)
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert _error(response)["code"] == "throttled"


def test_rates_are_counted_per_partner(acme, globex):
    Partner.objects.filter(pk=acme.partner.pk).update(throttle_rate="1/min")
    assert acme.client.get(ORDERS_URL).status_code == 200
    assert acme.client.get(ORDERS_URL).status_code == 429
    assert globex.client.get(ORDERS_URL).status_code == 200


def test_the_default_rate_comes_from_settings(acme, settings):
    settings.PARTNER_API_THROTTLE_RATE = "2/min"
    codes = [acme.client.get(ORDERS_URL).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_an_unexpected_fault_is_logged_and_answered_as_json(acme, monkeypatch, caplog):
    from orders.api import selectors

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "partner_order", broken)
    response = acme.client.get(f"{ORDERS_URL}100001/")
    assert response.status_code == 500
    assert _error(response)["code"] == "server_error"
    assert "boom" not in response.content.decode()
    assert any("partner API error" in r.message for r in caplog.records)


def test_the_schema_and_docs_are_public(db):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/orders/" in schema.json()["paths"]
    docs = APIClient().get("/api/docs/")
    assert docs.status_code == 200
    assert b"redoc" in docs.content.lower()

"""Input no page may turn into a server error."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    ["/products/%00/", "/account/orders/%00/", "/checkout/received/%00/", "/?q=%00"],
)
def test_nul_characters_in_the_url_are_a_bad_request(client, path):
    assert client.get(path).status_code == 400


def test_nul_characters_in_a_form_are_a_bad_request(catalogue):
    client = Client(enforce_csrf_checks=False)
    response = client.post("/cart/add/", {"sku": "MUG-001\x00", "quantity": "1"})
    assert response.status_code == 400


def test_ordinary_requests_pass(client, catalogue):
    assert client.get("/?q=mug").status_code == 200


def test_the_api_answers_nul_characters_in_its_own_error_shape(client):
    response = client.get("/api/v1/orders/?cursor=%00")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"

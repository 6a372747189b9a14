"""Partner orders and shipping zones: a method whose zone does not take the shipping address
is refused on `shipping_method` (400 invalid_order, the answer for an unknown method too), and
the default when none is named is the cheapest method that delivers there."""

from decimal import Decimal

import pytest

from orders.api.tests.conftest import order_body
from orders.models import Order
from orders.tests.factories import ShippingMethodFactory
from warehouse.models import StockItem

pytestmark = pytest.mark.django_db

BERLIN = {
    "name": "Ada Lovelace",
    "line1": "Torstraße 1",
    "city": "Berlin",
    "postal_code": "10119",
    "country": "DE",
}


@pytest.fixture
def local(catalogue):
    """Free delivery, Berlin postal codes only: the cheapest method, where it delivers."""
    return ShippingMethodFactory(
        code="local",
        name="Own delivery (Berlin)",
        carrier="own",
        price=Decimal("0.00"),
        countries=["DE"],
        postal_code_prefixes=["10", "12", "13", "140", "141"],
    )


def test_a_method_outside_its_zone_is_refused_on_its_field(catalogue, local, acme):
    # when a partner sends Own delivery (Berlin) to London (order_body's address)
    response = acme.post_order(order_body(shipping_method="local"), key="zone-1")

    # then it is refused on shipping_method, and nothing is placed or reserved
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_order"
    assert error["message"] == (
        "The order cannot be shipped: shipping_method: Own delivery (Berlin) does not deliver "
        "to United Kingdom. Choose another shipping method."
    )
    assert error["fields"] == {
        "shipping_method": [
            "Own delivery (Berlin) does not deliver to United Kingdom. "
            "Choose another shipping method."
        ]
    }
    assert Order.objects.count() == 0
    assert sum(StockItem.objects.values_list("reserved", flat=True)) == 0

    # and the refused key may be used again for the corrected order
    corrected = acme.post_order(order_body(shipping_method="standard"), key="zone-1")
    assert corrected.status_code == 201, corrected.json()


def test_the_same_method_inside_its_zone_is_accepted(catalogue, local, acme):
    response = acme.post_order(order_body(shipping_method="local", shipping_address=BERLIN))

    assert response.status_code == 201, response.json()
    assert response.json()["shipping_method"] == "local"
    assert response.json()["totals"]["shipping"] == "0.00"


def test_the_default_is_the_cheapest_method_that_delivers_to_the_address(catalogue, local, acme):
    # given a body without a shipping method
    body = order_body()
    del body["shipping_method"]

    # when sent to London, the cheapest method (local, 0.00) does not deliver there: the
    # cheapest that does (standard, 5.00) is used
    london = acme.post_order(body, key="default-london")
    assert london.status_code == 201, london.json()
    assert london.json()["shipping_method"] == "standard"
    assert london.json()["totals"]["shipping"] == "5.00"

    # and sent to Berlin, the local delivery is
    berlin = acme.post_order({**body, "shipping_address": BERLIN}, key="default-berlin")
    assert berlin.status_code == 201, berlin.json()
    assert berlin.json()["shipping_method"] == "local"


def test_no_method_for_the_address_is_a_clear_error_on_shipping_method(catalogue, acme):
    # given methods that deliver only in Germany
    catalogue["standard"].countries = ["DE"]
    catalogue["standard"].save()
    catalogue["express"].countries = ["DE"]
    catalogue["express"].save()
    body = order_body()
    del body["shipping_method"]

    # when an order to London names no method
    response = acme.post_order(body)

    # then
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "shipping_method": ["We have no shipping method that delivers to United Kingdom N1 9GU."]
    }
    assert Order.objects.count() == 0


def test_a_digital_order_needs_no_method_whatever_the_zones(catalogue, acme):
    catalogue["standard"].countries = ["DE"]
    catalogue["standard"].save()
    catalogue["express"].countries = ["DE"]
    catalogue["express"].save()
    body = order_body(lines=[{"sku": "EBOOK-001", "quantity": 1}])
    del body["shipping_method"]

    response = acme.post_order(body)

    assert response.status_code == 201, response.json()
    assert response.json()["shipping_method"] is None


# --- which methods deliver where: GET /api/v1/shipping-methods/ ------------------------------

METHODS = "/api/v1/shipping-methods/"


def test_a_partner_lists_the_methods_and_their_zones_cheapest_first(catalogue, local, acme):
    response = acme.client.get(METHODS)
    assert response.status_code == 200
    methods = response.json()
    assert [m["code"] for m in methods] == ["local", "standard", "express"]
    assert methods[0] == {
        "code": "local",
        "name": "Own delivery (Berlin)",
        "carrier": "own",
        "price": "0.00",
        "currency": "EUR",
        "handling_days": local.handling_days,
        "transit_days_min": local.transit_days_min,
        "transit_days_max": local.transit_days_max,
        "countries": ["DE"],
        "postal_code_prefixes": ["10", "12", "13", "140", "141"],
    }
    assert methods[1]["countries"] == []  # everywhere we ship


@pytest.mark.parametrize(
    ("query", "codes"),
    [
        ("?country=DE&postal_code=10119", ["local", "standard", "express"]),
        ("?country=de&postal_code=10 119", ["local", "standard", "express"]),
        ("?country=DE&postal_code=14467", ["standard", "express"]),  # Potsdam
        ("?country=DE", ["standard", "express"]),  # no postal code: not a Berlin address
        ("?country=GB&postal_code=N1 9GU", ["standard", "express"]),
    ],
)
def test_the_list_for_an_address_is_what_placing_accepts(catalogue, local, acme, query, codes):
    listed = [m["code"] for m in acme.client.get(METHODS + query).json()]
    assert listed == codes
    # and placing to that address accepts each listed method, and refuses the others
    params = dict(part.split("=") for part in query.lstrip("?").split("&"))
    address = {**BERLIN, "country": params["country"].upper()}
    address["postal_code"] = params.get("postal_code", "")
    for code in ("local", "standard", "express"):
        body = order_body(shipping_address=address, shipping_method=code)
        answer = acme.post_order(body, key=f"list-{code}-{''.join(filter(str.isalnum, query))}")
        assert (answer.status_code == 201) == (code in codes), (code, answer.json())


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?postal_code=10119", "postal_code"),
        ("?country=XX", "country"),
        ("?country=DEU", "country"),
        ("?zone=DE", "zone"),
    ],
)
def test_a_bad_filter_is_refused_on_its_field(catalogue, acme, query, field):
    response = acme.client.get(METHODS + query)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_the_list_needs_a_key(catalogue, client):
    assert client.get(METHODS).status_code == 401

"""Every kind of object the partner API answers with, in every state it can be in, validated
against the published schema (`/api/schema/`) as a strict generated client would check it
(formats and `nullable` included), and none with `""` standing in for "no value".

A new serializer in an answer (returns, tickets, surveys) fails
`test_every_object_an_answer_can_contain_is_checked` until a test here checks it."""

from typing import Any

import pytest

from orders.api import services
from orders.api.tests.conftest import make_partner, order_body
from orders.api.tests.schema_check import (
    blank_strings,
    published_schema,
    response_components,
    schema_errors,
)
from orders.api.tests.states import seed_orders_in_every_state
from orders.models import OrderStatus
from orders.tests.factories import ProductFactory, ShippingMethodFactory, StockItemFactory
from payments.models import PaymentStatus
from warehouse.models import ShipmentStatus

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"

# The components each test below checks answers against. The objects inside them (an order's
# lines, customer, totals, ...) are checked with them.
CHECKED = {
    "Order",
    "PaginatedOrderList",
    "Shipment",
    "PaymentSummary",
    "Product",
    "PaginatedProductList",
    "WebhookEndpoint",
    "WebhookEndpointCreated",
    "PaginatedWebhookEndpointList",
    "ShippingMethod",
    "Error",
}


class Answers:
    """Collects every violation, so one run names them all."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.checked: dict[str, int] = {}

    def check(self, component: str, data: Any, what: str) -> None:
        assert component in CHECKED, component
        self.checked[component] = self.checked.get(component, 0) + 1
        for error in schema_errors(component, data):
            self.problems.append(f"{what} ({component}): {error}")
        for path in blank_strings(data):
            self.problems.append(f'{what} ({component}): "" at {path}; no value is null')

    def json(self, response: Any, status: int, component: str, what: str) -> Any:
        assert response.status_code == status, (what, response.status_code, response.content)
        data = response.json()
        self.check(component, data, what)
        return data

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)


@pytest.fixture
def acme(db):
    return make_partner("Acme", throttle_rate="1000000/min")


@pytest.fixture
def states(acme, catalogue, bins, picker, box, django_capture_on_commit_callbacks):
    return seed_orders_in_every_state(
        acme, picker=picker, box=box, capture=django_capture_on_commit_callbacks
    )


def test_orders_in_every_state_match_the_schema(acme, states):
    answers = Answers()
    payment_states = set()
    shipment_states = set()
    orders = []
    for state, number in states.items():
        order = answers.json(acme.client.get(f"{ORDERS}{number}/"), 200, "Order", state)
        orders.append(order)
        answers.check("PaymentSummary", order["payment"], f"{state}: payment")
        payment_states.add(order["payment"]["status"])
        shipments = acme.client.get(f"{ORDERS}{number}/shipments/")
        assert shipments.status_code == 200
        assert shipments.json() == order["shipments"]
        for shipment in shipments.json():
            answers.check("Shipment", shipment, f"{state}: shipment {shipment['id']}")
            shipment_states.add(shipment["status"])
    # every page of the list, in pages of 5
    url = f"{ORDERS}?page_size=5"
    listed = 0
    while url:
        page = answers.json(acme.client.get(url), 200, "PaginatedOrderList", url)
        listed += len(page["results"])
        url = page["next"]
    assert listed == len(states)
    # what was covered: each payment and shipment state an order can show
    assert payment_states == set(PaymentStatus.values)
    assert shipment_states == set(ShipmentStatus.values)
    assert {order["status"] for order in orders} == set(OrderStatus.values) - {"draft"}
    answers.assert_clean()


def test_a_pending_shipment_says_null_for_what_it_does_not_have_yet(acme, states):
    shipment = acme.client.get(f"{ORDERS}{states['ready']}/shipments/").json()[0]
    assert shipment["status"] == "pending"
    assert {key: shipment[key] for key in ("carrier", "tracking_number", "tracking_url")} == {
        "carrier": None,
        "tracking_number": None,
        "tracking_url": None,
    }
    assert shipment["shipped_at"] is None
    shipped = acme.client.get(f"{ORDERS}{states['shipped']}/shipments/").json()[0]
    assert shipped["carrier"] == "dhl"
    assert shipped["tracking_url"].startswith("https://")
    # our own vans have no tracking page: shipped, with a number, and no tracking_url
    own = acme.client.get(f"{ORDERS}{states['own_delivery']}/shipments/").json()[0]
    assert (own["status"], own["carrier"], own["tracking_url"]) == ("shipped", "own", None)
    assert own["tracking_number"]
    # a bare order: no reference, name or phone given
    bare = acme.client.get(f"{ORDERS}{states['received']}/").json()
    assert bare["external_reference"] is None
    assert bare["customer"] == {"email": "bare@example.com", "name": "Bare Address", "phone": None}
    assert bare["shipping_address"]["company"] is None
    assert bare["cancellation_reason"] is None


def test_cancelling_answers_match_the_schema(acme, states):
    answers = Answers()
    cancelled = answers.json(
        acme.client.post(f"{ORDERS}{states['ready']}/cancel/", {}, format="json"),
        200,
        "Order",
        "cancel a ready order without a reason",
    )
    assert cancelled["status"] == "cancelled"
    answers.json(
        acme.client.post(f"{ORDERS}{states['shipped']}/cancel/", {"reason": "x"}, format="json"),
        409,
        "Error",
        "cancel a shipped order",
    )
    answers.assert_clean()


def test_products_match_the_schema(acme, catalogue):
    described = ProductFactory(sku="DESK-001", name="Desk", description="Oak, 160 cm.")
    StockItemFactory(product=described, warehouse=catalogue["berlin"], on_hand=0)
    answers = Answers()
    page = answers.json(acme.client.get("/api/v1/products/"), 200, "PaginatedProductList", "list")
    kinds = set()
    for product in page["results"]:
        answers.json(
            acme.client.get(f"/api/v1/products/{product['sku']}/"), 200, "Product", product["sku"]
        )
        kinds.add(product["kind"])
    assert kinds == {"physical", "digital"}
    desk = acme.client.get("/api/v1/products/DESK-001/").json()
    assert (desk["description"], desk["available"], desk["in_stock"]) == ("Oak, 160 cm.", 0, False)
    assert acme.client.get("/api/v1/products/MUG-001/").json()["description"] is None
    answers.assert_clean()


def test_shipping_methods_match_the_schema(acme, catalogue):
    ShippingMethodFactory(
        code="local", carrier="own", countries=["DE"], postal_code_prefixes=["10", "12"]
    )
    answers = Answers()
    for query in ("", "?country=DE&postal_code=10119", "?country=GB"):
        response = acme.client.get(f"/api/v1/shipping-methods/{query}")
        assert response.status_code == 200
        for method in response.json():
            answers.check("ShippingMethod", method, f"{query or 'all'}: {method['code']}")
    assert answers.checked["ShippingMethod"] == 3 + 3 + 2
    answers.assert_clean()


def test_webhook_endpoints_match_the_schema(acme, settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = False
    answers = Answers()
    created = answers.json(
        acme.client.post(
            "/api/v1/webhooks/",
            {"url": "https://hooks.acme.example/in", "events": ["order.created"]},
            format="json",
        ),
        201,
        "WebhookEndpointCreated",
        "created without a description",
    )
    assert created["description"] is None
    described = services.webhook_endpoint_create(
        partner=acme.partner,
        url="https://hooks.acme.example/two",
        events=["order.shipped"],
        description="ERP",
    )
    for endpoint_id in (created["id"], described.pk):
        answers.json(
            acme.client.get(f"/api/v1/webhooks/{endpoint_id}/"),
            200,
            "WebhookEndpoint",
            f"endpoint {endpoint_id}",
        )
    page = answers.json(
        acme.client.get("/api/v1/webhooks/"), 200, "PaginatedWebhookEndpointList", "list"
    )
    assert len(page["results"]) == 2
    answers.assert_clean()


def test_errors_match_the_schema(acme, catalogue):
    answers = Answers()
    answers.json(acme.client.get(f"{ORDERS}999999/"), 404, "Error", "unknown order")
    answers.json(acme.client.get(f"{ORDERS}?status=nope"), 400, "Error", "bad filter")
    answers.json(acme.post_order({"lines": []}, key="bad"), 400, "Error", "invalid order")
    sold_out = answers.json(
        acme.post_order(order_body(lines=[{"sku": "LAMP-001", "quantity": 50}]), key="many"),
        409,
        "Error",
        "out of stock",
    )
    assert sold_out["error"]["available"] == {"LAMP-001": 3}
    answers.json(
        acme.client.post(ORDERS, "x", content_type="text/plain", HTTP_IDEMPOTENCY_KEY="t"),
        415,
        "Error",
        "not JSON",
    )
    answers.assert_clean()


def test_every_object_an_answer_can_contain_is_checked():
    schema = published_schema()
    components = schema["components"]["schemas"]
    objects = {name for name in response_components(schema) if "properties" in components[name]}
    within_checked = response_components(
        {
            "components": schema["components"],
            "paths": {
                "/": {
                    "get": {
                        "responses": {
                            name: {"$ref": f"#/components/schemas/{name}"} for name in CHECKED
                        }
                    }
                }
            },
        }
    )
    unchecked = objects - within_checked
    assert not unchecked, f"answers contain {sorted(unchecked)}: check them in this module"

"""Placing, reading, listing and cancelling orders through the partner API."""

from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from orders.api.tests.conftest import ORDERS_URL, order_body
from orders.models import Channel, Order, OrderEvent, OrderStatus
from orders.services import order_review
from payments.models import Payment, PaymentMethod
from warehouse.models import ShippingMethod, StockItem

pytestmark = pytest.mark.django_db


def _reserved(sku: str) -> int:
    return sum(StockItem.objects.filter(product__sku=sku).values_list("reserved", flat=True))


# --- placing ------------------------------------------------------------------------------


def test_a_partner_places_an_order_on_invoice_terms(catalogue, acme):
    # when
    response = acme.post_order(key="acme-1001")

    # then it is placed through the order service, received, on the partner's account
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "received"
    assert body["number"]
    assert response["Location"] == f"/api/v1/orders/{body['number']}/"
    assert "Idempotent-Replayed" not in response
    order = Order.objects.get(number=body["number"])
    assert order.channel == Channel.API
    assert order.source == f"partner:{acme.partner.pk}"
    assert order.idempotency_key == "acme-1001"
    assert order.external_reference == "acme-1001"
    assert order.bill_to == acme.partner.billing_customer
    assert order.customer.email == "ada@example.com"
    assert order.billing_address.city == "London"  # defaults to the shipping address
    payment = Payment.objects.get(order=order)
    assert payment.method == PaymentMethod.INVOICE
    assert _reserved("MUG-001") == 2
    # and the answer shows what the catalogue priced
    assert body["lines"] == [
        {
            "sku": "MUG-001",
            "name": "Mug",
            "product_kind": "physical",
            "quantity": 2,
            "unit_price": "10.00",
            "line_total": "20.00",
        }
    ]
    assert body["totals"]["grand_total"] == "25.00"
    assert body["payment"]["method"] == "invoice"
    assert body["customer"] == {
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "phone": "+441234567890",
    }
    assert body["external_reference"] == "acme-1001"
    assert body["shipping_method"] == "standard"


def test_a_card_token_pays_for_the_order(catalogue, acme, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = acme.post_order(
            order_body(payment={"method": "card", "token": "tok_visa"}), key="card-1"
        )
    assert response.status_code == 201, response.json()
    order = Order.objects.get(number=response.json()["number"])
    assert order.bill_to is None
    payment = Payment.objects.get(order=order)
    assert (payment.method, payment.payment_token) == ("card", "tok_visa")
    # authorised after the commit, reviewed, captured: released to the warehouse
    order.refresh_from_db()
    assert order.status == OrderStatus.READY
    detail = acme.client.get(f"{ORDERS_URL}{order.number}/").json()
    assert detail["payment"]["status"] == "captured"
    assert detail["payment"]["paid"] == "25.00"


def test_a_declined_card_places_the_order_and_holds_it(
    catalogue, acme, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = acme.post_order(
            order_body(payment={"method": "card", "token": "tok_chargeDeclined"}), key="card-2"
        )
    assert response.status_code == 201
    order = Order.objects.get(number=response.json()["number"])
    assert order.status == OrderStatus.ON_HOLD
    assert order.active_hold_reasons() == ["payment_failed"]


def test_an_unknown_card_token_is_refused_on_its_field(catalogue, acme):
    response = acme.post_order(order_body(payment={"method": "card", "token": "tok_nope"}))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_payment"
    assert list(error["fields"]) == ["payment.token"]
    assert Order.objects.count() == 0


def test_a_card_payment_needs_a_token(catalogue, acme):
    response = acme.post_order(order_body(payment={"method": "card"}))
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "payment.token": ["A card payment needs a token."]
    }


def test_without_a_shipping_method_the_cheapest_is_used(catalogue, acme):
    ShippingMethod.objects.filter(code="standard").update(price=Decimal("7.00"))
    cheapest = ShippingMethod.objects.create(code="economy", name="Economy", carrier="dhl", price=3)
    body = order_body()
    del body["shipping_method"]
    response = acme.post_order(body)
    assert response.status_code == 201, response.json()
    assert response.json()["shipping_method"] == cheapest.code
    assert response.json()["totals"]["shipping"] == "3.00"


def test_prices_status_and_totals_sent_by_the_partner_change_nothing(catalogue, acme):
    body = order_body(
        lines=[{"sku": "MUG-001", "quantity": 1, "unit_price": "0.01", "line_total": "0.01"}],
        status="shipped",
        grand_total="0.01",
        totals={"grand_total": "0.01"},
        number="1",
        channel="web",
    )
    response = acme.post_order(body)
    assert response.status_code == 201
    order = Order.objects.get(number=response.json()["number"])
    assert order.status == OrderStatus.RECEIVED
    assert order.channel == Channel.API
    assert order.lines.get().unit_price == Decimal("10.00")
    assert order.grand_total == Decimal("15.00")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lines": []}, "lines"),
        ({"lines": [{"sku": "MUG-001", "quantity": 0}]}, "lines.0.quantity"),
        ({"lines": [{"sku": "MUG-001", "quantity": "two"}]}, "lines.0.quantity"),
        ({"lines": [{"quantity": 1}]}, "lines.0.sku"),
        ({"customer": {"email": "not-an-email"}}, "customer.email"),
        (
            {"shipping_address": {"name": "Ada", "line1": "x", "city": "y", "country": "GBR"}},
            "shipping_address.country",
        ),
        ({"payment": {"method": "cash"}}, "payment.method"),
        ({"external_reference": "x" * 129}, "external_reference"),
        ({"customer": {"email": "ada@example.com", "name": "bad\x00name"}}, "customer.name"),
    ],
)
def test_bad_input_gets_400_with_the_field_and_changes_nothing(catalogue, acme, change, field):
    response = acme.post_order(order_body(**change))
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert Order.objects.count() == 0
    assert _reserved("MUG-001") == 0


def test_the_domain_refuses_what_the_shape_allows(catalogue, acme):
    # an unknown SKU
    response = acme.post_order(order_body(lines=[{"sku": "NOPE-1", "quantity": 1}]))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_order"
    assert response.json()["error"]["fields"] == {"lines": ["NOPE-1 is not for sale."]}
    # an unknown shipping method
    response = acme.post_order(order_body(shipping_method="teleport"), key="k2")
    assert response.status_code == 400
    assert "shipping_method" in response.json()["error"]["fields"]
    # physical goods without an address
    response = acme.post_order(order_body(shipping_address=None), key="k3")
    assert response.status_code == 400
    assert "shipping_address" in response.json()["error"]["fields"]
    assert Order.objects.count() == 0


def test_a_body_that_is_not_an_object_gets_400(catalogue, acme):
    response = acme.client.post(ORDERS_URL, [1, 2], format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    response = acme.client.post(
        ORDERS_URL, "{not json", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_out_of_stock_is_409_with_what_is_available(catalogue, acme):
    response = acme.post_order(
        order_body(lines=[{"sku": "LAMP-001", "quantity": 5}, {"sku": "MUG-001", "quantity": 1}])
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "out_of_stock"
    assert error["available"] == {"LAMP-001": 3}
    assert "LAMP-001" in error["message"]
    assert Order.objects.count() == 0
    assert _reserved("MUG-001") == 0


def test_invoice_terms_must_be_open_for_the_partner(catalogue, acme):
    acme.partner.billing_customer.credit_account.__class__.objects.filter(
        customer=acme.partner.billing_customer
    ).update(is_active=False)
    response = acme.post_order()
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_payment"
    assert "payment" in response.json()["error"]["fields"]
    assert Order.objects.count() == 0


# --- reading ------------------------------------------------------------------------------


def test_an_order_in_detail(catalogue, acme):
    number = acme.post_order().json()["number"]
    order = Order.objects.get(number=number)
    OrderEvent.objects.create(order=order, type="note", message="internal only")
    order_review(order_id=order.pk)

    response = acme.client.get(f"{ORDERS_URL}{number}/")

    assert response.status_code == 200
    body = response.json()
    assert body["number"] == number
    assert body["status"] == "confirmed"
    assert body["shipping_address"]["postal_code"] == "N1 9GU"
    assert body["totals"] == {
        "lines": "20.00",
        "shipping": "5.00",
        "tax": "4.17",
        "tax_rate": "20.00",
        "prices_include_tax": True,
        "grand_total": "25.00",
    }
    assert body["payment"]["method"] == "invoice"
    assert body["payment"]["balance_due"] == "25.00"
    assert body["shipments"] == []
    messages = [event["message"] for event in body["timeline"]]
    assert "Order confirmed." in messages
    assert "internal only" not in messages
    assert not any(m.startswith("Passed:") for m in messages)  # review checks are internal


def test_the_list_filters_and_pages_with_a_cursor(catalogue, acme):
    numbers = [
        acme.post_order(order_body(external_reference=f"ref-{i}"), key=f"k-{i}").json()["number"]
        for i in range(5)
    ]
    order_review(order_id=Order.objects.get(number=numbers[0]).pk)

    page = acme.client.get(ORDERS_URL, {"page_size": 2}).json()
    assert [o["number"] for o in page["results"]] == numbers[::-1][:2]
    page2 = acme.client.get(page["next"]).json()
    assert [o["number"] for o in page2["results"]] == numbers[::-1][2:4]

    confirmed = acme.client.get(ORDERS_URL, {"status": "confirmed"}).json()["results"]
    assert [o["number"] for o in confirmed] == [numbers[0]]
    both = acme.client.get(ORDERS_URL, {"status": "confirmed,received"}).json()["results"]
    assert len(both) == 5
    by_ref = acme.client.get(ORDERS_URL, {"external_reference": "ref-3"}).json()["results"]
    assert [o["number"] for o in by_ref] == [numbers[3]]

    future = (timezone.now() + timezone.timedelta(hours=1)).isoformat()
    assert acme.client.get(ORDERS_URL, {"updated_since": future}).json()["results"] == []
    assert acme.client.get(ORDERS_URL, {"created_since": future}).json()["results"] == []
    past = (timezone.now() - timezone.timedelta(hours=1)).isoformat()
    assert len(acme.client.get(ORDERS_URL, {"updated_since": past}).json()["results"]) == 5


@pytest.mark.parametrize(
    "params",
    [
        {"status": "lost"},
        {"created_since": "yesterday"},
        {"cursor": "garbage"},
        {"created_since": "9999-12-31T23:00:00-05:00"},  # UTC: year 10000
        {"updated_since": "0001-01-01T00:30:00+01:00"},  # UTC: before year 1
    ],
)
def test_bad_list_filters_get_400(catalogue, acme, params):
    response = acme.client.get(ORDERS_URL, params)
    assert response.status_code == 400
    assert next(iter(params)) in response.json()["error"]["fields"]


# --- cancelling ---------------------------------------------------------------------------


def test_a_partner_cancels_its_order(catalogue, acme):
    number = acme.post_order().json()["number"]

    response = acme.client.post(
        f"{ORDERS_URL}{number}/cancel/", {"reason": "Customer changed their mind"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled"
    order = Order.objects.get(number=number)
    assert order.status == OrderStatus.CANCELLED
    assert order.cancellation_reason == "Customer changed their mind"
    assert order.events.filter(type="cancelled", actor_label="partner Acme Marketplace").exists()
    assert _reserved("MUG-001") == 0
    # again: nothing changes, and it says so with 200
    again = acme.client.post(f"{ORDERS_URL}{number}/cancel/", format="json")
    assert again.status_code == 200
    assert again.json()["cancellation_reason"] == "Customer changed their mind"


def test_an_order_that_has_shipped_cannot_be_cancelled(catalogue, acme):
    number = acme.post_order().json()["number"]
    Order.objects.filter(number=number).update(status=OrderStatus.SHIPPED)

    response = acme.client.post(f"{ORDERS_URL}{number}/cancel/", format="json")

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "transition_not_allowed"
    assert "cannot be cancelled" in error["message"]
    assert Order.objects.get(number=number).status == OrderStatus.SHIPPED


def test_a_cancellation_reason_is_limited(catalogue, acme):
    number = acme.post_order().json()["number"]
    response = acme.client.post(
        f"{ORDERS_URL}{number}/cancel/", {"reason": "x" * 1001}, format="json"
    )
    assert response.status_code == 400
    assert "reason" in response.json()["error"]["fields"]
    assert Order.objects.get(number=number).status == OrderStatus.RECEIVED


# --- shipments ----------------------------------------------------------------------------


def test_shipments_with_tracking(catalogue, acme):
    from warehouse.models import Shipment, ShipmentLine

    number = acme.post_order().json()["number"]
    order = Order.objects.get(number=number)
    shipment = Shipment.objects.create(
        order=order,
        warehouse=catalogue["berlin"],
        carrier="dhl",
        service_level="Paket",
        tracking_number="1234567890",
        tracking_url="https://www.dhl.com/track?id=1234567890",
        shipped_at=timezone.now(),
    )
    ShipmentLine.objects.create(shipment=shipment, order_line=order.lines.get(), quantity=2)

    response = acme.client.get(f"{ORDERS_URL}{number}/shipments/")

    assert response.status_code == 200
    [item] = response.json()
    assert item["carrier"] == "dhl"
    assert item["service_level"] == "Paket"
    assert item["tracking_number"] == "1234567890"
    assert item["tracking_url"].startswith("https://www.dhl.com/")
    assert item["shipped_at"] is not None
    assert item["delivered_at"] is None
    assert item["lines"] == [{"sku": "MUG-001", "quantity": 2}]
    assert acme.client.get(f"{ORDERS_URL}{number}/").json()["shipments"] == [item]


def test_the_invoice_for_a_partner_order_goes_to_the_partner(
    catalogue, acme, django_capture_on_commit_callbacks
):
    # given a partner order on invoice terms, reviewed and invoiced after the commit
    with django_capture_on_commit_callbacks(execute=True):
        response = acme.post_order(key="acme-invoice")
    order = Order.objects.get(number=response.json()["number"])
    assert order.status == "ready"
    # then the invoice is mailed to the partner's billing address, not to the end customer
    invoice_mail = next(m for m in mail.outbox if m.subject.startswith("Invoice for order"))
    assert invoice_mail.to == [acme.partner.billing_customer.email]
    assert "ada@example.com" not in invoice_mail.to
    from payments.tests.pdf_text import pdf_text

    text = pdf_text(invoice_mail.attachments[0][1])
    assert acme.partner.name in text or acme.partner.billing_customer.email in text


def test_a_partner_never_learns_what_we_know_about_an_email(catalogue, acme):
    from orders.tests.factories import CustomerFactory

    # given a web customer whose stored name the partner does not know
    CustomerFactory(email="grace@example.com", name="Grace Brewster Hopper")
    body = order_body(
        customer={"email": "grace@example.com", "name": "G. H."},
        shipping_address={**order_body()["shipping_address"], "name": "G. H."},
    )
    # when the partner places an order under that email
    response = acme.post_order(body, key="probe-1")
    # then the answer shows only what the partner sent
    assert response.status_code == 201, response.json()
    assert response.json()["customer"]["name"] == "G. H."
    assert "Brewster" not in response.content.decode()


# --- country codes ----------------------------------------------------------------------


def test_the_api_refuses_xx_with_a_field_error_and_places_nothing(catalogue, acme):
    body = order_body()
    body["shipping_address"]["country"] = "XX"
    response = acme.post_order(body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["fields"] == {
        "shipping_address.country": [
            "“XX” is not a country code: use the two-letter ISO code, such as DE, GB or US."
        ]
    }
    assert not Order.objects.exists()


def test_the_api_still_reads_a_lowercase_code(catalogue, acme):
    body = order_body()
    body["shipping_address"]["country"] = "gb"
    response = acme.post_order(body)
    assert response.status_code == 201, response.json()
    assert Order.objects.get().shipping_address.country == "GB"


# --- quantities ---------------------------------------------------------------------------


@pytest.mark.parametrize("quantity", ["٣", "３", "²", "1_0", True, 2.5])
def test_a_quantity_not_in_the_digits_0_to_9_is_refused(catalogue, acme, quantity):
    response = acme.post_order(order_body(lines=[{"sku": "MUG-001", "quantity": quantity}]))
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["lines.0.quantity"]
    assert not Order.objects.exists()


@pytest.mark.parametrize("quantity", [3, "3", " 3 "])
def test_a_quantity_as_a_number_or_digits_is_read(catalogue, acme, quantity):
    response = acme.post_order(order_body(lines=[{"sku": "MUG-001", "quantity": quantity}]))
    assert response.status_code == 201, response.json()
    assert response.json()["lines"][0]["quantity"] == 3


# --- no value is null -------------------------------------------------------------------


def test_what_has_no_value_is_null_and_null_is_read_as_none(catalogue, acme):
    # given an order with no reference, phone, company or second address line, sent as null
    # (as a client generated from the schema sends what it was given back)
    address = {**order_body()["shipping_address"], "company": None, "line2": None, "phone": None}
    body = order_body(
        customer={"email": "ada@example.com", "name": None, "phone": None},
        shipping_address=address,
        external_reference=None,
        customer_note=None,
    )
    # when it is placed
    response = acme.post_order(body, key="nulls-1")
    # then it is stored blank, and every such field answers null, never ""
    assert response.status_code == 201, response.json()
    order = Order.objects.get(number=response.json()["number"])
    assert (order.external_reference, order.phone, order.customer_note) == ("", "", "")
    assert (order.shipping_address.company, order.shipping_address.line2) == ("", "")
    answer = response.json()
    assert answer["external_reference"] is None
    assert answer["customer"]["phone"] is None
    assert answer["shipping_address"]["company"] is None
    assert answer["shipping_address"]["line2"] is None
    assert answer["shipping_address"]["region"] is None
    assert answer["cancellation_reason"] is None
    assert answer["shipments"] == []
    # a card token may be null too when paying by invoice
    by_invoice = acme.post_order(
        {**body, "payment": {"method": "invoice", "token": None}}, key="nulls-3"
    )
    assert by_invoice.status_code == 201, by_invoice.json()
    # and null where a value is required is still refused on its field
    refused = acme.post_order({**body, "customer": {"email": None}}, key="nulls-2")
    assert refused.status_code == 400
    assert "customer.email" in refused.json()["error"]["fields"]

"""The partner API shows every paid order's invoice number: a card order's too (paid, so no
due date: null), and null while an order has none."""

import pytest

from orders.api.tests.conftest import ORDERS_URL, order_body
from orders.models import Order
from payments.models import Invoice

pytestmark = pytest.mark.django_db


def test_a_card_order_shows_its_invoice_number_and_no_due_date(
    catalogue, acme, django_capture_on_commit_callbacks
):
    # given a card order, captured
    with django_capture_on_commit_callbacks(execute=True):
        response = acme.post_order(
            order_body(payment={"method": "card", "token": "tok_visa"}), key="card-invoice"
        )
    assert response.status_code == 201, response.json()
    order = Order.objects.get(number=response.json()["number"])
    invoice = Invoice.objects.get(payment__order=order)

    # when the partner reads it, one by one and in the list
    detail = acme.client.get(f"{ORDERS_URL}{order.number}/").json()
    listed = acme.client.get(ORDERS_URL).json()["results"][0]

    # then its payment names the invoice; the due date does not exist for a paid card invoice
    for payment in (detail["payment"], listed["payment"]):
        assert payment["status"] == "captured"
        assert payment["invoice_number"] == invoice.number
        assert payment["invoice_due_date"] is None


def test_an_order_not_paid_yet_has_null_invoice_fields(catalogue, acme):
    # a card not yet authorised (the after-commit work has not run): no invoice
    response = acme.post_order(
        order_body(payment={"method": "card", "token": "tok_visa"}), key="card-unpaid"
    )
    assert response.status_code == 201, response.json()
    payment = response.json()["payment"]
    assert payment["invoice_number"] is None
    assert payment["invoice_due_date"] is None

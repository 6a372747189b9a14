"""Carrier tracking events arriving at the same moment, with real threads on PostgreSQL
(started together at a barrier): an event is kept once per shipment, every answer is a 2xx,
and one event id reporting on two shipments is kept for both."""

import json

import pytest
from django.test import Client

from orders.models import Order, OrderStatus
from orders.tests.factories import place_order
from orders.webhook_signing import sign
from tests.threads import run_together
from warehouse.models import Shipment, ShipmentStatus, TrackingEvent
from warehouse.services import packing, picking, shipping

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgres_only")]
WEBHOOK = "/warehouse/webhooks/tracking/"
SECRET = "race-track-secret"


@pytest.fixture(autouse=True)
def _tracking_secret(settings):
    settings.TRACKING_WEBHOOK_SECRET = SECRET


def _shipped(tracking_number: str, picker, box) -> Shipment:
    """An order placed, paid, picked, packed and handed to DHL under `tracking_number`."""
    order = Order.objects.get(pk=place_order([("MUG-001", 1)]).order.pk)
    assert order.status == OrderStatus.READY, order.status
    (pick_list,) = picking.picklist_create(order_ids=[order.pk], actor=picker).pick_lists
    picked = {item.pk: item.quantity for item in pick_list.items.all()}
    picking.picklist_confirm(pick_list_id=pick_list.pk, picked=picked, actor=picker)
    shipment = order.shipments.get()
    scans = [
        line.order_line.product.barcode or line.order_line.sku
        for line in shipment.lines.select_related("order_line__product")
        for _ in range(line.quantity)
    ]
    packing.shipment_pack(
        shipment_id=shipment.pk, scans=scans, package_type_id=box.pk, weight_grams=500, actor=picker
    )
    shipping.shipment_ship(
        shipment_id=shipment.pk, carrier="dhl", tracking_number=tracking_number, actor=picker
    )
    return Shipment.objects.get(pk=shipment.pk)


def _post(event: dict) -> tuple[int, str]:
    body = json.dumps(event).encode()
    response = Client().post(
        WEBHOOK, body, content_type="application/json", HTTP_X_SIGNATURE=sign(body, SECRET)
    )
    return response.status_code, response.json().get("result", "")


@pytest.mark.parametrize("attempt", range(3))
def test_one_event_sent_four_times_at_once_is_kept_once(catalogue, bins, picker, box, attempt):
    # given a shipped parcel, and a carrier that sends one event four times at once
    shipment = _shipped("1000000001", picker, box)
    event = {
        "event_id": "dhl-burst-1",
        "carrier": "dhl",
        "tracking_number": "1000000001",
        "status": "in_transit",
    }

    # when
    answers = run_together(4, lambda index: _post(event))

    # then one answer applied it and the others say it was recorded already: no 500
    assert sorted(answers) == [
        (200, "applied: in_transit"),
        (200, "duplicate"),
        (200, "duplicate"),
        (200, "duplicate"),
    ], answers
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 1
    assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.IN_TRANSIT


@pytest.mark.parametrize("attempt", range(3))
def test_one_event_id_for_two_shipments_at_once_is_kept_for_both(
    catalogue, bins, picker, box, attempt
):
    # given two shipped parcels, and one carrier event id reporting on both
    shipments = [_shipped(number, picker, box) for number in ("1000000002", "1000000003")]

    # when the event for each arrives at the same moment
    answers = run_together(
        2,
        lambda index: _post(
            {
                "event_id": "dhl-depot-scan",
                "carrier": "dhl",
                "tracking_number": ("1000000002", "1000000003")[index],
                "status": "in_transit",
            }
        ),
    )

    # then both are applied, each to its own shipment
    assert answers == [(200, "applied: in_transit")] * 2, answers
    for shipment in shipments:
        assert TrackingEvent.objects.filter(shipment=shipment).count() == 1
        assert Shipment.objects.get(pk=shipment.pk).status == ShipmentStatus.IN_TRANSIT

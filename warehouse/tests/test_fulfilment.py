"""From ready to delivered: shipments, picking, packing, shipping, tracking, downloads and
appointments, with every phase on."""

import json
from datetime import time, timedelta

import pytest
from django.core import mail
from django.core.files.base import ContentFile
from django.utils import timezone

from orders.models import EventType, HoldReason, Notification, Order, OrderStatus
from orders.services import order_cancel, order_release
from orders.tests.factories import ProductFactory, place_order, staff_user
from orders.webhook_signing import sign
from warehouse.exceptions import AppointmentRefused, FulfilmentRefused, OutOfStock
from warehouse.models import (
    BinStock,
    DigitalAsset,
    DownloadGrant,
    Shipment,
    ShipmentStatus,
    StockItem,
    StockMovement,
    TrackingEvent,
)
from warehouse.services import (
    appointments,
    downloads,
    packing,
    picking,
    shipping,
    stock_receive,
    tracking,
)

pytestmark = pytest.mark.django_db
SS = ShipmentStatus
WEBHOOK = "/warehouse/webhooks/tracking/"


def _ready(capture, lines, **kwargs) -> Order:
    with capture(execute=True):
        order = place_order(lines, **kwargs).order
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.READY, order.status
    return order


def _pick_all(order_ids, picker, short: dict[str, int] | None = None):
    result = picking.picklist_create(order_ids=order_ids, actor=picker)
    for pick_list in result.pick_lists:
        picked = {}
        for item in pick_list.items.select_related("product"):
            picked[item.pk] = item.quantity - (short or {}).get(item.product.sku, 0)
        picking.picklist_confirm(pick_list_id=pick_list.pk, picked=picked, actor=picker)
    return result


def _scans(shipment: Shipment) -> list[str]:
    return [
        line.order_line.product.barcode or line.order_line.sku
        for line in shipment.lines.select_related("order_line__product")
        for _ in range(line.quantity)
    ]


def _pack_all(order: Order, picker, box) -> None:
    for shipment in order.shipments.filter(status=SS.PICKING):
        packing.shipment_pack(
            shipment_id=shipment.pk,
            scans=_scans(shipment),
            package_type_id=box.pk,
            weight_grams=900,
            actor=picker,
        )


def test_one_warehouse_with_everything_ships_it_all(catalogue, django_capture_on_commit_callbacks):
    order = _ready(django_capture_on_commit_callbacks, [("MUG-001", 2), ("TEE-001", 1)])
    # Berlin has both (mugs 50, tees 5): one shipment from Berlin
    shipments = list(order.shipments.all())
    assert [(s.warehouse.code, s.status) for s in shipments] == [("ber", SS.PENDING)]
    assert sorted(shipments[0].lines.values_list("order_line__sku", "quantity")) == [
        ("MUG-001", 2),
        ("TEE-001", 1),
    ]


def test_split_order_is_partially_shipped_then_shipped_then_delivered(
    catalogue, bins, picker, box, django_capture_on_commit_callbacks
):
    # lamps are only in London, 6 tees only fit in London... mugs 60 in Berlin: two warehouses
    order = _ready(django_capture_on_commit_callbacks, [("LAMP-001", 1), ("MUG-001", 55)])
    assert sorted(order.shipments.values_list("warehouse__code", flat=True)) == ["ber", "lon"]
    _pick_all([order.pk], picker)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PICKING
    _pack_all(order, picker, box)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PACKED
    first, second = order.shipments.order_by("pk")
    with django_capture_on_commit_callbacks(execute=True):
        shipping.shipment_ship(
            shipment_id=first.pk, carrier="ups", tracking_number="1Z999AA10123456784", actor=picker
        )
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PARTIALLY_SHIPPED
    with django_capture_on_commit_callbacks(execute=True):
        shipping.shipment_ship(
            shipment_id=second.pk, carrier="dhl", tracking_number="1234567890", actor=picker
        )
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.SHIPPED
    shipped_mails = [m for m in mail.outbox if "on its way" in m.subject]
    assert [m.subject.startswith("Part of") for m in shipped_mails] == [True, False]
    assert "https://www.ups.com/track?tracknum=1Z999AA10123456784" in shipped_mails[0].body
    # the first delivery leaves the order shipped; the second delivers it, with one email
    with django_capture_on_commit_callbacks(execute=True):
        tracking.shipment_track(shipment_id=first.pk, status=SS.DELIVERED, actor="carrier")
    assert Order.objects.get(pk=order.pk).status == OrderStatus.SHIPPED
    with django_capture_on_commit_callbacks(execute=True):
        tracking.shipment_track(shipment_id=second.pk, status=SS.DELIVERED, actor="carrier")
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.DELIVERED
    assert order.delivered_at is not None
    assert len([m for m in mail.outbox if "has been delivered" in m.subject]) == 1


def test_picking_takes_stock_out_and_walks_the_bins_in_order(
    catalogue, bins, picker, django_capture_on_commit_callbacks
):
    one = _ready(django_capture_on_commit_callbacks, [("MUG-001", 2), ("TEE-001", 1)])
    two = _ready(django_capture_on_commit_callbacks, [("MUG-001", 3)])
    result = picking.picklist_create(order_ids=[one.pk, two.pk], actor=picker)
    (pick_list,) = result.pick_lists
    walk = picking.picklist_items_for_walk(pick_list)
    # grouped by bin and SKU: mugs for both orders in one group, and in walking order
    assert [(g["product"].sku, g["quantity"], len(g["items"])) for g in walk] == [
        ("TEE-001", 1, 1),
        ("MUG-001", 5, 2),
    ]
    assert [g["location"].walk_order for g in walk] == sorted(
        g["location"].walk_order for g in walk
    )
    picking.picklist_confirm(
        pick_list_id=pick_list.pk,
        picked={item.pk: item.quantity for item in pick_list.items.all()},
        actor=picker,
    )
    mug = StockItem.objects.get(product__sku="MUG-001", warehouse__code="ber")
    assert (mug.on_hand, mug.reserved) == (45, 0)
    assert (
        BinStock.objects.get(product__sku="MUG-001", location__warehouse__code="ber").quantity == 45
    )
    assert StockMovement.objects.filter(kind="pick", stock_item=mug).count() == 2


def test_a_short_pick_holds_the_order_and_corrects_stock(
    catalogue, bins, picker, box, django_capture_on_commit_callbacks
):
    order = _ready(django_capture_on_commit_callbacks, [("TEE-001", 4)])
    _pick_all([order.pk], picker, short={"TEE-001": 1})
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert order.held_from == OrderStatus.PICKING
    assert order.active_hold_reasons() == [HoldReason.OUT_OF_STOCK]
    assert order.events.filter(type=EventType.SHORT_PICK).exists()
    tee = StockItem.objects.get(product__sku="TEE-001", warehouse__code="ber")
    # 5 on hand, 4 reserved: 3 picked and 1 found missing leave both counts
    assert (tee.on_hand, tee.reserved) == (1, 0)
    assert StockMovement.objects.filter(kind="short_pick", stock_item=tee).get().on_hand_delta == -1
    # the last tee in Berlin turns out to be damaged: it cannot be released until one
    # arrives in Berlin, where its shipment leaves from
    StockItem.objects.filter(pk=tee.pk).update(on_hand=0)
    agent = staff_user("Customer service", "agent")
    with pytest.raises(OutOfStock):
        order_release(order_id=order.pk, actor=agent)
    stock_receive(stock_item=tee, quantity=3, actor=picker, reason="delivery")
    order = order_release(order_id=order.pk, actor=agent, note="restocked")
    assert order.status == OrderStatus.PICKING
    # the rest is picked from a second pick list, then the order packs and ships whole
    _pick_all([order.pk], picker)
    _pack_all(order, picker, box)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PACKED


def test_packing_refuses_a_wrong_or_missing_item(
    catalogue, bins, picker, box, django_capture_on_commit_callbacks
):
    order = _ready(django_capture_on_commit_callbacks, [("MUG-001", 2)])
    _pick_all([order.pk], picker)
    shipment = order.shipments.get()
    for scans, words in [
        (["MUG-001"], "missing 1"),
        (["MUG-001", "MUG-001", "MUG-001"], "too many 1"),
        (["MUG-001", "TEE-001"], "not in this order: TEE-001"),
    ]:
        with pytest.raises(FulfilmentRefused, match=words):
            packing.shipment_pack(
                shipment_id=shipment.pk,
                scans=scans,
                package_type_id=box.pk,
                weight_grams=500,
                actor=picker,
            )
        assert Shipment.objects.get(pk=shipment.pk).status == SS.PICKING
    packing.shipment_pack(
        shipment_id=shipment.pk,
        scans=["mug-001", "MUG-001"],
        package_type_id=box.pk,
        weight_grams=500,
        actor=picker,
    )
    assert Shipment.objects.get(pk=shipment.pk).status == SS.PACKED


def test_tracking_numbers_must_fit_the_carrier(
    catalogue, bins, picker, box, django_capture_on_commit_callbacks
):
    order = _ready(django_capture_on_commit_callbacks, [("MUG-001", 1)])
    _pick_all([order.pk], picker)
    _pack_all(order, picker, box)
    shipment = order.shipments.get()
    for carrier, number in [
        ("ups", "12345"),
        ("fedex", "1Z999AA10123456784"),
        ("nope", "1"),
        ("dhl", "١٢٣٤٥٦٧٨٩٠"),  # ten digits, but Arabic-Indic ones
    ]:
        with pytest.raises(FulfilmentRefused):
            shipping.shipment_ship(
                shipment_id=shipment.pk, carrier=carrier, tracking_number=number, actor=picker
            )
    assert Shipment.objects.get(pk=shipment.pk).status == SS.PACKED
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PACKED


def _shipped(
    capture, picker, box, lines=(("MUG-001", 1),), tracking_number="1234567890"
) -> Shipment:
    order = _ready(capture, list(lines))
    _pick_all([order.pk], picker)
    _pack_all(order, picker, box)
    shipment = order.shipments.get()
    with capture(execute=True):
        shipping.shipment_ship(
            shipment_id=shipment.pk, carrier="dhl", tracking_number=tracking_number, actor=picker
        )
    return Shipment.objects.get(pk=shipment.pk)


def _post_tracking(client, payload: dict, secret: str = "track-secret", **extra):
    body = json.dumps(payload).encode()
    return client.post(
        WEBHOOK, body, content_type="application/json", HTTP_X_SIGNATURE=sign(body, secret), **extra
    )


def test_the_tracking_webhook_moves_the_shipment_once_per_event(
    client, settings, catalogue, bins, picker, box, django_capture_on_commit_callbacks
):
    settings.TRACKING_WEBHOOK_SECRET = "track-secret"
    shipment = _shipped(django_capture_on_commit_callbacks, picker, box)
    event = {
        "event_id": "dhl-1",
        "tracking_number": "1234567890",
        "carrier": "dhl",
        "status": "in_transit",
        "occurred_at": "2026-11-26T10:00:00Z",
        "location": "Leipzig",
    }
    assert _post_tracking(client, event).json()["result"] == "applied: in_transit"
    assert _post_tracking(client, event).json()["result"] == "duplicate"
    assert TrackingEvent.objects.filter(shipment=shipment).count() == 1
    delivered = {**event, "event_id": "dhl-2", "status": "delivered"}
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            response = _post_tracking(client, delivered)
        assert response.status_code == 200
    assert Shipment.objects.get(pk=shipment.pk).status == SS.DELIVERED
    assert Order.objects.get(pk=shipment.order_id).status == OrderStatus.DELIVERED
    assert (
        Notification.objects.filter(order_id=shipment.order_id, kind="order_delivered").count() == 1
    )
    assert len([m for m in mail.outbox if "has been delivered" in m.subject]) == 1


def test_one_event_id_reporting_on_two_shipments_is_recorded_for_each(
    client, settings, catalogue, bins, picker, box, django_capture_on_commit_callbacks
):
    # given two shipped parcels, and a carrier that uses one event id for both (a scan of a
    # whole cage at the depot, say)
    settings.TRACKING_WEBHOOK_SECRET = "track-secret"
    first = _shipped(django_capture_on_commit_callbacks, picker, box, tracking_number="1111111111")
    second = _shipped(django_capture_on_commit_callbacks, picker, box, tracking_number="2222222222")
    scan = {"event_id": "dhl-depot-7", "carrier": "dhl", "status": "in_transit"}

    # when the event arrives for each, one after the other, then again for the first
    answers = [
        _post_tracking(client, {**scan, "tracking_number": number})
        for number in ("1111111111", "2222222222", "1111111111")
    ]

    # then each shipment has it once, and the replay is a duplicate
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["result"] for a in answers] == [
        "applied: in_transit",
        "applied: in_transit",
        "duplicate",
    ]
    for shipment in (first, second):
        assert TrackingEvent.objects.filter(shipment=shipment, event_id="dhl-depot-7").count() == 1
        assert Shipment.objects.get(pk=shipment.pk).status == SS.IN_TRANSIT


def test_the_tracking_webhook_refuses_bad_signatures_and_bad_events(
    client, settings, catalogue, bins, picker, box, django_capture_on_commit_callbacks
):
    settings.TRACKING_WEBHOOK_SECRET = "track-secret"
    shipment = _shipped(django_capture_on_commit_callbacks, picker, box)
    event = {"event_id": "e1", "tracking_number": "1234567890", "status": "delivered"}
    assert _post_tracking(client, event, secret="wrong").status_code == 400
    body = json.dumps(event).encode()
    stale = sign(body, "track-secret", timestamp=int(timezone.now().timestamp()) - 3600)
    assert (
        client.post(
            WEBHOOK, body, content_type="application/json", HTTP_X_SIGNATURE=stale
        ).status_code
        == 400
    )
    assert client.post(WEBHOOK, body, content_type="application/json").status_code == 400
    bad = _post_tracking(client, {**event, "status": "teleported"})
    assert bad.status_code == 422
    assert "status" in bad.json()["error"]["fields"]
    assert _post_tracking(client, {**event, "tracking_number": "999"}).status_code == 404
    assert Shipment.objects.get(pk=shipment.pk).status == SS.SHIPPED
    assert not TrackingEvent.objects.exists()


def test_a_delivery_exception_tells_the_customer_and_shows_in_the_held_queue(
    client, settings, catalogue, bins, picker, box, django_capture_on_commit_callbacks
):
    settings.TRACKING_WEBHOOK_SECRET = "track-secret"
    shipment = _shipped(django_capture_on_commit_callbacks, picker, box)
    with django_capture_on_commit_callbacks(execute=True):
        _post_tracking(
            client,
            {
                "event_id": "x1",
                "tracking_number": "1234567890",
                "status": "exception",
                "description": "Address not found",
            },
        )
    assert Shipment.objects.get(pk=shipment.pk).status == SS.EXCEPTION
    assert any("problem with the delivery" in m.subject for m in mail.outbox)
    client.force_login(staff_user("Customer service", "agent"))
    listing = client.get("/admin/orders/heldorder/")
    assert [o.pk for o in listing.context["cl"].result_list] == [shipment.order_id]


def test_cancelling_while_picking_puts_units_back(
    catalogue, bins, picker, django_capture_on_commit_callbacks
):
    order = _ready(django_capture_on_commit_callbacks, [("MUG-001", 2)])
    _pick_all([order.pk], picker)
    mug = StockItem.objects.get(product__sku="MUG-001", warehouse__code="ber")
    assert (mug.on_hand, mug.reserved) == (48, 0)
    with django_capture_on_commit_callbacks(execute=True):
        order_cancel(order_id=order.pk, actor="customer", reason="Changed mind")
    mug.refresh_from_db()
    assert (mug.on_hand, mug.reserved) == (50, 0)
    assert order.shipments.get().status == SS.CANCELLED
    assert (
        BinStock.objects.get(product__sku="MUG-001", location__warehouse__code="ber").quantity == 50
    )


# --- digital goods ------------------------------------------------------------------------


@pytest.fixture
def ebook_asset(catalogue):
    asset = DigitalAsset(product=catalogue["ebook"], filename="book.pdf", max_downloads=2)
    asset.file.save("book.pdf", ContentFile(b"%PDF-1.4 the book"), save=False)
    asset.save()
    return asset


def _download_order(capture) -> tuple[Order, DownloadGrant]:
    from orders.tests.factories import BERLIN

    order = None
    with capture(execute=True):
        order = place_order(
            [("EBOOK-001", 1)], shipping_address=None, shipping_method=None, billing_address=BERLIN
        ).order
    return Order.objects.get(pk=order.pk), DownloadGrant.objects.get(order_line__order=order)


def test_a_digital_order_is_delivered_with_download_links(
    client, ebook_asset, django_capture_on_commit_callbacks, signing_clock_held
):
    order, grant = _download_order(django_capture_on_commit_callbacks)
    assert order.status == OrderStatus.DELIVERED
    links = next(m for m in mail.outbox if m.subject.startswith("Your downloads"))
    url = downloads.download_url(grant)
    assert url in links.body
    response = client.get(url.replace("http://127.0.0.1:8000", ""))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 the book"
    assert 'filename="book.pdf"' in response["Content-Disposition"]


def test_download_links_refuse_when_expired_over_the_limit_or_tampered(
    client, ebook_asset, django_capture_on_commit_callbacks
):
    _order, grant = _download_order(django_capture_on_commit_callbacks)
    path = f"/downloads/{downloads.download_token(grant)}/"
    assert client.get(path).status_code == 200
    assert client.get(path).status_code == 200
    over = client.get(path)
    assert over.status_code == 403 and b"limit" in over.content
    DownloadGrant.objects.filter(pk=grant.pk).update(
        download_count=0, expires_at=timezone.now() - timedelta(minutes=1)
    )
    expired = client.get(path)
    assert expired.status_code == 403 and b"expired" in expired.content
    token = downloads.download_token(grant)
    tampered = client.get(f"/downloads/{token[:-3]}abc/")
    assert tampered.status_code == 403 and b"not valid" in tampered.content
    DownloadGrant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() + timedelta(days=1))
    grant.refresh_from_db()
    assert client.get(path).status_code == 200
    downloads.revoke_downloads(order=grant.order_line.order)
    assert client.get(path).status_code == 403


# --- services -----------------------------------------------------------------------------


def test_a_service_visit_is_booked_and_completes_the_order(
    catalogue, django_capture_on_commit_callbacks
):
    from orders.tests.factories import BERLIN

    ProductFactory(sku="INSTALL-1", name="Installation", kind="service")
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(
            [("INSTALL-1", 1)], shipping_address=None, shipping_method=None, billing_address=BERLIN
        ).order
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.READY
    technician = staff_user("Warehouse", "tech")
    line = order.lines.get()
    tomorrow = timezone.localdate() + timedelta(days=1)
    with pytest.raises(AppointmentRefused, match="end after"):
        appointments.appointment_schedule(
            order_line_id=line.pk,
            day=tomorrow,
            window_start=time(12),
            window_end=time(9),
            actor=technician,
        )
    with django_capture_on_commit_callbacks(execute=True):
        appointment = appointments.appointment_schedule(
            order_line_id=line.pk,
            day=tomorrow,
            window_start=time(9),
            window_end=time(12),
            technician=technician,
            technician_name="Tess",
            actor=technician,
        )
    booked = next(m for m in mail.outbox if m.subject.startswith("Your appointment"))
    assert "09:00–12:00" in booked.body and "Tess" in booked.body
    with django_capture_on_commit_callbacks(execute=True):
        appointments.appointment_complete(appointment_id=appointment.pk, actor=technician)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.DELIVERED
    # customer service may book but the Finance group may not
    with pytest.raises(AppointmentRefused):
        appointments.appointment_schedule(
            order_line_id=line.pk,
            day=tomorrow,
            window_start=time(9),
            window_end=time(10),
            actor=staff_user("Finance", "fin"),
        )


def test_physical_goods_cannot_be_booked_as_a_visit(catalogue, django_capture_on_commit_callbacks):
    order = _ready(django_capture_on_commit_callbacks, [("MUG-001", 1)])
    with pytest.raises(AppointmentRefused, match="not a service"):
        appointments.appointment_schedule(
            order_line_id=order.lines.get().pk,
            day=timezone.localdate() + timedelta(days=1),
            window_start=time(9),
            window_end=time(10),
            actor="staff",
        )


@pytest.mark.parametrize(
    "event",
    [
        {"event_id": "odd-1", "tracking_number": "1234567890", "status": ["x"]},
        {"event_id": "odd-2", "tracking_number": "1234567890", "status": {}},
        {
            "event_id": "odd-3",
            "tracking_number": "1234567890",
            "status": "delivered",
            "occurred_at": "2026-13-45T99:00:00Z",
        },
        {
            "event_id": "odd-4",
            "tracking_number": "1234567890",
            "status": "delivered",
            "carrier": ["dhl"],
            "description": "nul\x00",
        },
    ],
)
def test_signed_but_odd_tracking_events_are_refused_clearly(client, settings, event):
    settings.TRACKING_WEBHOOK_SECRET = "track-secret"
    response = _post_tracking(client, event)
    assert response.status_code in (400, 422)
    assert "error" in response.json()

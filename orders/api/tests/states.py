"""Partner orders in every state the API can show, placed through the API and moved on by the
services staff, carriers and tasks use: what the schema tests (tests/test_api_schemathesis.py,
tests/test_api_schema_objects.py) check the answers against. Each order is the partner's own;
`seed_orders_in_every_state` returns their numbers by the state they were left in."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.files.base import ContentFile
from django.db.models import F

from orders.api.tests.conftest import PartnerClient, order_body
from orders.models import HoldReason, Order, OrderStatus
from orders.services import order_cancel, order_complete, order_hold, order_review
from orders.tests.factories import payment_securing_deferred
from payments.models import Invoice, Payment, PaymentStatus
from payments.services import refund_create
from payments.services.invoices import invoice_flag_overdue, invoice_record_payment
from warehouse.models import BinStock, DigitalAsset, Product, Shipment, ShipmentStatus, StockItem
from warehouse.services import packing, picking, shipping, tracking

Capture = Callable[..., AbstractContextManager[Any]]
CARD = {"method": "card", "token": "tok_visa"}
DECLINED = {"method": "card", "token": "tok_chargeDeclined"}


class Seeder:
    def __init__(self, partner: PartnerClient, *, picker: Any, box: Any, capture: Capture):
        self.partner = partner
        self.picker = picker
        self.box = box
        self.capture = capture
        self.count = 0

    def place(self, *, run: bool = True, **body: Any) -> Order:
        """Place through the API; `run` lets the after-commit work (review, payment,
        shipments) happen as the workers would."""
        self.count += 1
        key = f"{self.partner.partner.pk}-state-{self.count}"
        body.setdefault("external_reference", key)
        if run:
            with self.capture(execute=True):
                response = self.partner.post_order(order_body(**body), key=key)
        else:
            response = self.partner.post_order(order_body(**body), key=key)
        assert response.status_code == 201, response.json()
        return Order.objects.get(number=response.json()["number"])

    def ready(self, **body: Any) -> Order:
        order = self.place(**body)
        assert _status(order) == OrderStatus.READY, _status(order)
        return order

    def picked(self, **body: Any) -> Order:
        order = self.ready(**body)
        result = picking.picklist_create(order_ids=[order.pk], actor=self.picker)
        for pick_list in result.pick_lists:
            picked = {item.pk: item.quantity for item in pick_list.items.all()}
            picking.picklist_confirm(pick_list_id=pick_list.pk, picked=picked, actor=self.picker)
        return order

    def packed(self, **body: Any) -> Order:
        order = self.picked(**body)
        for shipment in order.shipments.filter(status=ShipmentStatus.PICKING):
            scans = [
                line.order_line.product.barcode or line.order_line.sku
                for line in shipment.lines.select_related("order_line__product")
                for _ in range(line.quantity)
            ]
            packing.shipment_pack(
                shipment_id=shipment.pk,
                scans=scans,
                package_type_id=self.box.pk,
                weight_grams=900,
                actor=self.picker,
            )
        return order

    def ship(self, shipment: Shipment, number: int, carrier: str = "dhl") -> None:
        """Hand it to the carrier, with a tracking number of 10 digits made from `number`
        (unique for each partner seeded)."""
        with self.capture(execute=True):
            shipping.shipment_ship(
                shipment_id=shipment.pk,
                carrier=carrier,
                tracking_number=str(number + 1000 * self.partner.partner.pk),
                service_level="Paket" if carrier == "dhl" else "",
                actor=self.picker,
            )

    def track(self, shipment: Shipment, status: str) -> None:
        with self.capture(execute=True):
            tracking.shipment_track(shipment_id=shipment.pk, status=status, actor="carrier")

    def shipped(self, number: int, carrier: str = "dhl", **body: Any) -> Order:
        """Packed and shipped, with tracking numbers from `number` on."""
        order = self.packed(**body)
        for index, shipment in enumerate(order.shipments.order_by("pk")):
            self.ship(shipment, number + index, carrier)
        return order


def _status(order: Order) -> str:
    return Order.objects.values_list("status", flat=True).get(pk=order.pk)


def _plenty_of_stock() -> None:
    """Enough mugs in Berlin for every state, few in London, so that an order for a lamp
    (London only) and many mugs is split into two shipments."""
    StockItem.objects.filter(product__sku="MUG-001", warehouse__code="ber").update(
        on_hand=F("on_hand") + 500
    )
    BinStock.objects.filter(product__sku="MUG-001", location__warehouse__code="ber").update(
        quantity=F("quantity") + 500
    )
    StockItem.objects.filter(product__sku="LAMP-001").update(on_hand=F("on_hand") + 50)
    BinStock.objects.filter(product__sku="LAMP-001").update(quantity=F("quantity") + 50)
    ebook = Product.objects.get(sku="EBOOK-001")
    if not DigitalAsset.objects.filter(product=ebook).exists():
        DigitalAsset.objects.create(
            product=ebook, file=ContentFile(b"%PDF-1.4\n%%EOF\n", name="ebook.pdf")
        )


def seed_orders_in_every_state(
    partner: PartnerClient, *, picker: Any, box: Any, capture: Capture
) -> dict[str, str]:
    """The partner's orders, one per state (and per shipment and payment state worth showing),
    by name. Needs the `catalogue`, `bins`, `picker` and `box` fixtures' data."""
    _plenty_of_stock()
    seed = Seeder(partner, picker=picker, box=box, capture=capture)
    made: dict[str, Order] = {}
    # Placed; the review has not run yet. A bare order: no name, phone or reference.
    made["received"] = seed.place(
        run=False,
        customer={"email": "bare@example.com"},
        external_reference="",
        shipping_address={
            "name": "Bare Address",
            "line1": "1 Main St",
            "city": "London",
            "country": "GB",
        },
    )
    # Reviewed and held: a declined card (payment_failed), and a hold by staff.
    made["on_hold_payment"] = seed.place(payment=DECLINED)
    held = seed.place()
    order_review(order_id=held.pk)
    made["on_hold_manual"] = order_hold(
        order_id=held.pk, actor="test", reason=HoldReason.FRAUD_RISK, note="Checking."
    )
    # Confirmed: the card is authorised, its capture not yet run.
    with payment_securing_deferred():
        made["confirmed"] = seed.place(payment=CARD)
    # Ready: a shipment pending, nothing tracked yet (the case that once answered "").
    made["ready"] = seed.ready(payment=CARD)
    made["picking"] = seed.picked()
    made["packed"] = seed.packed()
    # Two shipments, one of them on its way.
    split = seed.packed(
        lines=[{"sku": "LAMP-001", "quantity": 1}, {"sku": "MUG-001", "quantity": 20}]
    )
    first = split.shipments.order_by("pk").first()
    seed.ship(first, 1000000001)
    made["partially_shipped"] = split
    made["shipped"] = seed.shipped(2000000001, payment=CARD)
    in_transit = seed.shipped(3000000001)
    seed.track(in_transit.shipments.get(), ShipmentStatus.IN_TRANSIT)
    made["in_transit"] = in_transit
    exception = seed.shipped(4000000001)
    seed.track(exception.shipments.get(), ShipmentStatus.EXCEPTION)
    made["delivery_exception"] = exception
    out_for_delivery = seed.shipped(4100000001)
    seed.track(out_for_delivery.shipments.get(), ShipmentStatus.OUT_FOR_DELIVERY)
    made["out_for_delivery"] = out_for_delivery
    sent_back = seed.shipped(4200000001)
    seed.track(sent_back.shipments.get(), ShipmentStatus.RETURNED_TO_SENDER)
    made["returned_to_sender"] = sent_back
    # Our own vans: no tracking page, so no tracking_url even once shipped.
    made["own_delivery"] = seed.shipped(4300000001, carrier="own")
    delivered = seed.shipped(5000000001, payment=CARD)
    seed.track(delivered.shipments.get(), ShipmentStatus.DELIVERED)
    made["delivered"] = delivered
    # Invoices: one paid in full, one overdue.
    paid = seed.shipped(5100000001)
    invoice = Invoice.objects.get(payment__order=paid)
    invoice_record_payment(invoice_id=invoice.pk, amount=invoice.balance, actor="test")
    made["invoice_paid"] = paid
    overdue = seed.ready()
    Invoice.objects.filter(payment__order=overdue).update(
        due_date=F("due_date") - timedelta(days=60)
    )
    with capture(execute=True):
        invoice_flag_overdue(invoice_id=Invoice.objects.get(payment__order=overdue).pk)
    made["invoice_overdue"] = overdue
    # Delivered, then part of the card payment refunded.
    refunded = seed.shipped(6000000001, payment=CARD)
    seed.track(refunded.shipments.get(), ShipmentStatus.DELIVERED)
    payment = Payment.objects.get(order=refunded, status=PaymentStatus.CAPTURED)
    with capture(execute=True):
        refund_create(
            payment_id=payment.pk,
            amount=Decimal("5.00"),
            reason="Goodwill",
            actor="test",
            idempotency_key=f"{partner.partner.pk}-state-refund",
        )
    made["partially_refunded"] = refunded
    completed = seed.shipped(7000000001)
    seed.track(completed.shipments.get(), ShipmentStatus.DELIVERED)
    Order.objects.filter(pk=completed.pk).update(
        delivered_at=F("delivered_at") - timedelta(days=400)
    )
    with capture(execute=True):
        made["completed"] = order_complete(order_id=completed.pk, actor="test")
    # Cancelled: before review, and once ready (its shipment cancelled, its card refunded).
    with capture(execute=True):
        made["cancelled_received"] = order_cancel(
            order_id=seed.place(run=False).pk, actor="test", reason="Duplicate order."
        )
        made["cancelled_ready"] = order_cancel(
            order_id=seed.ready(payment=CARD).pk, actor="test", reason=""
        )
    # Nothing to ship: an ebook, delivered by download link.
    made["digital"] = seed.place(
        lines=[{"sku": "EBOOK-001", "quantity": 1}], shipping_address=None, shipping_method=None
    )
    return {state: order.number for state, order in made.items()}

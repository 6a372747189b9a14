"""A property of the stock books: whatever happens to orders (placed, picked in full or
short, cancelled at any point, packed and shipped, released from a hold), every stock row
agrees with its movement log and with the reservations that explain it, and never goes
below zero.

Each Hypothesis example runs inside a savepoint that is rolled back, so every example starts
from the `catalogue` fixture's stock (which is why the function-scoped fixtures are fine).
"""

import itertools

import pytest
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Sum
from django.test import TestCase
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from orders.models import CANCELLABLE_STATES, HoldReason, Order, OrderStatus
from orders.permissions import WAREHOUSE
from orders.services import order_cancel, order_hold, order_release
from orders.tests.factories import LONDON, place_order, staff_user
from warehouse.exceptions import OutOfStock
from warehouse.models import (
    BinStock,
    DigitalAsset,
    Location,
    PackageType,
    PickList,
    PickListStatus,
    Shipment,
    ShipmentStatus,
    StockItem,
    StockMovement,
    StockReservation,
)
from warehouse.services.packing import shipment_pack
from warehouse.services.picking import lines_to_pick, picklist_confirm, picklist_create
from warehouse.services.shipping import shipment_ship

pytestmark = pytest.mark.django_db
SS = ShipmentStatus
SKUS = ["MUG-001", "TEE-001", "LAMP-001", "EBOOK-001"]
OPERATIONS = ["place", "pick", "confirm", "cancel", "ship", "hold", "release"]
# Weights: mostly the common path, often enough the awkward one.
CHANNELS = ["web", "web", "web", "phone"]
FULL_OR_SHORT = ["full", "full", "short"]
CONFIRM_AT_ONCE = ["now", "now", "later"]
SHIP_AT_ONCE = ["now", "now", "later"]
_tracking = itertools.count(1)


@pytest.fixture
def shelves(catalogue):
    """Every stock row's units on one shelf of its warehouse, a box to pack into, and the
    ebook's file (so an order with the ebook is not held for a missing download)."""
    ebook = DigitalAsset(product=catalogue["ebook"], filename="book.pdf")
    ebook.file.save("book.pdf", ContentFile(b"%PDF-1.4 the book"), save=False)
    ebook.save()
    locations = {}
    for item in StockItem.objects.select_related("warehouse"):
        location = locations.get(item.warehouse_id)
        if location is None:
            location = Location.objects.create(warehouse=item.warehouse, aisle="A", rack=1, shelf=1)
            locations[item.warehouse_id] = location
        BinStock.objects.create(location=location, product=item.product, quantity=item.on_hand)
    return PackageType.objects.create(
        name="Box", length_mm=400, width_mm=300, height_mm=200, max_weight_grams=50000
    )


def _capture():
    """Run the after-commit work (review, payment, release to the warehouse) right away."""
    return TestCase.captureOnCommitCallbacks(execute=True)


class Scenario:
    """Applies drawn operations to whatever orders exist at that moment. Each operation has a
    `_<name>_candidates` query; only operations with something to act on are drawn."""

    def __init__(self, data: st.DataObject, picker, box: PackageType):
        self.data = data
        self.picker = picker
        self.box = box

    def step(self) -> str:
        candidates = {
            name: getattr(self, f"_{name}_candidates")() for name in OPERATIONS if name != "place"
        }
        possible = ["place", *(name for name in OPERATIONS if candidates.get(name))]
        operation = self.data.draw(st.sampled_from(possible), label="operation")
        if operation == "place":
            return "place: " + self.place()
        chosen = self.data.draw(st.sampled_from(candidates[operation]), label=operation)
        return f"{operation}: " + getattr(self, operation)(chosen)

    # --- place: any SKUs and quantities ---

    def place(self) -> str:
        # Mostly a few units; sometimes more than one warehouse holds (a split line: 50 mugs
        # in Berlin, 10 in London), sometimes more than there is.
        quantity = st.sampled_from(
            [st.integers(1, 4)] * 3 + [st.integers(45, 60), st.integers(5, 70)]
        ).flatmap(lambda q: q)
        lines = self.data.draw(
            st.lists(
                st.tuples(st.sampled_from(SKUS), quantity),
                min_size=1,
                max_size=3,
                unique_by=lambda line: line[0],
            ),
            label="place lines",
        )
        # Staff channels accept an order short of stock (held for review); the web refuses.
        channel = self.data.draw(st.sampled_from(CHANNELS), label="channel")
        address = self.data.draw(st.sampled_from([None, LONDON]), label="ship to London")
        kwargs = {"shipping_address": address} if address else {}
        try:
            with _capture():
                order = place_order(lines, channel=channel, **kwargs).order
        except OutOfStock:
            assert channel == "web"
            return "refused, out of stock"
        return Order.objects.get(pk=order.pk).status

    # --- pick: a pick list for one or two orders, confirmed at once or left open ---

    def _pick_candidates(self) -> list[int]:
        ready = Order.objects.filter(status__in=[OrderStatus.READY, OrderStatus.PICKING])
        lines = lines_to_pick(ready.values_list("pk", flat=True))
        return sorted({line.shipment.order_id for line in lines})

    def pick(self, order_id: int) -> str:
        order_ids = {order_id}
        if self.data.draw(st.booleans(), label="two orders in the wave"):
            order_ids.add(self.data.draw(st.sampled_from(self._pick_candidates()), label="also"))
        with _capture():
            result = picklist_create(order_ids=sorted(order_ids), actor=self.picker)
        assert result.pick_lists, result.skipped
        if self.data.draw(st.sampled_from(CONFIRM_AT_ONCE), label="confirm at once") == "later":
            return "left open"
        return ", ".join(self._confirm(pick_list.pk) for pick_list in result.pick_lists)

    def _confirm_candidates(self) -> list[int]:
        return list(
            PickList.objects.filter(status=PickListStatus.OPEN)
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    def confirm(self, pick_list_id: int) -> str:
        return self._confirm(pick_list_id)

    def _confirm(self, pick_list_id: int) -> str:
        items = list(
            PickList.objects.get(pk=pick_list_id)
            .items.filter(picked__isnull=True)
            .order_by("pk")
            .values_list("pk", "quantity")
        )
        picked = dict(items)
        if items and self.data.draw(st.sampled_from(FULL_OR_SHORT), label="pick") == "short":
            shorted = self.data.draw(
                st.lists(st.sampled_from(items), min_size=1, unique=True), label="short items"
            )
            for pk, quantity in shorted:
                picked[pk] = self.data.draw(st.integers(0, quantity - 1), label=f"{pk} found")
        with _capture():
            result = picklist_confirm(pick_list_id=pick_list_id, picked=picked, actor=self.picker)
        return "short" if result["short_orders"] else "full"

    # --- cancel: any order that can still be cancelled ---

    def _cancel_candidates(self) -> list[int]:
        return list(
            Order.objects.filter(status__in=CANCELLABLE_STATES)
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    def cancel(self, order_id: int) -> str:
        was = Order.objects.get(pk=order_id).status
        with _capture():
            order_cancel(order_id=order_id, actor="support", reason="changed my mind")
        assert Order.objects.get(pk=order_id).status == OrderStatus.CANCELLED
        return f"when {was}"

    # --- ship: pack every picked shipment of an order, then ship them (or leave it packed) ---

    def _ship_candidates(self) -> list[int]:
        return [
            order.pk
            for order in Order.objects.filter(status__in=[OrderStatus.PICKING, OrderStatus.PACKED])
            .prefetch_related("shipments__lines")
            .order_by("pk")
            if all(
                line.picked == line.quantity
                for shipment in order.shipments.all()
                if shipment.status != SS.CANCELLED
                for line in shipment.lines.all()
            )
        ]

    def ship(self, order_id: int) -> str:
        shipments = Shipment.objects.filter(order_id=order_id).exclude(status=SS.CANCELLED)
        for shipment in shipments.filter(status=SS.PICKING).order_by("pk"):
            scans = [
                line.order_line.product.barcode or line.order_line.sku
                for line in shipment.lines.select_related("order_line__product")
                for _ in range(line.quantity)
            ]
            with _capture():
                shipment_pack(
                    shipment_id=shipment.pk,
                    scans=scans,
                    package_type_id=self.box.pk,
                    weight_grams=500,
                    actor=self.picker,
                )
        if self.data.draw(st.sampled_from(SHIP_AT_ONCE), label="ship at once") == "later":
            assert Order.objects.get(pk=order_id).status == OrderStatus.PACKED
            return "packed"
        for shipment in shipments.filter(status=SS.PACKED).order_by("pk"):
            with _capture():
                shipment_ship(
                    shipment_id=shipment.pk,
                    carrier="own",
                    tracking_number=f"T{next(_tracking):08d}",
                    actor=self.picker,
                )
        assert Order.objects.get(pk=order_id).status == OrderStatus.SHIPPED
        return "shipped"

    # --- hold: the warehouse stops an order it finds a problem with ---

    def _hold_candidates(self) -> list[int]:
        return list(
            Order.objects.filter(
                status__in=[OrderStatus.READY, OrderStatus.PICKING, OrderStatus.PACKED]
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    def hold(self, order_id: int) -> str:
        was = Order.objects.get(pk=order_id).status
        with _capture():
            order_hold(order_id=order_id, actor=self.picker, reason=HoldReason.MANUAL, note="dent")
        return f"when {was}"

    # --- release: a held order (stock holds only once the units can be reserved) ---

    def _release_candidates(self) -> list[int]:
        return list(
            Order.objects.filter(status=OrderStatus.ON_HOLD)
            .order_by("pk")
            .values_list("pk", flat=True)
        )

    def release(self, order_id: int) -> str:
        try:
            with _capture():
                order_release(order_id=order_id, actor="support", note="stock checked")
        except OutOfStock:
            assert Order.objects.get(pk=order_id).status == OrderStatus.ON_HOLD
            return "still out of stock"
        return f"to {Order.objects.get(pk=order_id).status}"


def _check_books(initial_on_hand: dict[int, int]) -> None:
    logged = {
        row["stock_item"]: (row["on_hand"], row["reserved"])
        for row in StockMovement.objects.values("stock_item").annotate(
            on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta")
        )
    }
    held = dict(
        StockReservation.objects.values("stock_item")
        .annotate(units=Sum("quantity"))
        .values_list("stock_item", "units")
    )
    for item in StockItem.objects.select_related("product", "warehouse").order_by("pk"):
        moved_on_hand, moved_reserved = logged.get(item.pk, (0, 0))
        where = f"{item.product.sku}@{item.warehouse.code}"
        assert item.on_hand >= 0, where
        assert item.reserved >= 0, where
        assert item.on_hand == initial_on_hand[item.pk] + moved_on_hand, where
        assert item.reserved == moved_reserved, where
        assert item.reserved == held.get(item.pk, 0), where
    assert not BinStock.objects.filter(quantity__lt=0).exists()


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,  # the same examples in every CI run; explore with more examples by hand
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_stock_rows_always_match_their_movements_and_reservations(catalogue, shelves, data):
    picker = staff_user(WAREHOUSE)
    with transaction.atomic():
        assert not StockMovement.objects.exists()
        initial_on_hand = dict(StockItem.objects.values_list("pk", "on_hand"))
        assert not any(StockItem.objects.values_list("reserved", flat=True))
        scenario = Scenario(data, picker, shelves)
        for _ in range(data.draw(st.integers(1, 15), label="steps")):
            event(scenario.step())
            _check_books(initial_on_hand)
        transaction.set_rollback(True)


# --- a case the property found hard to reach, pinned ---------------------------------------


def test_release_after_a_short_pick_reserves_where_the_missing_units_ship_from(catalogue, shelves):
    """55 mugs ship as 50 from Berlin and 5 from London. Berlin's shelf turns out one short;
    on release the missing mug must be reserved (or found missing) in Berlin, where that
    shipment line is, not in London: otherwise the re-pick in Berlin takes a unit Berlin
    never reserved."""
    picker = staff_user(WAREHOUSE)
    berlin, london = catalogue["berlin"], catalogue["london"]
    # given: a split order, Berlin short by one, London picked in full
    with _capture():
        order = place_order([("MUG-001", 55)]).order
    lists = picklist_create(order_ids=[order.pk], actor=picker).pick_lists
    assert sorted(p.warehouse.code for p in lists) == ["ber", "lon"]
    for pick_list in lists:
        short = 1 if pick_list.warehouse == berlin else 0
        with _capture():
            picklist_confirm(
                pick_list_id=pick_list.pk,
                picked={item.pk: item.quantity - short for item in pick_list.items.all()},
                actor=picker,
            )
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ON_HOLD
    initial = {
        item.pk: item.on_hand - sum(item.movements.values_list("on_hand_delta", flat=True))
        for item in StockItem.objects.all()
    }

    # when: released (Berlin has no mug left; London still has five)
    try:
        with _capture():
            order_release(order_id=order.pk, actor="support")
    except OutOfStock:
        pass  # right: the unit is missing where it ships from

    # then: whatever release did, the books balance, and a London reservation is not
    # standing in for the Berlin shipment line
    _check_books(initial)
    london_mugs = StockItem.objects.get(product=catalogue["mug"], warehouse=london)
    assert london_mugs.reserved == 0
    if Order.objects.get(pk=order.pk).status == OrderStatus.PICKING:
        # and the re-pick in Berlin confirms without breaking the stock rows
        again = picklist_create(order_ids=[order.pk], actor=picker).pick_lists
        for pick_list in again:
            with _capture():
                picklist_confirm(
                    pick_list_id=pick_list.pk,
                    picked={item.pk: item.quantity for item in pick_list.items.all()},
                    actor=picker,
                )
        _check_books(initial)

"""Stock services: which warehouse ships, all-or-nothing reservations, release, counts and
receipts, the CHECK constraints behind them and the stock count in the staff console."""

from collections import defaultdict

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.urls import reverse

from orders.models import HoldReason, Order, OrderLine, OrderStatus
from orders.services import order_cancel, order_release, order_review
from orders.tests.factories import (
    ProductFactory,
    StockItemFactory,
    WarehouseFactory,
    place_order,
)
from warehouse.exceptions import InvalidStockChange, OutOfStock
from warehouse.models import MovementKind, StockItem, StockMovement, StockReservation
from warehouse.services import (
    StockDemand,
    stock_count,
    stock_receive,
    stock_release_for_order,
    stock_reserve,
)

pytestmark = pytest.mark.django_db


# --- helpers ------------------------------------------------------------------------------


def _order_with_lines(*pairs):
    """A draft order with one line per (product, quantity) and the matching stock demands."""
    order = Order.objects.create(channel="web", email="ada@example.com")
    demands = []
    for product, quantity in pairs:
        line = OrderLine.objects.create(
            order=order, product=product, sku=product.sku, quantity=quantity
        )
        demands.append(StockDemand(line, product, quantity))
    return order, demands


def _item(product, warehouse):
    return StockItem.objects.get(product=product, warehouse=warehouse)


def _reserved_by_warehouse(order):
    """{(sku, warehouse code): units} reserved for the order."""
    return {
        (r.stock_item.product.sku, r.stock_item.warehouse.code): r.quantity
        for r in StockReservation.objects.filter(order_line__order=order).select_related(
            "stock_item__product", "stock_item__warehouse"
        )
    }


def _stock_state():
    return {
        "items": {item.pk: (item.on_hand, item.reserved) for item in StockItem.objects.all()},
        "reservations": StockReservation.objects.count(),
        "movements": StockMovement.objects.count(),
    }


# --- stock_reserve: which warehouse ships -------------------------------------------------


def test_one_warehouse_with_every_line_ships_the_whole_order(catalogue):
    # given: Berlin (priority 10) and London (priority 20) both have mugs and T-shirts
    order, demands = _order_with_lines((catalogue["mug"], 5), (catalogue["tee"], 5))

    # when
    result = stock_reserve(order=order, demands=demands, actor="test")

    # then: everything from Berlin, the lower priority number
    assert _reserved_by_warehouse(order) == {("MUG-001", "ber"): 5, ("TEE-001", "ber"): 5}
    assert result.shortages == {}
    assert result.reserved == {demands[0].line.pk: 5, demands[1].line.pk: 5}
    assert _item(catalogue["mug"], catalogue["berlin"]).reserved == 5
    assert _item(catalogue["tee"], catalogue["berlin"]).reserved == 5
    assert _item(catalogue["mug"], catalogue["london"]).reserved == 0
    assert _item(catalogue["tee"], catalogue["london"]).reserved == 0


def test_among_complete_warehouses_the_lowest_priority_number_wins(catalogue):
    # given: London now comes before Berlin
    catalogue["london"].priority = 5
    catalogue["london"].save()
    order, demands = _order_with_lines((catalogue["mug"], 5), (catalogue["tee"], 5))

    # when
    stock_reserve(order=order, demands=demands, actor="test")

    # then
    assert _reserved_by_warehouse(order) == {("MUG-001", "lon"): 5, ("TEE-001", "lon"): 5}


def test_the_only_complete_warehouse_ships_everything_even_with_a_worse_priority(catalogue):
    # given: only London has lamps; Berlin has more mugs and the better priority
    order, demands = _order_with_lines((catalogue["mug"], 5), (catalogue["lamp"], 1))

    # when
    stock_reserve(order=order, demands=demands, actor="test")

    # then: one shipment from London rather than two
    assert _reserved_by_warehouse(order) == {("MUG-001", "lon"): 5, ("LAMP-001", "lon"): 1}


def test_without_a_complete_warehouse_the_one_covering_most_lines_goes_first(db):
    # given: no warehouse has all three; B covers two lines, A (best priority) and C one each
    a = WarehouseFactory(code="a", priority=1)
    b = WarehouseFactory(code="b", priority=2)
    c = WarehouseFactory(code="c", priority=3)
    cup, plate, bowl = (ProductFactory(sku=sku) for sku in ("CUP", "PLATE", "BOWL"))
    StockItemFactory(product=cup, warehouse=a, on_hand=10)
    StockItemFactory(product=cup, warehouse=b, on_hand=10)
    StockItemFactory(product=plate, warehouse=b, on_hand=10)
    StockItemFactory(product=bowl, warehouse=c, on_hand=10)
    order, demands = _order_with_lines((cup, 5), (plate, 5), (bowl, 5))

    # when
    stock_reserve(order=order, demands=demands, actor="test")

    # then: the cups come from B with the plates, not from A; two shipments instead of three
    assert _reserved_by_warehouse(order) == {("CUP", "b"): 5, ("PLATE", "b"): 5, ("BOWL", "c"): 5}


def test_a_line_is_split_when_no_single_warehouse_has_enough(catalogue):
    # given: 50 mugs in Berlin, 10 in London
    order, demands = _order_with_lines((catalogue["mug"], 55))

    # when
    result = stock_reserve(order=order, demands=demands, actor="test")

    # then: Berlin first by priority, the rest from London
    assert _reserved_by_warehouse(order) == {("MUG-001", "ber"): 50, ("MUG-001", "lon"): 5}
    assert result.reserved == {demands[0].line.pk: 55}
    assert result.shortages == {}


def test_a_line_is_not_split_when_one_warehouse_has_enough(catalogue):
    # given: London ranks first but has only 10 mugs; Berlin has 50
    catalogue["london"].priority = 5
    catalogue["london"].save()
    order, demands = _order_with_lines((catalogue["mug"], 12))

    # when
    stock_reserve(order=order, demands=demands, actor="test")

    # then: all 12 from Berlin, not 10 + 2
    assert _reserved_by_warehouse(order) == {("MUG-001", "ber"): 12}


def test_inactive_warehouses_do_not_ship(catalogue):
    # given: Berlin is closed
    catalogue["berlin"].is_active = False
    catalogue["berlin"].save()
    order, demands = _order_with_lines((catalogue["mug"], 12))

    # when / then: London's 10 mugs are all there is
    with pytest.raises(OutOfStock) as excinfo:
        stock_reserve(order=order, demands=demands, actor="test")
    assert excinfo.value.shortages == {"MUG-001": (12, 10)}


def test_reservation_writes_one_reserve_movement_per_stock_item(catalogue, admin_user):
    order, demands = _order_with_lines((catalogue["mug"], 55), (catalogue["tee"], 2))

    stock_reserve(order=order, demands=demands, actor=admin_user)

    movements = StockMovement.objects.filter(order=order)
    assert sorted(
        (m.stock_item.product.sku, m.stock_item.warehouse.code, m.kind, m.reserved_delta)
        for m in movements
    ) == [
        ("MUG-001", "ber", MovementKind.RESERVE, 50),
        ("MUG-001", "lon", MovementKind.RESERVE, 5),
        ("TEE-001", "ber", MovementKind.RESERVE, 2),
    ]
    assert all(m.on_hand_delta == 0 and m.actor == admin_user for m in movements)


# --- stock_reserve: not enough stock ------------------------------------------------------


def test_out_of_stock_reserves_nothing_and_reports_every_shortage(catalogue):
    # given: 60 mugs in all and 3 lamps; the T-shirts would fit
    order, demands = _order_with_lines(
        (catalogue["tee"], 2), (catalogue["mug"], 61), (catalogue["lamp"], 4)
    )
    before = _stock_state()

    # when
    with pytest.raises(OutOfStock) as excinfo:
        stock_reserve(order=order, demands=demands, actor="test")

    # then
    assert excinfo.value.shortages == {"MUG-001": (61, 60), "LAMP-001": (4, 3)}
    assert _stock_state() == before


def test_out_of_stock_counts_units_already_reserved_by_other_orders(catalogue):
    # given: another order holds 2 of the 3 lamps
    place_order([("LAMP-001", 2)])
    order, demands = _order_with_lines((catalogue["lamp"], 2))
    before = _stock_state()

    # when
    with pytest.raises(OutOfStock) as excinfo:
        stock_reserve(order=order, demands=demands, actor="test")

    # then
    assert excinfo.value.shortages == {"LAMP-001": (2, 1)}
    assert _stock_state() == before


def test_allow_shortage_reserves_what_there_is_and_reports_the_rest(catalogue):
    # given
    order, demands = _order_with_lines((catalogue["mug"], 61), (catalogue["lamp"], 1))

    # when
    result = stock_reserve(order=order, demands=demands, actor="test", allow_shortage=True)

    # then
    assert result.shortages == {"MUG-001": (61, 60)}
    assert result.reserved == {demands[0].line.pk: 60, demands[1].line.pk: 1}
    assert _item(catalogue["mug"], catalogue["berlin"]).reserved == 50
    assert _item(catalogue["mug"], catalogue["london"]).reserved == 10
    assert _item(catalogue["lamp"], catalogue["london"]).reserved == 1


def test_allow_shortage_with_no_stock_at_all_reserves_nothing_for_that_line(catalogue):
    # given: a physical product without any stock item
    chair = ProductFactory(sku="CHAIR-001")
    order, demands = _order_with_lines((chair, 2), (catalogue["tee"], 1))

    # when
    result = stock_reserve(order=order, demands=demands, actor="test", allow_shortage=True)

    # then
    assert result.shortages == {"CHAIR-001": (2, 0)}
    assert result.reserved == {demands[1].line.pk: 1}
    assert _reserved_by_warehouse(order) == {("TEE-001", "ber"): 1}


def test_digital_and_service_products_need_no_stock(catalogue):
    # given: no stock items exist for either product
    service = ProductFactory(sku="INSTALL-001", kind="service")
    order, demands = _order_with_lines((catalogue["ebook"], 3), (service, 1))
    before = _stock_state()

    # when
    result = stock_reserve(order=order, demands=demands, actor="test")

    # then
    assert result.reserved == {}
    assert result.shortages == {}
    assert _stock_state() == before


def test_digital_lines_next_to_physical_ones_reserve_only_the_physical(catalogue):
    order, demands = _order_with_lines((catalogue["ebook"], 3), (catalogue["mug"], 2))

    result = stock_reserve(order=order, demands=demands, actor="test")

    assert result.reserved == {demands[1].line.pk: 2}
    assert _reserved_by_warehouse(order) == {("MUG-001", "ber"): 2}


# --- release ------------------------------------------------------------------------------


def test_release_gives_back_exactly_what_was_reserved(catalogue):
    # given: an order split over two warehouses, next to another order that stays
    other = place_order([("MUG-001", 3)]).order
    order = place_order([("MUG-001", 55), ("TEE-001", 4)]).order
    assert _item(catalogue["mug"], catalogue["berlin"]).reserved == 50
    assert _item(catalogue["mug"], catalogue["london"]).reserved == 8

    # when
    released = stock_release_for_order(order=order, actor="test", reason="order cancelled")

    # then: the other order's 3 mugs stay reserved
    assert released == 59
    assert _item(catalogue["mug"], catalogue["berlin"]).reserved == 3
    assert _item(catalogue["mug"], catalogue["london"]).reserved == 0
    assert _item(catalogue["tee"], catalogue["berlin"]).reserved == 0
    assert not StockReservation.objects.filter(order_line__order=order).exists()
    assert StockReservation.objects.filter(order_line__order=other).count() == 1
    releases = StockMovement.objects.filter(order=order, kind=MovementKind.RELEASE)
    assert sorted(
        (m.stock_item.product.sku, m.stock_item.warehouse.code, m.reserved_delta, m.on_hand_delta)
        for m in releases
    ) == [("MUG-001", "ber", -47, 0), ("MUG-001", "lon", -8, 0), ("TEE-001", "ber", -4, 0)]
    assert {m.reason for m in releases} == {"order cancelled"}


def test_releasing_twice_releases_nothing_the_second_time(catalogue):
    order = place_order([("MUG-001", 5)]).order
    stock_release_for_order(order=order, actor="test", reason="first")
    movements = StockMovement.objects.count()

    assert stock_release_for_order(order=order, actor="test", reason="again") == 0
    assert StockMovement.objects.count() == movements
    assert _item(catalogue["mug"], catalogue["berlin"]).reserved == 0


def test_cancelling_an_order_releases_its_stock(catalogue):
    order = place_order([("MUG-001", 55)]).order

    order_cancel(order_id=order.pk, actor="test", reason="changed my mind")

    assert StockItem.objects.aggregate(total=Sum("reserved"))["total"] == 0
    assert (
        StockMovement.objects.filter(order=order, kind=MovementKind.RELEASE).aggregate(
            total=Sum("reserved_delta")
        )["total"]
        == -55
    )


def test_releasing_a_stock_hold_tops_up_the_partial_reservation(catalogue):
    # given: a phone order got 1 of 3 lamps (all in London) and was held for stock
    place_order([("LAMP-001", 2)])
    phone = place_order([("LAMP-001", 3)], channel="phone").order
    assert order_review(order_id=phone.pk).status == OrderStatus.ON_HOLD
    lamp = _item(catalogue["lamp"], catalogue["london"])
    stock_receive(stock_item=lamp, quantity=2, actor="test", reason="delivery")

    # when: the two missing lamps come from the same stock item as the first one
    order = order_release(order_id=phone.pk, actor="test")

    # then
    assert order.status == OrderStatus.CONFIRMED
    assert _reserved_by_warehouse(phone) == {("LAMP-001", "lon"): 3}
    lamp.refresh_from_db()
    assert (lamp.on_hand, lamp.reserved) == (5, 5)
    assert (
        StockMovement.objects.filter(order=phone, kind=MovementKind.RESERVE).aggregate(
            total=Sum("reserved_delta")
        )["total"]
        == 3
    )


def test_movement_log_adds_up_to_reserved_after_placing_and_cancelling(catalogue):
    # given: a mix of placed, split, short (staff channel), released and cancelled orders
    on_hand_before = {item.pk: item.on_hand for item in StockItem.objects.all()}
    first = place_order([("MUG-001", 20), ("TEE-001", 3)]).order
    second = place_order([("MUG-001", 35), ("LAMP-001", 2)]).order
    phone = place_order([("LAMP-001", 3), ("TEE-001", 10)], channel="phone").order
    order_cancel(order_id=first.pk, actor="test")
    third = place_order([("TEE-001", 6), ("MUG-001", 5)]).order
    # the phone order was short of one lamp: reviewed, held, stock arrives, released
    assert order_review(order_id=phone.pk).status == OrderStatus.ON_HOLD
    assert phone.holds.get().reason == HoldReason.OUT_OF_STOCK
    stock_receive(
        stock_item=_item(catalogue["lamp"], catalogue["london"]),
        quantity=2,
        actor="test",
        reason="delivery",
    )
    assert order_release(order_id=phone.pk, actor="test").status == OrderStatus.CONFIRMED
    order_cancel(order_id=second.pk, actor="test")
    fourth = place_order([("LAMP-001", 1), ("MUG-001", 50)]).order

    # when
    reserved_from_log = defaultdict(int)
    for movement in StockMovement.objects.all():
        reserved_from_log[movement.stock_item_id] += movement.reserved_delta
    reserved_from_reservations = defaultdict(int)
    for reservation in StockReservation.objects.all():
        reserved_from_reservations[reservation.stock_item_id] += reservation.quantity

    # then
    for item in StockItem.objects.all():
        assert item.reserved == reserved_from_log[item.pk], item
        assert item.reserved == reserved_from_reservations[item.pk], item
        assert 0 <= item.reserved <= item.on_hand, item
    open_orders = [phone, third, fourth]
    assert StockItem.objects.aggregate(total=Sum("reserved"))["total"] == sum(
        line.quantity for order in open_orders for line in order.lines.all()
    )
    lamp = _item(catalogue["lamp"], catalogue["london"])
    assert lamp.on_hand == on_hand_before[lamp.pk] + 2
    assert all(
        item.on_hand == on_hand_before[item.pk] for item in StockItem.objects.exclude(pk=lamp.pk)
    )


# --- database constraints -----------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"reserved": 11}, id="reserved-above-on-hand"),
        pytest.param({"on_hand": -1, "reserved": 0}, id="on-hand-below-zero"),
        pytest.param({"reserved": -1}, id="reserved-below-zero"),
        pytest.param({"on_hand": 3}, id="on-hand-below-reserved"),
    ],
)
def test_check_constraints_refuse_impossible_stock(catalogue, changes):
    # given: 10 on hand, 4 reserved
    item = _item(catalogue["mug"], catalogue["london"])
    StockItem.objects.filter(pk=item.pk).update(reserved=4)

    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        StockItem.objects.filter(pk=item.pk).update(**changes)
    item.refresh_from_db()
    assert (item.on_hand, item.reserved) == (10, 4)


# --- counts and receipts ------------------------------------------------------------------


def test_stock_count_below_reserved_is_refused(catalogue):
    # given: 8 of Berlin's 50 mugs are reserved
    item = _item(catalogue["mug"], catalogue["berlin"])
    StockItem.objects.filter(pk=item.pk).update(reserved=8)
    movements = StockMovement.objects.count()

    # when / then
    with pytest.raises(InvalidStockChange) as excinfo:
        stock_count(stock_item=item, counted=7, actor="test", reason="count")
    assert "on_hand" in excinfo.value.fields
    item.refresh_from_db()
    assert (item.on_hand, item.reserved) == (50, 8)
    assert StockMovement.objects.count() == movements


def test_stock_count_cannot_be_negative(catalogue):
    item = _item(catalogue["mug"], catalogue["berlin"])

    with pytest.raises(InvalidStockChange):
        stock_count(stock_item=item, counted=-1, actor="test", reason="count")

    item.refresh_from_db()
    assert item.on_hand == 50
    assert not StockMovement.objects.exists()


@pytest.mark.parametrize("counted", [8, 30, 75])
def test_stock_count_sets_on_hand_and_records_an_adjustment(catalogue, admin_user, counted):
    # given: 50 on hand, 8 reserved
    item = _item(catalogue["mug"], catalogue["berlin"])
    StockItem.objects.filter(pk=item.pk).update(reserved=8)

    # when
    result = stock_count(stock_item=item, counted=counted, actor=admin_user, reason="cycle count")

    # then
    assert result.on_hand == counted
    item.refresh_from_db()
    assert (item.on_hand, item.reserved) == (counted, 8)
    movement = StockMovement.objects.get()
    assert movement.stock_item_id == item.pk
    assert movement.kind == MovementKind.ADJUST
    assert movement.on_hand_delta == counted - 50
    assert movement.reserved_delta == 0
    assert movement.actor == admin_user
    assert movement.reason == "cycle count"


def test_stock_count_matching_the_shelf_records_nothing(catalogue):
    item = _item(catalogue["mug"], catalogue["berlin"])

    stock_count(stock_item=item, counted=50, actor="test", reason="count")

    assert not StockMovement.objects.exists()


def test_stock_receive_adds_units_and_records_a_receipt(catalogue, admin_user):
    # given
    item = _item(catalogue["lamp"], catalogue["london"])

    # when
    result = stock_receive(stock_item=item, quantity=7, actor=admin_user, reason="PO 4711")

    # then
    assert result.on_hand == 10
    item.refresh_from_db()
    assert (item.on_hand, item.reserved) == (10, 0)
    movement = StockMovement.objects.get()
    assert (movement.kind, movement.on_hand_delta, movement.reserved_delta) == (
        MovementKind.RECEIVE,
        7,
        0,
    )
    assert movement.actor == admin_user
    assert movement.reason == "PO 4711"


@pytest.mark.parametrize("quantity", [0, -3])
def test_stock_receive_refuses_a_non_positive_quantity(catalogue, quantity):
    item = _item(catalogue["lamp"], catalogue["london"])

    with pytest.raises(InvalidStockChange):
        stock_receive(stock_item=item, quantity=quantity, actor="test", reason="PO")

    item.refresh_from_db()
    assert item.on_hand == 3
    assert not StockMovement.objects.exists()


# --- the staff console --------------------------------------------------------------------


def _change_url(item):
    return reverse("admin:warehouse_stockitem_change", args=[item.pk])


def test_admin_stock_count_changes_on_hand_through_the_service(catalogue, admin_client):
    # given
    item = _item(catalogue["mug"], catalogue["berlin"])

    # when
    response = admin_client.post(
        _change_url(item), {"counted": "42", "reason": "cycle count", "_save": "Save"}
    )

    # then
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.on_hand, item.reserved) == (42, 0)
    movement = StockMovement.objects.get()
    assert movement.kind == MovementKind.ADJUST
    assert movement.on_hand_delta == -8
    assert movement.reason == "cycle count"
    assert movement.actor.username == "admin"


def test_admin_without_a_count_changes_nothing(catalogue, admin_client):
    item = _item(catalogue["mug"], catalogue["berlin"])

    response = admin_client.post(_change_url(item), {"counted": "", "reason": "", "_save": "Save"})

    assert response.status_code == 302
    item.refresh_from_db()
    assert item.on_hand == 50
    assert not StockMovement.objects.exists()


def test_admin_stock_count_below_reserved_is_a_form_error_and_changes_nothing(
    catalogue, admin_client
):
    # given: 8 units reserved
    item = _item(catalogue["mug"], catalogue["berlin"])
    StockItem.objects.filter(pk=item.pk).update(reserved=8)

    # when
    response = admin_client.post(
        _change_url(item), {"counted": "5", "reason": "cycle count", "_save": "Save"}
    )

    # then the form comes back with the error on the field, and nothing else happened:
    # no success message, no admin history entry, no stock change
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["counted"] == [
        "8 units are reserved for open orders; a count cannot be lower. "
        "Put those orders on hold first."
    ]
    assert list(get_messages(response.wsgi_request)) == []
    assert not LogEntry.objects.filter(object_id=str(item.pk)).exists()
    item.refresh_from_db()
    assert (item.on_hand, item.reserved) == (50, 8)
    assert not StockMovement.objects.exists()


@pytest.mark.parametrize("counted", ["٤٢", "４２", "4_2"])
def test_admin_stock_count_in_other_digits_is_a_form_error(catalogue, admin_client, counted):
    item = _item(catalogue["mug"], catalogue["berlin"])

    response = admin_client.post(
        _change_url(item), {"counted": counted, "reason": "cycle count", "_save": "Save"}
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["counted"] == [
        "Enter a whole number. Use the digits 0-9."
    ]
    item.refresh_from_db()
    assert item.on_hand == 50
    assert not StockMovement.objects.exists()

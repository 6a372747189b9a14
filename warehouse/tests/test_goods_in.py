"""Goods in: the staff console page where the warehouse puts received goods on a bin, and the
receipt service behind it."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from orders.permissions import CUSTOMER_SERVICE
from orders.tests.factories import staff_user
from warehouse.exceptions import InvalidStockChange
from warehouse.models import BinStock, Location, MovementKind, StockItem, StockMovement
from warehouse.services import stock_receive, stock_receive_into_bin

pytestmark = pytest.mark.django_db
GOODS_IN = "admin:warehouse_goods_in"
MUG_BARCODE = "4006381333931"


@pytest.fixture
def shelves(catalogue):
    """Berlin's A-02-03 already holds 4 mugs; London has a bin of the same name, empty."""
    catalogue["mug"].barcode = MUG_BARCODE
    catalogue["mug"].save(update_fields=["barcode"])
    berlin = Location.objects.create(warehouse=catalogue["berlin"], aisle="A", rack=2, shelf=3)
    london = Location.objects.create(warehouse=catalogue["london"], aisle="B", rack=1, shelf=1)
    BinStock.objects.create(location=berlin, product=catalogue["mug"], quantity=4)
    return {"berlin": berlin, "london": london}


def _stock_and_bins() -> tuple[list, list]:
    """Everything a receipt could change."""
    stock = list(StockItem.objects.order_by("pk").values_list("pk", "on_hand", "reserved"))
    bins = list(
        BinStock.objects.order_by("pk").values_list("location_id", "product_id", "quantity")
    )
    return stock, bins


def _receipt(catalogue, **changes) -> dict:
    return {
        "warehouse": catalogue["berlin"].pk,
        "location": "A-02-03",
        "reason": "Delivery note 881",
        "quantity": "12",
        "product": MUG_BARCODE,
        **changes,
    }


def test_warehouse_staff_get_the_goods_in_page(client, shelves, picker):
    client.force_login(picker)

    response = client.get(reverse(GOODS_IN))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="product"' in html
    assert 'name="location"' in html


@pytest.mark.parametrize(
    "page",
    [
        "admin:warehouse_fulfilmentorder_changelist",
        "admin:warehouse_dashboard",
        "admin:warehouse_stockitem_changelist",
    ],
)
def test_the_goods_in_page_is_linked_from_the_warehouse_pages(client, shelves, picker, page):
    client.force_login(picker)

    response = client.get(reverse(page))

    assert response.status_code == 200
    assert f'href="{reverse(GOODS_IN)}"' in response.content.decode()


def test_customer_service_cannot_receive_goods(client, catalogue, shelves):
    client.force_login(staff_user(CUSTOMER_SERVICE))
    before = _stock_and_bins()

    page = client.get(reverse(GOODS_IN))
    post = client.post(reverse(GOODS_IN), _receipt(catalogue))

    assert page.status_code == 403
    assert post.status_code == 403
    assert _stock_and_bins() == before
    assert not StockMovement.objects.exists()


def test_a_receipt_raises_on_hand_and_the_bin_with_one_movement(client, catalogue, shelves, picker):
    # given: 50 mugs in Berlin, 4 of them on A-02-03
    client.force_login(picker)

    # when: 12 mugs are scanned onto A-02-03
    response = client.post(reverse(GOODS_IN), _receipt(catalogue))

    # then
    assert response.status_code == 302
    assert response.url.startswith(reverse(GOODS_IN) + "?")
    assert f"warehouse={catalogue['berlin'].pk}" in response.url
    mugs = StockItem.objects.get(product=catalogue["mug"], warehouse=catalogue["berlin"])
    assert (mugs.on_hand, mugs.reserved) == (62, 0)
    assert BinStock.objects.get(location=shelves["berlin"], product=catalogue["mug"]).quantity == 16
    movement = StockMovement.objects.get()
    assert (movement.stock_item_id, movement.kind) == (mugs.pk, MovementKind.RECEIVE)
    assert (movement.on_hand_delta, movement.reserved_delta) == (12, 0)
    assert (movement.actor, movement.reason) == (picker, "Delivery note 881")
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Received 12 × MUG-001 on bin A-02-03 in Berlin; 62 on hand there now."
    ]


def test_a_first_receipt_in_a_warehouse_opens_its_stock_and_fills_an_empty_bin(
    client, catalogue, shelves, picker
):
    # given: Berlin has never stocked lamps
    client.force_login(picker)

    # when: two lamps are typed in by SKU (lower case) onto an empty bin
    response = client.post(
        reverse(GOODS_IN), _receipt(catalogue, product="lamp-001", quantity="2", reason="")
    )

    # then
    assert response.status_code == 302
    lamps = StockItem.objects.get(product=catalogue["lamp"], warehouse=catalogue["berlin"])
    assert (lamps.on_hand, lamps.reserved) == (2, 0)
    assert BinStock.objects.get(location=shelves["berlin"], product=catalogue["lamp"]).quantity == 2
    assert StockMovement.objects.get().reason == "goods in"


@pytest.mark.parametrize(
    ("changes", "field", "error"),
    [
        ({"product": "NOPE-404"}, "product", "No product has the SKU or barcode “NOPE-404”."),
        ({"product": "EBOOK-001"}, "product", "EBOOK-001 is not kept in stock (digital goods)."),
        ({"location": "Z-09-09"}, "location", "Berlin has no bin “Z-09-09”."),
        ({"location": "B-01-01"}, "location", "Berlin has no bin “B-01-01”."),  # London's
        ({"location": "top shelf"}, "location", "Berlin has no bin “top shelf”."),
        ({"location": "A-²-3"}, "location", "Berlin has no bin “A-²-3”."),
        ({"location": "A-99999999999-1"}, "location", "Berlin has no bin “A-99999999999-1”."),
        ({"location": "A-40000-1"}, "location", "Berlin has no bin “A-40000-1”."),
        ({"location": "A--12"}, "location", "Berlin has no bin “A--12”."),
        ({"location": "A-12-"}, "location", "Berlin has no bin “A-12-”."),
        ({"quantity": "0"}, "quantity", "greater than or equal to 1"),
        ({"quantity": "-5"}, "quantity", "greater than or equal to 1"),
        ({"quantity": "a dozen"}, "quantity", "Enter a whole number."),
        ({"quantity": "١٢"}, "quantity", "Enter a whole number. Use the digits 0-9."),
        ({"quantity": "12.0"}, "quantity", "Enter a whole number. Use the digits 0-9."),
        ({"quantity": ""}, "quantity", "This field is required."),
    ],
)
def test_bad_input_is_a_form_error_and_changes_nothing(
    client, catalogue, shelves, picker, changes, field, error
):
    client.force_login(picker)
    before = _stock_and_bins()

    response = client.post(reverse(GOODS_IN), _receipt(catalogue, **changes))

    assert response.status_code == 200
    form = response.context["form"]
    assert any(error in message for message in form.errors[field]), form.errors
    assert error.split("“")[0] in response.content.decode()
    assert _stock_and_bins() == before
    assert not StockMovement.objects.exists()


def test_an_inactive_bin_is_refused(client, catalogue, shelves, picker):
    Location.objects.filter(pk=shelves["berlin"].pk).update(is_active=False)
    client.force_login(picker)
    before = _stock_and_bins()

    response = client.post(reverse(GOODS_IN), _receipt(catalogue))

    assert response.context["form"].errors["location"] == ["Bin A-02-03 is not in use."]
    assert _stock_and_bins() == before


# --- the services behind it ---------------------------------------------------------------


def test_receiving_onto_a_bin_of_another_warehouse_is_refused(catalogue, shelves):
    lamps = StockItem.objects.get(product=catalogue["lamp"], warehouse=catalogue["london"])
    before = _stock_and_bins()

    with pytest.raises(InvalidStockChange) as refused:
        stock_receive(
            stock_item=lamps, quantity=1, actor="test", reason="PO", location=shelves["berlin"]
        )

    assert refused.value.fields == {
        "location": ["Choose a bin in the warehouse the goods arrived at."]
    }
    assert _stock_and_bins() == before
    assert not StockMovement.objects.exists()


def test_receiving_goods_needs_the_permission_to_change_stock(catalogue, shelves):
    before = _stock_and_bins()

    with pytest.raises(InvalidStockChange, match="permission to receive goods"):
        stock_receive_into_bin(
            product=catalogue["mug"],
            location=shelves["berlin"],
            quantity=1,
            actor=staff_user(CUSTOMER_SERVICE),
            reason="PO",
        )

    assert _stock_and_bins() == before

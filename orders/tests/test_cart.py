"""The session cart: quantities only, prices from the catalogue, the one-time checkout token."""

from decimal import Decimal

import pytest

from orders.shop.session_cart import MAX_LINES, MAX_QUANTITY, Cart, CartError

pytestmark = pytest.mark.django_db


def test_add_sums_quantities_and_lines_read_the_catalogue(catalogue):
    session = {}
    cart = Cart(session)
    cart.add("MUG-001", 2)
    cart.add("MUG-001", 1)
    cart.add("EBOOK-001")
    assert session["cart"] == {"MUG-001": 3, "EBOOK-001": 1}
    assert len(cart) == 4
    lines = {line.product.sku: line for line in cart.lines()}
    assert lines["MUG-001"].line_total == Decimal("30.00")
    assert cart.subtotal() == Decimal("35.00")
    assert cart.needs_shipping()
    assert not lines["EBOOK-001"].needs_shipping and lines["EBOOK-001"].in_stock


def test_a_price_change_shows_at_once(catalogue):
    cart = Cart({})
    cart.add("MUG-001", 2)
    catalogue["mug"].price = Decimal("9.00")
    catalogue["mug"].save()
    assert Cart(cart.session).subtotal() == Decimal("18.00")


@pytest.mark.parametrize("quantity", [0, -1, MAX_QUANTITY + 1, True, "3", 2.5])
def test_bad_quantities_are_refused(catalogue, quantity):
    cart = Cart({})
    with pytest.raises(CartError):
        cart.add("MUG-001", quantity)
    assert not cart


def test_a_line_cannot_grow_past_the_maximum(catalogue):
    cart = Cart({})
    cart.add("MUG-001", MAX_QUANTITY)
    with pytest.raises(CartError, match="at most"):
        cart.add("MUG-001", 1)
    assert cart.items == {"MUG-001": MAX_QUANTITY}


def test_a_cart_holds_a_limited_number_of_products():
    cart = Cart({"cart": {f"SKU-{n}": 1 for n in range(MAX_LINES)}})
    with pytest.raises(CartError, match="at most"):
        cart.add("ONE-MORE", 1)


def test_set_quantity_and_remove(catalogue):
    cart = Cart({})
    cart.add("MUG-001", 2)
    cart.set_quantity("MUG-001", 5)
    assert cart.items == {"MUG-001": 5}
    with pytest.raises(CartError):
        cart.set_quantity("TEE-001", 1)
    cart.set_quantity("MUG-001", 0)
    assert not cart


def test_products_no_longer_for_sale_drop_out(catalogue):
    cart = Cart({})
    cart.add("MUG-001")
    cart.add("TEE-001")
    catalogue["tee"].is_active = False
    catalogue["tee"].save()
    fresh = Cart(cart.session)
    assert [line.product.sku for line in fresh.lines()] == ["MUG-001"]
    assert fresh.dropped == ["TEE-001"]
    assert cart.session["cart"] == {"MUG-001": 1}


def test_stock_shortage_is_visible_on_the_line(catalogue):
    cart = Cart({})
    cart.add("LAMP-001", 4)  # 3 in stock
    assert not cart.lines()[0].in_stock


def test_the_checkout_token_is_stable_until_an_order_is_placed():
    session = {}
    cart = Cart(session)
    cart.add("MUG-001")
    token = cart.checkout_token()
    assert token == cart.checkout_token()
    assert cart.is_current_token(token) and not cart.is_current_token("other")
    assert not cart.is_current_token("")
    cart.placed(token, "100001")
    assert cart.order_placed_with(token) == "100001"
    assert cart.checkout_token() != token
    assert not cart
    assert cart.placed_numbers() == {"100001"}
    assert cart.order_placed_with("unknown") is None


def test_a_forged_session_is_ignored():
    cart = Cart(
        {"cart": {"MUG-001": "9", "TEE-001": -1, 5: 1, "LAMP-001": 500}, "checkout_placed": []}
    )
    assert cart.items == {"LAMP-001": MAX_QUANTITY}
    assert cart.placed_numbers() == set()

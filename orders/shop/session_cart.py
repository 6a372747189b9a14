"""The shopping cart, kept in the session: SKUs and quantities only. Prices and
availability are read from the catalogue every time the cart is shown and again when the
order is placed (by orders.services.order_place), so a cart never carries a stale or forged
price.

The cart also issues the one-time checkout token that is the order's idempotency key: a
double click or a reload of the checkout posts the same token and gets the same order.
"""

import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.sessions.backends.base import SessionBase

from orders.selectors import is_in_stock, products_for_sale
from warehouse.models import Product, ProductKind

SESSION_KEY = "cart"
CHECKOUT_KEY = "checkout_token"
PLACED_KEY = "checkout_placed"  # checkout token -> order number, for reloads and double clicks
MAX_QUANTITY = 99
MAX_LINES = 50
KEEP_PLACED = 20


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def line_total(self) -> Decimal:
        return self.product.price * self.quantity

    @property
    def in_stock(self) -> bool:
        return is_in_stock(self.product, self.quantity)

    @property
    def needs_shipping(self) -> bool:
        return self.product.kind == ProductKind.PHYSICAL


class CartError(ValueError):
    """A cart change that cannot be made; the message is for the customer."""


class Cart:
    def __init__(self, session: SessionBase):
        self.session = session
        raw = session.get(SESSION_KEY)
        self._items: dict[str, int] = {}
        if isinstance(raw, dict):
            for sku, quantity in raw.items():
                if isinstance(sku, str) and isinstance(quantity, int) and quantity > 0:
                    self._items[sku] = min(quantity, MAX_QUANTITY)
        self._lines: list[CartLine] | None = None
        self.dropped: list[str] = []

    # --- changes -------------------------------------------------------------------------

    def add(self, sku: str, quantity: int = 1) -> int:
        """Add units of a product; returns the quantity now in the cart."""
        self._check_quantity(quantity)
        if sku not in self._items and len(self._items) >= MAX_LINES:
            raise CartError(f"A cart holds at most {MAX_LINES} different products.")
        new = self._items.get(sku, 0) + quantity
        if new > MAX_QUANTITY:
            raise CartError(f"You can order at most {MAX_QUANTITY} of one product.")
        self._items[sku] = new
        self._save()
        return new

    def set_quantity(self, sku: str, quantity: int) -> None:
        """Set a line's quantity; 0 removes it."""
        if quantity == 0:
            self.remove(sku)
            return
        self._check_quantity(quantity)
        if sku not in self._items:
            raise CartError("That product is not in your cart.")
        self._items[sku] = quantity
        self._save()

    def remove(self, sku: str) -> None:
        self._items.pop(sku, None)
        self._save()

    def clear(self) -> None:
        self._items = {}
        self._save()

    # --- reads ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return sum(self._items.values())

    def __bool__(self) -> bool:
        return bool(self._items)

    @property
    def items(self) -> dict[str, int]:
        return dict(self._items)

    def lines(self) -> list[CartLine]:
        """The cart's lines with current catalogue prices. Products no longer for sale drop
        out of the cart (see `dropped`)."""
        if self._lines is None:
            products = products_for_sale(sorted(self._items))
            self.dropped = sorted(set(self._items) - set(products))
            if self.dropped:
                for sku in self.dropped:
                    self._items.pop(sku, None)
                self._save()
            self._lines = [
                CartLine(product=products[sku], quantity=quantity)
                for sku, quantity in sorted(self._items.items(), key=lambda item: item[0])
            ]
        return self._lines

    def subtotal(self) -> Decimal:
        return sum((line.line_total for line in self.lines()), Decimal("0.00"))

    def needs_shipping(self) -> bool:
        return any(line.needs_shipping for line in self.lines())

    def currency(self) -> str:
        lines = self.lines()
        return lines[0].product.currency if lines else ""

    # --- the one-time checkout token -----------------------------------------------------

    def checkout_token(self) -> str:
        """The token the checkout form carries; a new one after every placed order."""
        token = self.session.get(CHECKOUT_KEY)
        if not isinstance(token, str) or not token:
            token = secrets.token_urlsafe(24)
            self.session[CHECKOUT_KEY] = token
        return token

    def is_current_token(self, token: str) -> bool:
        current = self.session.get(CHECKOUT_KEY)
        return bool(token) and isinstance(current, str) and secrets.compare_digest(token, current)

    def order_placed_with(self, token: str) -> str | None:
        """The order number a token already placed in this session, if any."""
        placed = self.session.get(PLACED_KEY)
        if not token or not isinstance(placed, dict):
            return None
        number = placed.get(token)
        return number if isinstance(number, str) else None

    def placed(self, token: str, order_number: str) -> None:
        """The order is placed: empty the cart, remember the token, issue a new one."""
        placed = self.session.get(PLACED_KEY)
        placed = dict(placed) if isinstance(placed, dict) else {}
        placed[token] = order_number
        self.session[PLACED_KEY] = dict(list(placed.items())[-KEEP_PLACED:])
        self.session[CHECKOUT_KEY] = secrets.token_urlsafe(24)
        self.clear()

    def placed_numbers(self) -> set[str]:
        """Orders placed in this session (the order-received page shows only these)."""
        placed = self.session.get(PLACED_KEY)
        return set(placed.values()) if isinstance(placed, dict) else set()

    # --- internals -----------------------------------------------------------------------

    @staticmethod
    def _check_quantity(quantity: int) -> None:
        if not isinstance(quantity, int) or isinstance(quantity, bool):
            raise CartError("Enter a whole number.")
        if quantity < 1 or quantity > MAX_QUANTITY:
            raise CartError(f"Choose a quantity from 1 to {MAX_QUANTITY}.")

    def _save(self) -> None:
        self.session[SESSION_KEY] = dict(self._items)
        self._lines = None

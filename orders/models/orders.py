"""Orders, from receipt to completion.

The Order state machine lives here and only changes state (DESIGN.md rule 1): the services in
`orders.services` lock, check, transition, save, write the timeline and register side effects.
"""

import secrets
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone
from django_fsm import (
    RETURN_VALUE,
    ConcurrentTransitionMixin,
    FSMField,
    FSMModelMixin,
    transition,
)

from orders.models.customers import Address, Customer


class OrderStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    RECEIVED = "received", "Received"
    ON_HOLD = "on_hold", "On hold"
    CONFIRMED = "confirmed", "Confirmed"
    READY = "ready", "Ready for the warehouse"
    PICKING = "picking", "Picking"
    PACKED = "packed", "Packed"
    PARTIALLY_SHIPPED = "partially_shipped", "Partially shipped"
    SHIPPED = "shipped", "Shipped"
    DELIVERED = "delivered", "Delivered"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


# Each state in the customer's words: the one label the shop's pages (My orders, the order
# page) and emails use. Staff see OrderStatus's own labels.
CUSTOMER_STATUS_LABELS: dict[str, str] = {
    OrderStatus.DRAFT: "Not placed yet",
    OrderStatus.RECEIVED: "Received: we are checking your order",
    OrderStatus.ON_HOLD: "Waiting: we are looking into your order",
    OrderStatus.CONFIRMED: "Confirmed",
    OrderStatus.READY: "Confirmed: waiting for the warehouse",
    OrderStatus.PICKING: "Being picked in the warehouse",
    OrderStatus.PACKED: "Packed, ready to ship",
    OrderStatus.PARTIALLY_SHIPPED: "Partly shipped",
    OrderStatus.SHIPPED: "Shipped",
    OrderStatus.DELIVERED: "Delivered",
    OrderStatus.COMPLETED: "Completed",
    OrderStatus.CANCELLED: "Cancelled",
}


S = OrderStatus
# The forward order of states, used to decide where a released order goes back to.
STATUS_PROGRESS = [S.RECEIVED, S.CONFIRMED, S.READY, S.PICKING, S.PACKED]
CANCELLABLE_STATES = [
    S.DRAFT,
    S.RECEIVED,
    S.ON_HOLD,
    S.CONFIRMED,
    S.READY,
    S.PICKING,
    S.PACKED,
]
HOLDABLE_STATES = [S.RECEIVED, S.CONFIRMED, S.READY, S.PICKING, S.PACKED]


class Channel(models.TextChoices):
    WEB = "web", "Website"
    PHONE = "phone", "Phone"
    EMAIL = "email", "Email"
    IN_PERSON = "in_person", "In person"
    API = "api", "Partner API"


STAFF_CHANNELS = [Channel.PHONE, Channel.EMAIL, Channel.IN_PERSON]


class HoldReason(models.TextChoices):
    FRAUD_RISK = "fraud_risk", "Fraud risk"
    ADDRESS_INVALID = "address_invalid", "Address invalid"
    OUT_OF_STOCK = "out_of_stock", "Out of stock"
    PAYMENT_FAILED = "payment_failed", "Payment failed"
    MANUAL = "manual", "Manual review"
    # The warehouse holds an order it cannot deliver: a digital product without its file.
    DOWNLOAD_MISSING = "download_missing", "Download file missing"


def _new_public_token() -> str:
    return secrets.token_urlsafe(24)


def _only_digital_or_service(order: "Order") -> bool:
    return order.lines.exists() and not order.lines.filter(product_kind="physical").exists()


def _has_physical_goods(order: "Order") -> bool:
    return order.lines.filter(product_kind="physical").exists()


def _return_window_passed(order: "Order") -> bool:
    if order.delivered_at is None:
        return False
    window = timedelta(days=settings.RETURN_WINDOW_DAYS)
    return timezone.now() >= order.delivered_at + window


class Order(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    number = models.CharField(max_length=20, unique=True, null=True, editable=False)
    public_token = models.CharField(
        max_length=64, unique=True, default=_new_public_token, editable=False
    )
    status = FSMField(
        max_length=20, choices=OrderStatus.choices, default=S.DRAFT, protected=True, db_index=True
    )
    held_from = models.CharField(max_length=20, choices=OrderStatus.choices, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEB)
    # Who sent it: "web", a partner's id, a staff user's id... With the idempotency key it
    # identifies a request, so a retried request returns the first order.
    source = models.CharField(max_length=64, blank=True)
    partner = models.ForeignKey(
        "partner_api.Partner",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
        help_text="The partner that placed it through the API; only that partner sees it.",
    )
    idempotency_key = models.CharField(max_length=128, blank=True)
    external_reference = models.CharField(max_length=128, blank=True)

    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    bill_to = models.ForeignKey(
        Customer,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="billed_orders",
        help_text="Who pays on invoice terms when it is not the customer (a partner's account).",
    )
    # Whose "My orders" it is in. The customer record is only whoever the email names (anyone
    # can type an email); an order joins an account when placed while signed in to it, or
    # when the account holder claims it with the link emailed to the order's address.
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="shop_orders",
        help_text="The shop account it belongs to: placed signed in, or claimed with the link "
        "emailed to its address. Partner orders never belong to one.",
    )
    email = models.EmailField(blank=True, help_text="Where order emails go.")
    phone = models.CharField(max_length=32, blank=True)
    shipping_address = models.ForeignKey(
        Address, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    billing_address = models.ForeignKey(
        Address, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shipping_method = models.ForeignKey(
        "warehouse.ShippingMethod",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="orders",
    )

    currency = models.CharField(max_length=3, default=settings.DEFAULT_CURRENCY)
    prices_include_tax = models.BooleanField(default=True)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    lines_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    shipping_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    tax_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    grand_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))

    fraud_score = models.PositiveSmallIntegerField(null=True, blank=True)
    customer_note = models.TextField(blank=True)
    staff_note = models.TextField(blank=True)
    cancellation_reason = models.TextField(blank=True)

    promised_ship_by = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    placed_at = models.DateTimeField(null=True, blank=True, db_index=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-placed_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "promised_ship_by"], name="order_status_ship_by"),
            models.Index(fields=["channel", "placed_at"], name="order_channel_placed"),
            # A partner's order list: its orders, newest first (the API pages by -pk).
            models.Index(fields=["partner", "-id"], name="order_partner_newest"),
            # Orders waiting to be claimed into an account, found by their email (iexact).
            models.Index(
                Upper("email"), condition=Q(account__isnull=True), name="order_unclaimed_by_email"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "source", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="order_idempotency_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(grand_total__gte=0) & Q(lines_total__gte=0) & Q(tax_total__gte=0),
                name="order_totals_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(account__isnull=True)
                | (Q(partner__isnull=True) & ~Q(channel=Channel.API)),
                name="order_partner_orders_join_no_account",
            ),
        ]
        permissions = [
            ("place_order", "Can place orders"),
            ("review_order", "Can run the order review"),
            ("hold_order", "Can put orders on hold"),
            ("release_order", "Can release held orders"),
            ("cancel_order", "Can cancel orders"),
            ("secure_payment_order", "Can release orders to the warehouse once paid"),
            ("fulfil_order", "Can pick, pack, ship and deliver orders"),
            ("complete_order", "Can complete orders"),
        ]

    def __str__(self) -> str:
        return f"Order {self.number}" if self.number else f"Draft order #{self.pk}"

    @property
    def customer_status(self) -> str:
        """The state in the customer's words (CUSTOMER_STATUS_LABELS)."""
        return CUSTOMER_STATUS_LABELS.get(self.status, self.get_status_display())

    # --- predicates ---------------------------------------------------------------------

    def active_hold_reasons(self) -> list[str]:
        """Hold reasons still in force. Uses prefetched holds when the caller loaded them."""
        return [hold.reason for hold in self.holds.all() if hold.released_at is None]

    def release_target(self) -> str:
        """Released orders go to `confirmed`, or back to a later state they were held from.
        An order held before its review ever ran goes back to `received`, to be reviewed:
        releasing a hold never skips the review's checks."""
        if self.held_from == S.RECEIVED and self.reviewed_at is None:
            return S.RECEIVED
        if self.held_from in STATUS_PROGRESS and STATUS_PROGRESS.index(
            self.held_from
        ) > STATUS_PROGRESS.index(S.CONFIRMED):
            return self.held_from
        return S.CONFIRMED

    # --- transitions: state only (DESIGN.md rule 1) ------------------------------------

    @transition(field=status, source=S.DRAFT, target=S.RECEIVED, permission="orders.place_order")
    def place(self) -> None:
        pass

    @transition(
        field=status,
        source=S.RECEIVED,
        target=RETURN_VALUE(S.CONFIRMED, S.ON_HOLD),
        permission="orders.review_order",
    )
    def review(self, *, passed: bool) -> str:
        if passed:
            return S.CONFIRMED
        self.held_from = S.RECEIVED
        return S.ON_HOLD

    @transition(
        field=status, source=HOLDABLE_STATES, target=S.ON_HOLD, permission="orders.hold_order"
    )
    def hold(self) -> None:
        self.held_from = self.status

    @transition(
        field=status,
        source=S.ON_HOLD,
        target=RETURN_VALUE(S.RECEIVED, S.CONFIRMED, S.READY, S.PICKING, S.PACKED),
        permission="orders.release_order",
    )
    def release(self) -> str:
        target = self.release_target()
        self.held_from = ""
        return target

    @transition(
        field=status,
        source=S.CONFIRMED,
        target=S.READY,
        permission="orders.secure_payment_order",
    )
    def secure_payment(self) -> None:
        pass

    @transition(
        field=status,
        source=S.READY,
        target=S.PICKING,
        conditions=[_has_physical_goods],
        permission="orders.fulfil_order",
    )
    def start_picking(self) -> None:
        pass

    @transition(field=status, source=S.PICKING, target=S.PACKED, permission="orders.fulfil_order")
    def pack(self) -> None:
        pass

    @transition(
        field=status,
        source=S.READY,
        target=S.DELIVERED,
        conditions=[_only_digital_or_service],
        permission="orders.fulfil_order",
    )
    def fulfil(self) -> None:
        pass

    @transition(
        field=status,
        source=[S.PACKED, S.PARTIALLY_SHIPPED],
        target=RETURN_VALUE(S.PARTIALLY_SHIPPED, S.SHIPPED),
        permission="orders.fulfil_order",
    )
    def ship(self, *, all_shipped: bool) -> str:
        return S.SHIPPED if all_shipped else S.PARTIALLY_SHIPPED

    @transition(
        field=status, source=S.SHIPPED, target=S.DELIVERED, permission="orders.fulfil_order"
    )
    def deliver(self) -> None:
        pass

    @transition(
        field=status,
        source=S.DELIVERED,
        target=S.COMPLETED,
        conditions=[_return_window_passed],
        permission="orders.complete_order",
    )
    def complete(self) -> None:
        pass

    @transition(
        field=status,
        source=CANCELLABLE_STATES,
        target=S.CANCELLED,
        permission="orders.cancel_order",
    )
    def cancel(self) -> None:
        self.held_from = ""


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        "warehouse.Product", on_delete=models.PROTECT, related_name="order_lines"
    )
    # Snapshots taken when the order is placed: later catalogue edits never change an order.
    sku = models.CharField("SKU", max_length=64, blank=True)
    name = models.CharField(max_length=200, blank=True)
    product_kind = models.CharField(max_length=16, default="physical")
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    line_total = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="order_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="order_line_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} × {self.sku or self.product_id}"


class OrderHold(models.Model):
    """Why an order is held. A hold stays on record after it is released."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="holds")
    reason = models.CharField(max_length=20, choices=HoldReason.choices)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["reason", "released_at"], name="order_hold_reason_open")]

    def __str__(self) -> str:
        return self.get_reason_display()


class HeldOrder(Order):
    """The held-orders queue in the staff console (a view of Order, no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "held order"
        verbose_name_plural = "held orders (queue)"

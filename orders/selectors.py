"""Reads for the customer pages: the catalogue, a customer's orders, one order's page, and the
signed guest links. Every list is loaded with select_related/prefetch_related, so a page
takes the same number of queries however many lines and events an order has."""

from dataclasses import dataclass
from typing import Any

from django.db.models import (
    Exists,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce

from orders import signed_links
from orders.models import (
    Address,
    Channel,
    Customer,
    EventType,
    Order,
    OrderEvent,
    OrderHold,
    OrderStatus,
)
from orders.signed_links import ORDER_LINK, LinkRefused
from warehouse.models import Product, ProductKind, Shipment, ShipmentStatus, ShippingMethod

S = OrderStatus

# --- the catalogue -------------------------------------------------------------------------


def _with_availability(products: QuerySet[Product]) -> QuerySet[Product]:
    """Units that can be sold now: on hand minus reserved, in active warehouses."""
    return products.annotate(
        units_available=Coalesce(
            Sum(
                F("stock_items__on_hand") - F("stock_items__reserved"),
                filter=Q(stock_items__warehouse__is_active=True),
            ),
            0,
            output_field=IntegerField(),
        )
    )


def product_list(*, query: str = "") -> QuerySet[Product]:
    """Products for sale, with availability, optionally searched by name, SKU or text."""
    products = Product.objects.filter(is_active=True)
    query = " ".join(query.split())[:100]
    for word in query.split(" ") if query else []:
        products = products.filter(
            Q(name__icontains=word) | Q(sku__icontains=word) | Q(description__icontains=word)
        )
    return _with_availability(products).order_by("name", "sku")


def product_for_sale(sku: str) -> Product | None:
    return _with_availability(Product.objects.filter(is_active=True, sku=sku)).first()


def products_for_sale(skus: list[str]) -> dict[str, Product]:
    """The products behind a cart, with their current price and availability."""
    if not skus:
        return {}
    products = _with_availability(Product.objects.filter(is_active=True, sku__in=skus))
    return {product.sku: product for product in products}


def is_in_stock(product: Product, quantity: int = 1) -> bool:
    """Digital goods and services never run out; physical goods need the units."""
    if product.kind != ProductKind.PHYSICAL:
        return True
    return getattr(product, "units_available", 0) >= quantity


def shipping_methods() -> list[ShippingMethod]:
    return list(ShippingMethod.objects.filter(is_active=True).order_by("price", "code"))


# --- customers -----------------------------------------------------------------------------


def customer_for_user(user: Any) -> Customer | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Customer.objects.filter(user=user).first()


def customer_has_invoice_terms(customer: Customer | None) -> bool:
    if customer is None:
        return False
    from payments.models import CreditAccount

    return CreditAccount.objects.filter(customer=customer, is_active=True).exists()


def last_shipping_address(user: Any) -> Address | None:
    """Where the account's newest order went; checkout starts from it. Only the account's
    own orders: a guest order placed under its email may hold a stranger's address."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    last = (
        Order.objects.filter(account=user, shipping_address__isnull=False)
        .select_related("shipping_address")
        .order_by("-placed_at")
        .first()
    )
    return last.shipping_address if last is not None else None


# --- orders --------------------------------------------------------------------------------


def order_list_for_customer(user: Any) -> QuerySet[Order]:
    """My orders: the placed orders that joined the user's account (Order.account), newest
    first, with the item count. Never an order merely placed under the account's email."""
    return (
        Order.objects.filter(account=user)
        .exclude(status=S.DRAFT)
        .select_related("shipping_method")
        .annotate(item_count=Coalesce(Sum("lines__quantity"), 0))
        .order_by("-placed_at", "-pk")
    )


def _order_page_queryset() -> QuerySet[Order]:
    from payments.models import Payment

    return Order.objects.select_related(
        "customer", "shipping_address", "billing_address", "shipping_method"
    ).prefetch_related(
        "lines",
        Prefetch(
            "events",
            queryset=OrderEvent.objects.filter(customer_visible=True).order_by("created_at", "pk"),
            to_attr="customer_events",
        ),
        Prefetch(
            "payments",
            queryset=Payment.objects.select_related("invoice_record").order_by("created_at", "pk"),
            to_attr="payment_list",
        ),
    )


def order_id_for_customer(user: Any, number: str) -> int | None:
    """The placed order with this number in the user's account; None for any other."""
    if not getattr(user, "is_authenticated", False):
        return None
    return (
        Order.objects.filter(account=user, number=number)
        .exclude(status=S.DRAFT)
        .values_list("pk", flat=True)
        .first()
    )


def order_id_for_number(number: str) -> int | None:
    """Any order with this number: only for callers that already know this visitor may see
    it (the checkout session that placed it)."""
    return Order.objects.filter(number=number).values_list("pk", flat=True).first()


def order_for_page(order_id: int) -> Order:
    return _order_page_queryset().get(pk=order_id)


# --- guest links ---------------------------------------------------------------------------


def order_link_token(order: Order) -> str:
    """A signed token for the guest order page; order_revoke_links revokes it."""
    return signed_links.make_for_order(ORDER_LINK, order)


def order_id_for_link(token: str) -> int:
    """The order a guest link belongs to; LinkRefused when it is tampered with, expired or
    revoked."""
    payload = signed_links.read(ORDER_LINK, token)
    order_id = (
        Order.objects.exclude(status=S.DRAFT)
        .filter(pk=payload["order"], public_token=str(payload["token"]))
        .values_list("pk", flat=True)
        .first()
    )
    if order_id is None:
        raise LinkRefused("This order link is no longer valid: a newer one has been sent to you.")
    return order_id


def order_link_opens(token: str, order: Order) -> bool:
    """Whether a guest link is the one for `order` as the caller loaded it (locked, for a
    change), so a link revoked meanwhile opens nothing; LinkRefused when the link is tampered
    with, expired or revoked."""
    payload = signed_links.read(ORDER_LINK, token)
    if payload["order"] != order.pk:
        return False
    if str(payload["token"]) != order.public_token:
        raise LinkRefused("This order link is no longer valid: a newer one has been sent to you.")
    return True


def order_for_link(token: str) -> Order:
    """The order a guest link belongs to, with its customer; refused as order_id_for_link."""
    return Order.objects.select_related("customer").get(pk=order_id_for_link(token))


# --- what an order page shows --------------------------------------------------------------

PROGRESS_STEPS = ["Received", "Confirmed", "Packed", "Shipped", "Delivered"]
_STEP_OF_STATUS = {
    S.RECEIVED: 0,
    S.CONFIRMED: 1,
    S.READY: 1,
    S.PICKING: 1,
    S.PACKED: 2,
    S.PARTIALLY_SHIPPED: 2,
    S.SHIPPED: 3,
    S.DELIVERED: 4,
    S.COMPLETED: 4,
}


@dataclass(frozen=True)
class ProgressStep:
    label: str
    done: bool
    current: bool


def order_progress(order: Order) -> list[ProgressStep]:
    """received → confirmed → packed → shipped → delivered, from the order's status. A held
    order stays on the last step it reached; a cancelled order has reached none."""
    if order.status == S.CANCELLED:
        reached = -1
    elif order.status == S.ON_HOLD:
        reached = 1 if order.confirmed_at else 0
        held_from = _STEP_OF_STATUS.get(order.held_from)
        if held_from is not None:
            reached = max(reached, held_from)
    else:
        reached = _STEP_OF_STATUS.get(order.status, 0)
    return [
        ProgressStep(label=label, done=index <= reached, current=index == reached)
        for index, label in enumerate(PROGRESS_STEPS)
    ]


AWAITING_DISPATCH = (S.RECEIVED, S.ON_HOLD, S.CONFIRMED, S.READY, S.PICKING, S.PACKED)


def order_awaiting_dispatch(order: Order) -> bool:
    """Nothing has left the warehouse yet."""
    return order.status in AWAITING_DISPATCH


def orders_to_claim(email: str) -> QuerySet[Order]:
    """Placed orders under this email that no account holds and that may join one with the
    claim link emailed to it: every channel but the partner API (a partner's orders never
    join a shop account)."""
    return (
        Order.objects.filter(email__iexact=email.strip(), account__isnull=True)
        .filter(partner__isnull=True)
        .exclude(channel=Channel.API)
        .exclude(status=S.DRAFT)
    )


def customer_to_claim(token: str, *, user: Any) -> Customer | None:
    """The guest customer an emailed claim link offers to `user`, None when it is gone;
    LinkRefused (with the reason to show) when the link is forged, expired or meant for
    another account."""
    payload = signed_links.read(signed_links.CLAIM_LINK, token)
    if payload["user"] != user.pk:
        raise LinkRefused("This link is for another account.")
    return Customer.objects.filter(pk=payload["customer"]).first()


def open_holds_prefetch() -> Prefetch:
    """Each order's holds still in force, as `order.open_holds`."""
    return Prefetch(
        "holds", queryset=OrderHold.objects.filter(released_at__isnull=True), to_attr="open_holds"
    )


def held_order_queue(orders: QuerySet[Order]) -> QuerySet[Order]:
    """The held-orders queue, oldest first: held orders, and shipped ones whose carrier
    reports a delivery exception, with their open holds. `queued_since` is when the order
    began to wait for a person: its oldest hold still in force, else the carrier's latest
    delivery exception."""
    oldest_open_hold = (
        OrderHold.objects.filter(order=OuterRef("pk"), released_at__isnull=True)
        .order_by("created_at", "pk")
        .values("created_at")[:1]
    )
    latest_exception = (
        OrderEvent.objects.filter(order=OuterRef("pk"), type=EventType.DELIVERY_EXCEPTION)
        .order_by("-created_at", "-pk")
        .values("created_at")[:1]
    )
    in_exception = Shipment.objects.filter(order=OuterRef("pk"), status=ShipmentStatus.EXCEPTION)
    return (
        orders.filter(Q(status=OrderStatus.ON_HOLD) | Exists(in_exception))
        .select_related("customer")
        .prefetch_related(open_holds_prefetch())
        .annotate(
            queued_since=Coalesce(
                Subquery(oldest_open_hold), Subquery(latest_exception), F("placed_at")
            )
        )
        .order_by("queued_since", "pk")
    )

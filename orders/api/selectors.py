"""Reads for the partner API. A partner only ever sees its own orders: every order query
starts from `partner_orders`. Lists are loaded with select_related/prefetch_related so a page
takes the same number of queries however many orders, lines and shipments it holds."""

from datetime import datetime

from django.db.models import Prefetch, QuerySet

from orders.api.models import Partner, PartnerAPIKey, WebhookEndpoint
from orders.models import Order, OrderEvent, OrderStatus
from orders.selectors import product_for_sale, product_list
from payments.models import Payment
from warehouse.models import Product, Shipment, ShipmentLine, ShippingMethod


def api_key_for(key: str) -> PartnerAPIKey | None:
    """The key row whose prefix matches and whose hash verifies (revoked and expired keys
    included, so the caller can say which); None for anything else."""
    prefix, dot, _secret = key.partition(".")
    if not dot or not prefix or len(prefix) > 8:
        return None
    api_key = PartnerAPIKey.objects.select_related("partner").filter(prefix=prefix).first()
    if api_key is None or not api_key.is_valid(key):
        return None
    return api_key


def shipments_prefetch() -> Prefetch:
    return Prefetch(
        "shipments",
        queryset=Shipment.objects.order_by("pk").prefetch_related(
            Prefetch(
                "lines",
                queryset=ShipmentLine.objects.select_related("order_line").order_by("pk"),
            )
        ),
    )


def partner_orders(partner: Partner) -> QuerySet[Order]:
    """The partner's orders (and nobody else's), loaded for the API representation."""
    return (
        Order.objects.filter(partner=partner)
        .exclude(status=OrderStatus.DRAFT)
        .select_related("customer", "shipping_address", "billing_address", "shipping_method")
        .prefetch_related(
            "lines",
            Prefetch(
                "payments",
                queryset=Payment.objects.select_related("invoice_record").order_by(
                    "created_at", "pk"
                ),
                to_attr="payment_list",
            ),
            shipments_prefetch(),
            Prefetch(
                "events",
                queryset=OrderEvent.objects.filter(customer_visible=True).order_by(
                    "created_at", "pk"
                ),
                to_attr="customer_events",
            ),
        )
    )


def partner_order_list(
    partner: Partner,
    *,
    statuses: list[str] | None = None,
    created_since: datetime | None = None,
    updated_since: datetime | None = None,
    external_reference: str | None = None,
) -> QuerySet[Order]:
    orders = partner_orders(partner)
    if statuses:
        orders = orders.filter(status__in=statuses)
    if created_since is not None:
        orders = orders.filter(placed_at__gte=created_since)
    if updated_since is not None:
        orders = orders.filter(updated_at__gte=updated_since)
    if external_reference:
        orders = orders.filter(external_reference=external_reference)
    return orders


def partner_order(partner: Partner, number: str) -> Order | None:
    return partner_orders(partner).filter(number=number).first()


def partner_order_shipments(partner: Partner, number: str) -> list[Shipment] | None:
    """The order's shipments with their lines; None when the order is not the partner's."""
    order = (
        Order.objects.filter(partner=partner, number=number)
        .exclude(status=OrderStatus.DRAFT)
        .prefetch_related(shipments_prefetch())
        .first()
    )
    return None if order is None else list(order.shipments.all())


def product_catalogue(*, search: str = "") -> QuerySet[Product]:
    """Active products with the units that can be sold now (`units_available`), by SKU."""
    return product_list(query=search).order_by("sku")


def product_by_sku(sku: str) -> Product | None:
    return product_for_sale(sku)


def shipping_methods_serving(*, country: str = "", postal_code: str = "") -> list[ShippingMethod]:
    """Active shipping methods, cheapest first; with a country, only those whose zone takes
    the address (ShippingMethod.serves: the same rule placement applies)."""
    methods = ShippingMethod.objects.filter(is_active=True).order_by("price", "code")
    if not country:
        return list(methods)
    return [method for method in methods if method.serves(country, postal_code)]


def partner_webhook_endpoints(partner: Partner) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(partner=partner, is_active=True).order_by("pk")

"""What partners send and get back. Input serializers only validate the shape; the services
decide. Output serializers are read-only: prices, totals and statuses come from the order,
and a request that sends them changes nothing (unknown keys are ignored)."""

import unicodedata
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orders.api.fields import OptionalCharField, OptionalChoiceField, OptionalURLField
from orders.api.models import WEBHOOK_EVENTS, WebhookEndpoint
from orders.countries import validate_country_code
from orders.models import ADDRESS_FIELDS, Address, Order, OrderEvent, OrderLine, OrderStatus
from orders.numbers import WholeNumberSerializerField
from orders.services import MAX_LINES, MAX_QUANTITY, AddressInput, LineInput
from payments.models import PaymentMethod, PaymentStatus
from payments.selectors import order_payment_position
from warehouse.models import (
    Carrier,
    Product,
    ProductKind,
    Shipment,
    ShipmentStatus,
    ShippingMethod,
)


def single_line(value: str) -> None:
    """Names, addresses and references end up on labels, invoices and emails: no control
    characters (line breaks, tabs, escapes) in them."""
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise serializers.ValidationError("Control characters (line breaks, tabs) are not allowed.")


def _text(
    max_length: int, *, required: bool = False, multiline: bool = False, **kwargs: Any
) -> serializers.CharField:
    validators = [] if multiline else [single_line]
    if required:
        return serializers.CharField(max_length=max_length, validators=validators, **kwargs)
    # Optional text may be left out, blank or null (what our answers say for "none").
    return OptionalCharField(
        max_length=max_length,
        required=False,
        allow_blank=True,
        default="",
        validators=validators,
        **kwargs,
    )


# --- errors (for the schema) --------------------------------------------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable, e.g. out_of_stock, invalid.")
    message = serializers.CharField(help_text="What went wrong, for a person to read.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text='Messages per request field, dotted for nested ones ("lines.0.quantity").',
    )
    available = serializers.DictField(
        child=serializers.IntegerField(),
        required=False,
        help_text="Only for out_of_stock: the units available now, per SKU.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


# --- addresses and customers --------------------------------------------------------------


class CountryField(serializers.CharField):
    """An ISO 3166-1 alpha-2 country code; "de" is read as DE."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_length=2, max_length=2, help_text="ISO 3166-1 alpha-2", **kwargs)
        self.validators.append(validate_country_code)

    def to_internal_value(self, data: Any) -> str:
        return super().to_internal_value(data).upper()


class AddressSerializer(serializers.Serializer):
    name = _text(200, required=True)
    company = _text(200)
    line1 = _text(200, required=True)
    line2 = _text(200)
    city = _text(100, required=True)
    region = _text(100)
    postal_code = _text(20)
    country = CountryField()
    phone = _text(32)

    def to_input(self, data: dict[str, Any] | None) -> AddressInput | None:
        return None if not data else AddressInput(**data)


class AddressOutSerializer(serializers.ModelSerializer):
    company = OptionalCharField(read_only=True)
    line2 = OptionalCharField(read_only=True)
    region = OptionalCharField(read_only=True)
    postal_code = OptionalCharField(read_only=True)
    phone = OptionalCharField(read_only=True)

    class Meta:
        model = Address
        fields = list(ADDRESS_FIELDS)
        read_only_fields = fields


class CustomerInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    name = _text(200)
    phone = _text(32)


class CustomerOutSerializer(serializers.Serializer):
    """The order's customer (fed the order itself: source="*")."""

    email = serializers.EmailField(read_only=True)
    # The name given with this order (on its addresses), never a stored customer profile:
    # a partner must not learn what another channel knows about an email address.
    name = serializers.SerializerMethodField()
    phone = OptionalCharField(read_only=True)

    @extend_schema_field(OptionalCharField())
    def get_name(self, order: Any) -> str | None:
        address = order.billing_address or order.shipping_address
        return address.name if address and address.name else None


# --- placing an order ---------------------------------------------------------------------


class LineInputSerializer(serializers.Serializer):
    sku = serializers.CharField(max_length=64, validators=[single_line])
    quantity = WholeNumberSerializerField(min_value=1, max_value=MAX_QUANTITY)


class PaymentInputSerializer(serializers.Serializer):
    method = serializers.ChoiceField(
        choices=PaymentMethod.choices,
        help_text="invoice: on the partner's invoice terms; card: a card token.",
    )
    token = OptionalCharField(
        max_length=128,
        required=False,
        allow_blank=True,
        default="",
        validators=[single_line],
        help_text="For card: a token such as tok_visa (test gateway) or a Stripe pm_/tok_.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["method"] == PaymentMethod.CARD and not attrs.get("token"):
            raise serializers.ValidationError({"token": ["A card payment needs a token."]})
        return attrs


class OrderCreateSerializer(serializers.Serializer):
    lines = LineInputSerializer(many=True, allow_empty=False, max_length=MAX_LINES)
    customer = CustomerInputSerializer()
    shipping_address = AddressSerializer(
        required=False, allow_null=True, help_text="Needed when anything is shipped."
    )
    billing_address = AddressSerializer(
        required=False, allow_null=True, help_text="Defaults to the shipping address."
    )
    shipping_method = serializers.CharField(
        max_length=32,
        required=False,
        allow_null=True,
        allow_blank=True,
        validators=[single_line],
        help_text="A shipping method code such as standard; one that does not deliver to the "
        "shipping address is refused. When absent, the cheapest that delivers there.",
    )
    payment = PaymentInputSerializer()
    external_reference = _text(128, help_text="Your own order id; shown on the order.")
    customer_note = _text(1000, multiline=True)

    def to_service_kwargs(self) -> dict[str, Any]:
        data = self.validated_data
        address = AddressSerializer()
        return {
            "lines": [LineInput(line["sku"], line["quantity"]) for line in data["lines"]],
            "email": data["customer"]["email"],
            "customer_name": data["customer"]["name"],
            "phone": data["customer"]["phone"],
            "shipping_address": address.to_input(data.get("shipping_address")),
            "billing_address": address.to_input(data.get("billing_address")),
            "shipping_method": data.get("shipping_method") or None,
            "payment_method": data["payment"]["method"],
            "card_token": data["payment"]["token"],
            "external_reference": data["external_reference"],
            "customer_note": data["customer_note"],
        }


class OrderCancelSerializer(serializers.Serializer):
    reason = _text(1000, multiline=True, help_text="Told to the customer.")


# --- orders, out --------------------------------------------------------------------------


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["sku", "name", "product_kind", "quantity", "unit_price", "line_total"]
        read_only_fields = fields


class ShipmentLineSerializer(serializers.Serializer):
    sku = serializers.CharField(source="order_line.sku", read_only=True)
    quantity = serializers.IntegerField(read_only=True)


class ShipmentSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=ShipmentStatus.choices, read_only=True)
    carrier = OptionalChoiceField(
        choices=Carrier.choices, read_only=True, help_text="Null until the parcel ships."
    )
    service_level = OptionalCharField(read_only=True)
    tracking_number = OptionalCharField(read_only=True, help_text="Null until the parcel ships.")
    tracking_url = OptionalURLField(
        read_only=True,
        help_text="The carrier's tracking page; null until the parcel ships, and for carriers "
        "without one (own delivery).",
    )
    lines = ShipmentLineSerializer(many=True, read_only=True)

    class Meta:
        model = Shipment
        fields = [
            "id",
            "status",
            "carrier",
            "service_level",
            "tracking_number",
            "tracking_url",
            "created_at",
            "shipped_at",
            "delivered_at",
            "lines",
        ]
        read_only_fields = fields


class TimelineEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderEvent
        fields = ["type", "message", "created_at"]
        read_only_fields = fields


class TotalsSerializer(serializers.Serializer):
    lines = serializers.DecimalField(12, 2, source="lines_total", read_only=True)
    shipping = serializers.DecimalField(12, 2, source="shipping_total", read_only=True)
    tax = serializers.DecimalField(12, 2, source="tax_total", read_only=True)
    tax_rate = serializers.DecimalField(5, 2, read_only=True, help_text="Percent")
    prices_include_tax = serializers.BooleanField(read_only=True)
    grand_total = serializers.DecimalField(12, 2, read_only=True)


class PaymentSummarySerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=PaymentMethod.choices, allow_null=True)
    status = serializers.ChoiceField(
        choices=PaymentStatus.choices,
        allow_null=True,
        help_text="The latest payment's state; null when nothing is to be paid yet.",
    )
    paid = serializers.DecimalField(12, 2)
    refunded = serializers.DecimalField(12, 2)
    balance_due = serializers.DecimalField(12, 2)
    invoice_number = serializers.CharField(
        allow_null=True,
        help_text="The order's invoice: on your invoice terms, or a card order's (issued when "
        "the card is captured); null while there is none.",
    )
    invoice_due_date = serializers.DateField(
        allow_null=True,
        help_text="When an invoice on terms is due; null for a card invoice (paid when "
        "issued) and while there is no invoice.",
    )


def payment_summary(order: Order) -> dict[str, Any]:
    payments = getattr(order, "payment_list", None)
    if payments is None:
        payments = list(order.payments.select_related("invoice_record").order_by("created_at"))
    return order_payment_position(order, payments)


class OrderSerializer(serializers.ModelSerializer):
    status = serializers.ChoiceField(choices=OrderStatus.choices, read_only=True)
    created_at = serializers.DateTimeField(source="placed_at", read_only=True)
    customer = CustomerOutSerializer(source="*", read_only=True)
    shipping_address = AddressOutSerializer(read_only=True, allow_null=True)
    billing_address = AddressOutSerializer(read_only=True, allow_null=True)
    shipping_method = serializers.CharField(
        source="shipping_method.code", read_only=True, allow_null=True, default=None
    )
    external_reference = OptionalCharField(read_only=True, help_text="Your own order id.")
    cancellation_reason = OptionalCharField(read_only=True)
    totals = TotalsSerializer(source="*", read_only=True)
    payment = serializers.SerializerMethodField()
    lines = OrderLineSerializer(many=True, read_only=True)
    shipments = ShipmentSerializer(many=True, read_only=True)
    timeline = TimelineEventSerializer(
        many=True, read_only=True, source="customer_events", help_text="Events for the customer."
    )

    class Meta:
        model = Order
        fields = [
            "number",
            "status",
            "external_reference",
            "created_at",
            "updated_at",
            "customer",
            "shipping_address",
            "billing_address",
            "shipping_method",
            "promised_ship_by",
            "currency",
            "totals",
            "payment",
            "lines",
            "shipments",
            "timeline",
            "cancelled_at",
            "cancellation_reason",
        ]
        read_only_fields = fields

    @extend_schema_field(PaymentSummarySerializer)
    def get_payment(self, order: Order) -> dict[str, Any]:
        return PaymentSummarySerializer(payment_summary(order)).data


# --- products -----------------------------------------------------------------------------


class ProductSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=ProductKind.choices, read_only=True)
    description = OptionalCharField(read_only=True)
    available = serializers.SerializerMethodField(
        help_text="Units that can be ordered now; null for digital goods and services."
    )
    in_stock = serializers.SerializerMethodField()

    class Meta:
        model = Product
        fields = [
            "sku",
            "name",
            "description",
            "kind",
            "price",
            "currency",
            "available",
            "in_stock",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.IntegerField(allow_null=True, min_value=0))
    def get_available(self, product: Product) -> int | None:
        if product.kind != ProductKind.PHYSICAL:
            return None
        return max(int(getattr(product, "units_available", 0) or 0), 0)

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_in_stock(self, product: Product) -> bool:
        available = self.get_available(product)
        return available is None or available > 0


# --- shipping methods ---------------------------------------------------------------------


class ShippingMethodSerializer(serializers.ModelSerializer):
    carrier = serializers.ChoiceField(choices=Carrier.choices, read_only=True)
    countries = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="ISO 3166-1 alpha-2 codes it delivers to; empty: everywhere we ship.",
    )
    postal_code_prefixes = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Only postal codes starting with one of these (spaces ignored), in the "
        "countries above; empty: every postal code there.",
    )

    class Meta:
        model = ShippingMethod
        fields = [
            "code",
            "name",
            "carrier",
            "price",
            "currency",
            "handling_days",
            "transit_days_min",
            "transit_days_max",
            "countries",
            "postal_code_prefixes",
        ]
        read_only_fields = fields


class ShippingMethodFilterSerializer(serializers.Serializer):
    country = CountryField(required=False)
    postal_code = serializers.CharField(
        max_length=20,
        required=False,
        validators=[single_line],
        help_text="With country: only methods whose zone takes this postal code.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("postal_code") and not attrs.get("country"):
            raise serializers.ValidationError(
                {"postal_code": ["Give the country too: postal codes are per country."]}
            )
        return attrs


# --- webhook endpoints --------------------------------------------------------------------


class WebhookEndpointInputSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, help_text="https:// on a public host.")
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(WEBHOOK_EVENTS)),
        allow_empty=False,
        max_length=len(WEBHOOK_EVENTS),
    )
    description = _text(200)


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=sorted(WEBHOOK_EVENTS)), read_only=True
    )
    description = OptionalCharField(read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "description", "is_active", "created_at"]
        read_only_fields = fields


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="Verifies X-Signature. Shown only now: store it safely."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


# --- query parameters ---------------------------------------------------------------------


class OrderFilterSerializer(serializers.Serializer):
    status = serializers.CharField(
        required=False,
        help_text="One status or several, comma-separated: confirmed,ready",
    )
    created_since = serializers.DateTimeField(required=False)
    updated_since = serializers.DateTimeField(required=False)
    external_reference = serializers.CharField(
        max_length=128, required=False, validators=[single_line]
    )

    def validate_status(self, value: str) -> list[str]:
        statuses = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [s for s in statuses if s not in OrderStatus.values]
        if unknown or not statuses:
            raise serializers.ValidationError(
                "Use one or more of: " + ", ".join(OrderStatus.values) + "."
            )
        return statuses


class ProductFilterSerializer(serializers.Serializer):
    search = serializers.CharField(max_length=100, required=False, allow_blank=True)

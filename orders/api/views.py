"""The partner API, /api/v1/. Thin views: check the request's shape, call a selector or a
service, and render. A partner only ever reaches its own orders: another partner's order
number is simply not found (404)."""

import hashlib
import json
from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from orders.api import selectors, services
from orders.api.authentication import PartnerAPIKeyAuthentication
from orders.api.fields import null_as_blank
from orders.api.models import Partner
from orders.api.pagination import (
    OrderCursorPagination,
    ProductCursorPagination,
    WebhookEndpointPagination,
)
from orders.api.parsers import refuse_declared_too_large
from orders.api.permissions import HasPartnerAPIKey
from orders.api.serializers import (
    ErrorSerializer,
    OrderCancelSerializer,
    OrderCreateSerializer,
    OrderFilterSerializer,
    OrderSerializer,
    ProductFilterSerializer,
    ProductSerializer,
    ShipmentSerializer,
    ShippingMethodFilterSerializer,
    ShippingMethodSerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointInputSerializer,
    WebhookEndpointSerializer,
)
from orders.api.throttling import PartnerRateThrottle
from orders.models import Order, OrderStatus

ORDER_NUMBER = r"[0-9A-Za-z-]{1,20}"
SKU = r"[A-Za-z0-9._-]{1,64}"
REPLAY_HEADER = "Idempotent-Replayed"

_ERRORS = {
    400: "The request is not valid; `fields` says what to fix. Nothing was changed.",
    401: "No API key, or a key that is unknown, revoked or expired.",
    403: "The partner account is switched off.",
    404: "Not found (or not yours).",
    409: "Conflicts with the current state (out of stock: `available` per SKU).",
    415: "Send JSON (Content-Type: application/json).",
    422: "Understood but refused (for example an Idempotency-Key reused with another body).",
    429: "Too many requests; wait for the seconds in Retry-After.",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {
        code: OpenApiResponse(ErrorSerializer, description=_ERRORS[code])
        for code in (*codes, 401, 403, 429)
    }


IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    pattern=r"^[!-~]{1,128}$",
    description="Unique per order (your order id will do). Repeating it with the same body "
    "replays the first answer; with another body gets 422. Kept at least 24 hours.",
)
REPLAYED = OpenApiParameter(
    REPLAY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    enum=["true"],
    description="Present when this answer replays an earlier request with the same key.",
    response=[200, 201],
)
NUMBER = OpenApiParameter(
    "number", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=f"^{ORDER_NUMBER}$"
)


def query_values(request: Request) -> dict[str, str]:
    """The query string as a plain dict, so an empty value (?status=) is validated as one
    instead of being taken for a missing parameter, as DRF does with form data."""
    return {name: request.query_params.get(name, "") for name in request.query_params}


class PartnerAPIView(generics.GenericAPIView):
    authentication_classes = [PartnerAPIKeyAuthentication]
    permission_classes = [HasPartnerAPIKey]
    throttle_classes = [PartnerRateThrottle]
    # Query parameters each method understands; anything else is refused, so a typo in a
    # filter (?stauts=...) is an error instead of a silently unfiltered list.
    query_parameters: dict[str, tuple[str, ...]] = {}

    @property
    def partner(self) -> Partner:
        return self.request.user.partner

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # Also here, not only in the parser: DRF takes a Content-Length too long for int()
        # for no body at all and never calls the parser.
        refuse_declared_too_large(request.META)
        allowed = self.query_parameters.get(request.method.lower(), ())
        unknown = sorted(set(request.query_params) - set(allowed))
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})


# --- products -----------------------------------------------------------------------------


@extend_schema(tags=["products"])
class ProductListView(PartnerAPIView, generics.ListAPIView):
    serializer_class = ProductSerializer
    pagination_class = ProductCursorPagination
    query_parameters = {"get": ("search", "cursor", "page_size")}

    def get_queryset(self) -> Any:
        params = ProductFilterSerializer(data=query_values(self.request))
        params.is_valid(raise_exception=True)
        return selectors.product_catalogue(search=params.validated_data.get("search", ""))

    @extend_schema(
        summary="List products for sale",
        parameters=[ProductFilterSerializer],
        responses={200: ProductSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


@extend_schema(tags=["products"])
class ProductDetailView(PartnerAPIView):
    serializer_class = ProductSerializer

    @extend_schema(
        summary="One product",
        parameters=[
            OpenApiParameter("sku", OpenApiTypes.STR, OpenApiParameter.PATH, pattern=f"^{SKU}$")
        ],
        responses={200: ProductSerializer, **errors(404)},
    )
    def get(self, request: Request, sku: str) -> Response:
        product = selectors.product_by_sku(sku.upper())
        if product is None:
            raise NotFound(f"There is no product {sku}.")
        return Response(ProductSerializer(product).data)


# --- shipping methods ---------------------------------------------------------------------


@extend_schema(tags=["shipping"])
class ShippingMethodListView(PartnerAPIView):
    serializer_class = ShippingMethodSerializer
    query_parameters = {"get": ("country", "postal_code")}

    @extend_schema(
        summary="List shipping methods and where they deliver",
        description="Cheapest first. With `country` (and `postal_code`), only the methods an "
        "order to that address may name in `shipping_method`: placing refuses the others.",
        parameters=[ShippingMethodFilterSerializer],
        responses={200: ShippingMethodSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        params = ShippingMethodFilterSerializer(data=query_values(request))
        params.is_valid(raise_exception=True)
        methods = selectors.shipping_methods_serving(
            country=params.validated_data.get("country", ""),
            postal_code=params.validated_data.get("postal_code", ""),
        )
        return Response(ShippingMethodSerializer(methods, many=True).data)


# --- orders -------------------------------------------------------------------------------


def request_fingerprint(request: Request) -> str:
    """What makes two requests "the same" for an Idempotency-Key: method, path and the JSON
    body (key order and whitespace do not matter)."""
    # null and "" both mean "none": a client may send back either for the same request.
    data = null_as_blank(request.data)
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


@extend_schema(tags=["orders"])
class OrderListCreateView(PartnerAPIView, generics.ListAPIView):
    serializer_class = OrderSerializer
    pagination_class = OrderCursorPagination
    query_parameters = {
        "get": (
            "status",
            "created_since",
            "updated_since",
            "external_reference",
            "cursor",
            "page_size",
        )
    }

    def get_queryset(self) -> Any:
        params = OrderFilterSerializer(data=query_values(self.request))
        params.is_valid(raise_exception=True)
        return selectors.partner_order_list(
            self.partner,
            statuses=params.validated_data.get("status"),
            created_since=params.validated_data.get("created_since"),
            updated_since=params.validated_data.get("updated_since"),
            external_reference=params.validated_data.get("external_reference"),
        )

    @extend_schema(
        summary="List your orders",
        description="Newest first, with cursor pagination (follow `next`).",
        parameters=[
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                many=True,
                explode=False,
                style="form",
                enum=OrderStatus.values,
                description="Only orders in these states (comma-separated).",
            ),
            OpenApiParameter(
                "created_since", OpenApiTypes.DATETIME, description="Placed at or after."
            ),
            OpenApiParameter(
                "updated_since", OpenApiTypes.DATETIME, description="Changed at or after."
            ),
            OpenApiParameter("external_reference", OpenApiTypes.STR, description="Your id."),
        ],
        responses={200: OrderSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Place an order",
        description="Prices, totals and status come from us: such keys in the body are "
        "ignored. The order is `received`; review follows and webhooks tell you the outcome.",
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        request=OrderCreateSerializer,
        responses={
            201: OpenApiResponse(OrderSerializer, description="Placed."),
            200: OpenApiResponse(
                OrderSerializer,
                description="The key placed an order more than 24 hours ago: that order.",
            ),
            **errors(400, 409, 415, 422),
        },
    )
    def post(self, request: Request) -> Response:
        key = services.validate_idempotency_key(request.headers.get("Idempotency-Key"))
        serializer = OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        partner = self.partner

        def render(order: Order) -> dict[str, Any]:
            loaded = selectors.partner_order(partner, order.number)
            return json.loads(JSONRenderer().render(OrderSerializer(loaded).data))

        result = services.partner_order_place(
            partner=partner,
            idempotency_key=key,
            request_hash=request_fingerprint(request),
            method=request.method,
            path=request.path,
            render=render,
            **serializer.to_service_kwargs(),
        )
        response = Response(result.body, status=result.status)
        if result.replayed:
            response[REPLAY_HEADER] = "true"
        if result.order_number:
            response["Location"] = reverse("api:order-detail", args=[result.order_number])
        return response


@extend_schema(tags=["orders"])
class OrderDetailView(PartnerAPIView):
    serializer_class = OrderSerializer

    @extend_schema(
        summary="One order",
        description="Lines, totals, status, payment, shipments with tracking, and the "
        "timeline the customer sees.",
        parameters=[NUMBER],
        responses={200: OrderSerializer, **errors(404)},
    )
    def get(self, request: Request, number: str) -> Response:
        order = selectors.partner_order(self.partner, number)
        if order is None:
            raise NotFound(f"There is no order {number}.")
        return Response(OrderSerializer(order).data)


@extend_schema(tags=["orders"])
class OrderCancelView(PartnerAPIView):
    serializer_class = OrderCancelSerializer

    @extend_schema(
        summary="Cancel an order",
        description="Possible until the order is packed. Cancelling a cancelled order "
        "changes nothing and answers 200.",
        parameters=[NUMBER],
        request=OrderCancelSerializer,
        responses={200: OrderSerializer, **errors(400, 404, 409, 415)},
    )
    def post(self, request: Request, number: str) -> Response:
        serializer = OrderCancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.partner_order_cancel(
            partner=self.partner, number=number, reason=serializer.validated_data["reason"]
        )
        return Response(OrderSerializer(selectors.partner_order(self.partner, number)).data)


@extend_schema(tags=["orders"])
class OrderShipmentsView(PartnerAPIView):
    serializer_class = ShipmentSerializer

    @extend_schema(
        summary="An order's shipments",
        parameters=[NUMBER],
        responses={200: ShipmentSerializer(many=True), **errors(404)},
    )
    def get(self, request: Request, number: str) -> Response:
        shipments = selectors.partner_order_shipments(self.partner, number)
        if shipments is None:
            raise NotFound(f"There is no order {number}.")
        return Response(ShipmentSerializer(shipments, many=True).data)


# --- webhook endpoints --------------------------------------------------------------------


@extend_schema(tags=["webhooks"])
class WebhookEndpointListCreateView(PartnerAPIView, generics.ListAPIView):
    serializer_class = WebhookEndpointSerializer
    pagination_class = WebhookEndpointPagination
    query_parameters = {"get": ("cursor", "page_size")}

    def get_queryset(self) -> Any:
        return selectors.partner_webhook_endpoints(self.partner)

    @extend_schema(
        summary="List your webhook endpoints",
        responses={200: WebhookEndpointSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Register a webhook endpoint",
        description="The answer carries the endpoint's signing secret, once.",
        request=WebhookEndpointInputSerializer,
        responses={201: WebhookEndpointCreatedSerializer, **errors(400, 415, 422)},
    )
    def post(self, request: Request) -> Response:
        serializer = WebhookEndpointInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_create(
            partner=self.partner, **serializer.validated_data
        )
        return Response(
            WebhookEndpointCreatedSerializer(endpoint).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("api:webhook-detail", args=[endpoint.pk])},
        )


@extend_schema(tags=["webhooks"])
class WebhookEndpointDetailView(PartnerAPIView):
    serializer_class = WebhookEndpointSerializer

    @extend_schema(
        summary="One webhook endpoint",
        responses={200: WebhookEndpointSerializer, **errors(404)},
    )
    def get(self, request: Request, endpoint_id: int) -> Response:
        endpoint = selectors.partner_webhook_endpoints(self.partner).filter(pk=endpoint_id).first()
        if endpoint is None:
            raise NotFound(f"There is no webhook endpoint {endpoint_id}.")
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(
        summary="Remove a webhook endpoint",
        description="Nothing more is sent to it, including deliveries still pending.",
        responses={204: OpenApiResponse(description="Removed."), **errors(404)},
    )
    def delete(self, request: Request, endpoint_id: int) -> Response:
        services.webhook_endpoint_disable(partner=self.partner, endpoint_id=endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)

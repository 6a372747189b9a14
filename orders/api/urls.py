"""/api/: version 1 of the partner API, its OpenAPI schema and readable docs. Anything else
under /api/ gets the API's own JSON 404."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from orders.api import views
from orders.api.exceptions import api_not_found

app_name = "api"

v1 = [
    path("products/", views.ProductListView.as_view(), name="product-list"),
    re_path(
        rf"^products/(?P<sku>{views.SKU})/$",
        views.ProductDetailView.as_view(),
        name="product-detail",
    ),
    path(
        "shipping-methods/",
        views.ShippingMethodListView.as_view(),
        name="shipping-method-list",
    ),
    path("orders/", views.OrderListCreateView.as_view(), name="order-list"),
    re_path(
        rf"^orders/(?P<number>{views.ORDER_NUMBER})/$",
        views.OrderDetailView.as_view(),
        name="order-detail",
    ),
    re_path(
        rf"^orders/(?P<number>{views.ORDER_NUMBER})/cancel/$",
        views.OrderCancelView.as_view(),
        name="order-cancel",
    ),
    re_path(
        rf"^orders/(?P<number>{views.ORDER_NUMBER})/shipments/$",
        views.OrderShipmentsView.as_view(),
        name="order-shipments",
    ),
    path("webhooks/", views.WebhookEndpointListCreateView.as_view(), name="webhook-list"),
    path(
        "webhooks/<int:endpoint_id>/",
        views.WebhookEndpointDetailView.as_view(),
        name="webhook-detail",
    ),
]

urlpatterns = [
    path("v1/", include(v1)),
    path(
        "schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="schema",
    ),
    path(
        "docs/",
        SpectacularRedocView.as_view(
            url_name="api:schema",
            template_name="api/redoc.html",  # no web fonts: works offline
            authentication_classes=[],
            permission_classes=[],
        ),
        name="docs",
    ),
    re_path(r"^(?P<path>[\s\S]*)$", api_not_found),
]

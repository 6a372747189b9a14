from django.contrib import admin
from django.urls import include, path

from config.health import healthz
from warehouse import views as warehouse_views

handler400 = "config.errors.bad_request"
handler500 = "config.errors.server_error"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/", include("orders.api.urls")),
    path("payments/", include("payments.urls")),
    path("warehouse/", include("warehouse.urls")),
    path("downloads/<str:token>/", warehouse_views.download, name="download"),
    path("", include("orders.urls")),
]

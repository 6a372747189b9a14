from django.urls import path

from warehouse import views

app_name = "warehouse"
urlpatterns = [
    path("webhooks/tracking/", views.tracking_webhook, name="tracking-webhook"),
]

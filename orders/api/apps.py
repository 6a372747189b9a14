from django.apps import AppConfig


class PartnerApiConfig(AppConfig):
    """The partner API: partners, their keys, idempotency records and webhooks. Part of the
    orders phase (receipt through the API channel), with its own tables."""

    name = "orders.api"
    label = "partner_api"
    verbose_name = "Partner API"

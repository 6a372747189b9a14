from django.apps import AppConfig


class PartnerApiConfig(AppConfig):
    """The partner API: partners, their keys, idempotency records and webhooks. Part of the
    orders phase (receipt through the API channel), with its own tables. Its staff
    permissions are in orders.permissions with every other group's."""

    name = "orders.api"
    label = "partner_api"
    verbose_name = "Partner API"

    def ready(self) -> None:
        from orders.api import schema  # noqa: F401 - registers the OpenAPI auth extension

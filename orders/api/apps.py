from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _grant_staff_permissions(sender: AppConfig, **kwargs: object) -> None:
    from orders.api.staff import grant_partner_api_permissions

    grant_partner_api_permissions()


class PartnerApiConfig(AppConfig):
    """The partner API: partners, their keys, idempotency records and webhooks. Part of the
    orders phase (receipt through the API channel), with its own tables."""

    name = "orders.api"
    label = "partner_api"
    verbose_name = "Partner API"

    def ready(self) -> None:
        from orders.api import schema  # noqa: F401 - registers the OpenAPI auth extension

        # After the orders app has set the staff groups (it runs first: INSTALLED_APPS order).
        post_migrate.connect(
            _grant_staff_permissions, sender=self, dispatch_uid="partner_api.grant_permissions"
        )

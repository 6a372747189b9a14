from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_migrate


def _ensure_groups(sender: AppConfig, **kwargs: object) -> None:
    from orders.permissions import ensure_staff_groups

    ensure_staff_groups()


class OrdersConfig(AppConfig):
    name = "orders"
    verbose_name = "Orders"

    def ready(self) -> None:
        # Infrastructure, not business flow: keep the staff groups in step with the code.
        post_migrate.connect(_ensure_groups, sender=self, dispatch_uid="orders.ensure_groups")
        from orders.countries import check_orders_to_unknown_countries, check_shipping_countries

        checks.register(check_shipping_countries)
        checks.register(check_orders_to_unknown_countries, checks.Tags.database)
        from config.checks import check_site_url

        checks.register(check_site_url, deploy=True)

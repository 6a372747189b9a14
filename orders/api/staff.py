"""What the staff groups may do with partners and webhooks. orders.permissions owns the
groups and only knows the lifecycle apps, so this app adds its own permissions to them after
every migrate: Managers get all of them; Customer service may look and resend webhooks."""

from django.contrib.auth.models import Group, Permission

from orders.permissions import CUSTOMER_SERVICE, MANAGERS

APP = "partner_api"
CUSTOMER_SERVICE_CODES = [
    "view_partner",
    "view_partnerapikey",
    "view_webhookendpoint",
    "view_webhookdelivery",
    "view_webhookattempt",
    "view_idempotencyrecord",
    "resend_webhookdelivery",
]


def grant_partner_api_permissions() -> None:
    ours = Permission.objects.filter(content_type__app_label=APP)
    grants = {
        MANAGERS: list(ours),
        CUSTOMER_SERVICE: list(ours.filter(codename__in=CUSTOMER_SERVICE_CODES)),
    }
    for name, permissions in grants.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions)

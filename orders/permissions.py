"""The staff groups and what each may do. `ensure_staff_groups` runs after every migrate, so
the groups exist on every install and follow this table when it changes."""

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission

CUSTOMER_SERVICE = "Customer service"
WAREHOUSE = "Warehouse"
FINANCE = "Finance"
MANAGERS = "Managers"

_VIEW_ORDERS = [
    "orders.view_order",
    "orders.view_orderline",
    "orders.view_orderevent",
    "orders.view_orderhold",
    "orders.view_customer",
    "orders.view_address",
    "orders.view_notification",
    "warehouse.view_product",
    "warehouse.view_warehouse",
    "warehouse.view_stockitem",
    "warehouse.view_shippingmethod",
    "payments.view_payment",
    "payments.view_paymentoperation",
    "payments.view_checkoutsession",
    "payments.view_refund",
    "payments.view_invoice",
    "payments.view_invoicepayment",
    "payments.view_creditaccount",
    "warehouse.view_shipment",
    "warehouse.view_shipmentline",
    "warehouse.view_trackingevent",
    "warehouse.view_picklist",
    "warehouse.view_fulfilmentorder",
    "warehouse.view_appointment",
    "warehouse.view_downloadgrant",
]

GROUP_PERMISSIONS: dict[str, list[str]] = {
    CUSTOMER_SERVICE: [
        *_VIEW_ORDERS,
        "orders.add_order",
        "orders.change_order",
        "orders.add_orderline",
        "orders.change_orderline",
        "orders.delete_orderline",
        "orders.add_customer",
        "orders.change_customer",
        "orders.add_address",
        "orders.change_address",
        "orders.place_order",
        "orders.hold_order",
        "orders.release_order",
        "orders.cancel_order",
        "orders.resend_notification",
        "warehouse.schedule_appointment",
        "warehouse.add_appointment",
        "warehouse.change_downloadgrant",
        "warehouse.resend_download_links",
        "partner_api.view_partner",
        "partner_api.view_partnerapikey",
        "partner_api.view_webhookendpoint",
        "partner_api.view_webhookdelivery",
        "partner_api.view_webhookattempt",
        "partner_api.view_idempotencyrecord",
        "partner_api.resend_webhookdelivery",
    ],
    # The warehouse sees orders and stock and can stop an order it finds a problem with, but
    # cannot release, cancel or refund.
    WAREHOUSE: [
        *_VIEW_ORDERS,
        "orders.hold_order",
        "orders.fulfil_order",
        "warehouse.change_stockitem",
        "warehouse.view_stockmovement",
        "warehouse.pick_picklist",
        "warehouse.ship_shipment",
        "warehouse.schedule_appointment",
        "warehouse.add_appointment",
        "warehouse.view_location",
        "warehouse.add_location",
        "warehouse.change_location",
        "warehouse.view_binstock",
        "warehouse.add_binstock",
        "warehouse.change_binstock",
        "warehouse.view_packagetype",
        "warehouse.view_digitalasset",
    ],
    FINANCE: [
        *_VIEW_ORDERS,
        "orders.hold_order",
        "orders.release_order",
        "orders.secure_payment_order",
        "orders.view_taxrate",
        "orders.change_taxrate",
        "payments.capture_payment",
        "payments.void_payment",
        "payments.refund_payment",
        "payments.record_invoice_payment",
        "payments.add_creditaccount",
        "payments.change_creditaccount",
        "payments.view_providerevent",
    ],
    MANAGERS: ["*"],  # every permission of our apps
}

OUR_APPS = ["orders", "partner_api", "payments", "warehouse", "returns", "feedback"]


def _permissions(codes: list[str]) -> list[Permission]:
    if codes == ["*"]:
        return list(Permission.objects.filter(content_type__app_label__in=OUR_APPS))
    wanted = [code.split(".", 1) for code in codes]
    found = Permission.objects.filter(
        content_type__app_label__in={app for app, _ in wanted},
        codename__in={codename for _, codename in wanted},
    ).select_related("content_type")
    return [p for p in found if [p.content_type.app_label, p.codename] in wanted]


def ensure_staff_groups() -> dict[str, Group]:
    # The permissions of apps migrated after this one may not exist yet on a fresh database.
    for label in OUR_APPS:
        create_permissions(apps.get_app_config(label), verbosity=0)
    groups = {}
    for name, codes in GROUP_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(_permissions(codes))
        groups[name] = group
    return groups

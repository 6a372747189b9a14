"""The data migration that gives every API order its partner (0008) from `source`."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("orders", "0007_outbox_sending_status"), ("partner_api", "0002_outbox_sending_status")]
AFTER = [("orders", "0008_order_partner")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_api_orders_get_their_partner_from_source():
    apps = _migrate(BEFORE)
    try:
        Customer = apps.get_model("orders", "Customer")
        Order = apps.get_model("orders", "Order")
        Partner = apps.get_model("partner_api", "Partner")
        billing = Customer.objects.create(email="acme@example.com", name="Acme")
        acme = Partner.objects.create(name="Acme", billing_customer=billing)
        mine = Order.objects.create(channel="api", source=f"partner:{acme.pk}", email="a@x.io")
        web = Order.objects.create(channel="web", source=f"partner:{acme.pk}", email="b@x.io")
        unknown = Order.objects.create(channel="api", source="partner:999999", email="c@x.io")

        apps = _migrate(AFTER)

        Order = apps.get_model("orders", "Order")
        partners = dict(Order.objects.values_list("pk", "partner_id"))
        assert partners[mine.pk] == acme.pk
        assert partners[web.pk] is None  # only orders placed through the API
        assert partners[unknown.pk] is None
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

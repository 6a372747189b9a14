"""Data migrations: every API order gets its partner (0008) from `source`; orders placed
signed in get their account (0012), and no other order does."""

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


@pytest.mark.django_db(transaction=True)
def test_orders_placed_signed_in_keep_their_account_and_no_other_order_gets_one():
    apps = _migrate([("orders", "0011_outbox_claims")])
    try:
        User = apps.get_model("auth", "User")
        Customer = apps.get_model("orders", "Customer")
        Order = apps.get_model("orders", "Order")
        OrderEvent = apps.get_model("orders", "OrderEvent")
        Partner = apps.get_model("partner_api", "Partner")
        ada = User.objects.create(username="ada@example.com", email="ada@example.com")
        clerk = User.objects.create(username="clerk", is_staff=True)
        customer = Customer.objects.create(email="ada@example.com", user=ada)
        acme = Partner.objects.create(
            name="Acme", billing_customer=Customer.objects.create(email="billing@acme.example")
        )

        def placed(actor=None, label="", **fields):
            order = Order.objects.create(customer=customer, email="ada@example.com", **fields)
            OrderEvent.objects.create(order=order, type="placed", actor=actor, actor_label=label)
            return order

        signed_in = placed(actor=ada, channel="web")
        guest = placed(label="customer", channel="web")
        by_phone = placed(actor=clerk, channel="phone")
        partners = placed(label="partner Acme", channel="api", partner=acme)

        apps = _migrate([("orders", "0012_order_account")])

        Order = apps.get_model("orders", "Order")
        accounts = dict(Order.objects.values_list("pk", "account_id"))
        assert accounts[signed_in.pk] == ada.pk
        assert accounts[guest.pk] is None  # claimed or a stranger's: unknowable, so not joined
        assert accounts[by_phone.pk] is None
        assert accounts[partners.pk] is None
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())

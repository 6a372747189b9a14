"""Orders join a shop account explicitly (Order.account), no longer through the customer
record their email names.

Existing orders: an order the shop placed while its customer was signed in has that user as
the actor of its "placed" timeline entry (checkout passes the signed-in user as the actor),
so it joins that user's account. Every other order starts outside any account: whether an
older one was claimed with the emailed link, or merely placed under the account's email by
someone else, was not recorded. The account holder sees "We have earlier orders for you" on
My orders and adds them with a new claim link, which proves the mailbox. Partner orders never
join an account."""

import django.db.models.deletion
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def link_orders_placed_signed_in(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    OrderEvent = apps.get_model("orders", "OrderEvent")
    placed_by = (
        OrderEvent.objects.filter(order=OuterRef("pk"), type="placed", actor__isnull=False)
        .order_by("pk")
        .values("actor")[:1]
    )
    Order.objects.filter(channel="web", partner__isnull=True, account__isnull=True).update(
        account=Subquery(placed_by)
    )


class Migration(migrations.Migration):

    dependencies = [
        ("orders", "0011_outbox_claims"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="account",
            field=models.ForeignKey(
                blank=True,
                help_text="The shop account it belongs to: placed signed in, or claimed with the "
                "link emailed to its address. Partner orders never belong to one.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="shop_orders",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(link_orders_placed_signed_in, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(
                django.db.models.functions.text.Upper("email"),
                condition=models.Q(("account__isnull", True)),
                name="order_unclaimed_by_email",
            ),
        ),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("account__isnull", True),
                    models.Q(
                        ("partner__isnull", True),
                        models.Q(("channel", "api"), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="order_partner_orders_join_no_account",
            ),
        ),
    ]

"""What the fault scenarios need in their database: a warehouse with plenty of stock, a
shipping method, a tax rate, and a partner with an API key.

Runs inside the stack's own Django (production settings), once, into the template database
every scenario's database is copied from:

    python manage.py shell -c "from tests.faults.seed import seed; seed()"

It writes one JSON line to stdout: {"api_key": ...}. The key is stored only as a hash, which
the copies share, so the same key works in each of them."""

import json
import sys
from decimal import Decimal

from django.db import transaction

from orders.api.services import partner_api_key_create, partner_create
from orders.models import TaxRate
from warehouse.models import Product, ShippingMethod, StockItem, Warehouse

SKUS = {"FAULT-MUG": Decimal("12.00"), "FAULT-TEE": Decimal("20.00")}
UNITS_ON_HAND = 100_000
PARTNER_NAME = "Faults Marketplace"


def seed() -> None:
    with transaction.atomic():
        warehouse = Warehouse.objects.create(
            code="ber", name="Berlin", country="DE", city="Berlin", priority=10
        )
        for sku, price in SKUS.items():
            product = Product.objects.create(
                sku=sku, name=f"Fault test {sku.lower()}", price=price, weight_grams=300
            )
            StockItem.objects.create(product=product, warehouse=warehouse, on_hand=UNITS_ON_HAND)
        ShippingMethod.objects.create(
            code="standard", name="Standard", carrier="dhl", price=Decimal("4.90"), handling_days=1
        )
        TaxRate.objects.create(country="DE", name="VAT", rate=Decimal("19.00"))
        partner = partner_create(name=PARTNER_NAME, billing_email="billing@faults.example")
        _, key = partner_api_key_create(partner=partner, name="fault tests")
    sys.stdout.write(json.dumps({"api_key": key}) + "\n")

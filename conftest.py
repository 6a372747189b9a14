"""Fixtures shared by every app's tests."""

from decimal import Decimal

import pytest
from django.core import signing
from django.db import connection

from orders import sms
from orders.broker import broker_reset
from orders.tests.factories import (
    ProductFactory,
    ShippingMethodFactory,
    StockItemFactory,
    TaxRateFactory,
    WarehouseFactory,
    staff_user,
)
from warehouse.models import BinStock, Location, PackageType, StockItem


@pytest.fixture(autouse=True)
def _clear_sms_outbox():
    sms.outbox.clear()
    yield
    sms.outbox.clear()


@pytest.fixture(autouse=True)
def _broker_not_remembered_down():
    """A test that makes a publish fail leaves the process skipping the broker for a few
    seconds (orders.broker); the next test starts with the broker tried again."""
    broker_reset()
    yield
    broker_reset()


@pytest.fixture
def postgres_only():
    """Row locks and concurrent transactions need PostgreSQL; SQLite serialises writers."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL); CI runs it")


@pytest.fixture
def catalogue(db):
    """Two warehouses, a few products with stock, shipping methods and tax rates."""
    berlin = WarehouseFactory(code="ber", name="Berlin", country="DE", priority=10)
    london = WarehouseFactory(code="lon", name="London", country="GB", priority=20)
    mug = ProductFactory(sku="MUG-001", name="Mug", price=Decimal("10.00"))
    tee = ProductFactory(sku="TEE-001", name="T-shirt", price=Decimal("20.00"))
    lamp = ProductFactory(sku="LAMP-001", name="Lamp", price=Decimal("90.00"))
    ebook = ProductFactory(sku="EBOOK-001", name="Ebook", kind="digital", price=Decimal("5.00"))
    StockItemFactory(product=mug, warehouse=berlin, on_hand=50)
    StockItemFactory(product=mug, warehouse=london, on_hand=10)
    StockItemFactory(product=tee, warehouse=berlin, on_hand=5)
    StockItemFactory(product=tee, warehouse=london, on_hand=20)
    StockItemFactory(product=lamp, warehouse=london, on_hand=3)
    standard = ShippingMethodFactory(code="standard", price=Decimal("5.00"), handling_days=1)
    express = ShippingMethodFactory(code="express", price=Decimal("15.00"), handling_days=1)
    TaxRateFactory(country="DE", rate=Decimal("19.00"))
    TaxRateFactory(country="GB", rate=Decimal("20.00"))
    return {
        "berlin": berlin,
        "london": london,
        "mug": mug,
        "tee": tee,
        "lamp": lamp,
        "ebook": ebook,
        "standard": standard,
        "express": express,
    }


# --- the warehouse: a picker, a box, and every stock item on a shelf ---


@pytest.fixture
def picker(db):
    return staff_user("Warehouse", "picker")


@pytest.fixture
def box(db):
    return PackageType.objects.create(
        name="Medium", length_mm=400, width_mm=300, height_mm=200, max_weight_grams=10000
    )


@pytest.fixture
def bins(catalogue):
    """Each stock item on one shelf; aisle B before A on the walk to test walk_order."""
    made = {}
    for index, item in enumerate(StockItem.objects.select_related("product", "warehouse")):
        location = Location.objects.create(
            warehouse=item.warehouse, aisle="A", rack=index + 1, shelf=1, walk_order=10 - index
        )
        BinStock.objects.create(location=location, product=item.product, quantity=item.on_hand)
        made[(item.product.sku, item.warehouse.code)] = location
    return made


@pytest.fixture
def signing_clock_held(monkeypatch):
    """A signed link carries the second it was signed in: hold that clock still, so a link
    signed again later in a test is the one signed earlier even when a second ticks over in
    between (placing an order takes a while with every lifecycle phase on)."""
    signed_at = signing.TimestampSigner().timestamp()
    monkeypatch.setattr(signing.TimestampSigner, "timestamp", lambda _signer: signed_at)

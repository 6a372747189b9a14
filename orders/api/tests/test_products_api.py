"""The catalogue for partners: SKU, name, price and what can be ordered now."""

import pytest

from warehouse.models import Product, StockItem

pytestmark = pytest.mark.django_db
PRODUCTS_URL = "/api/v1/products/"


def test_products_with_what_is_available(catalogue, acme):
    StockItem.objects.filter(product__sku="MUG-001", warehouse__code="ber").update(reserved=8)
    Product.objects.create(sku="OLD-1", name="Retired", price=1, is_active=False)

    response = acme.client.get(PRODUCTS_URL)

    assert response.status_code == 200
    products = {p["sku"]: p for p in response.json()["results"]}
    assert sorted(products) == ["EBOOK-001", "LAMP-001", "MUG-001", "TEE-001"]
    assert products["MUG-001"] == {
        "sku": "MUG-001",
        "name": "Mug",
        "description": None,
        "kind": "physical",
        "price": "10.00",
        "currency": "EUR",
        "available": 52,
        "in_stock": True,
    }
    assert (products["EBOOK-001"]["available"], products["EBOOK-001"]["in_stock"]) == (None, True)


def test_products_page_by_sku_and_search(catalogue, acme):
    page = acme.client.get(PRODUCTS_URL, {"page_size": 2}).json()
    assert [p["sku"] for p in page["results"]] == ["EBOOK-001", "LAMP-001"]
    assert [p["sku"] for p in acme.client.get(page["next"]).json()["results"]] == [
        "MUG-001",
        "TEE-001",
    ]
    found = acme.client.get(PRODUCTS_URL, {"search": "lamp"}).json()["results"]
    assert [p["sku"] for p in found] == ["LAMP-001"]


def test_one_product(catalogue, acme):
    response = acme.client.get(f"{PRODUCTS_URL}LAMP-001/")
    assert response.status_code == 200
    assert response.json()["available"] == 3
    assert acme.client.get(f"{PRODUCTS_URL}lamp-001/").json()["sku"] == "LAMP-001"
    missing = acme.client.get(f"{PRODUCTS_URL}NOPE-1/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_out_of_stock_products_say_so(catalogue, acme):
    StockItem.objects.filter(product__sku="LAMP-001").update(reserved=3)
    product = acme.client.get(f"{PRODUCTS_URL}LAMP-001/").json()
    assert (product["available"], product["in_stock"]) == (0, False)

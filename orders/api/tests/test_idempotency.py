"""Idempotency-Key on POST /orders/: replay, mismatch, errors not remembered, expiry."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from orders.api.models import IdempotencyRecord
from orders.api.tasks import purge_idempotency_records
from orders.api.tests.conftest import ORDERS_URL, order_body
from orders.models import Order, OrderStatus
from warehouse.models import StockItem

pytestmark = pytest.mark.django_db


def test_the_same_key_and_body_replays_the_first_answer(catalogue, acme):
    first = acme.post_order(key="po-1")
    # the order moves on meanwhile; the replay is still the first answer
    Order.objects.filter(number=first.json()["number"]).update(status=OrderStatus.CONFIRMED)

    again = acme.post_order(key="po-1")

    assert again.status_code == first.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"]
    assert Order.objects.count() == 1
    assert StockItem.objects.get(product__sku="MUG-001", warehouse__code="ber").reserved == 2


def test_key_order_and_spacing_of_the_body_do_not_matter(catalogue, acme):
    body = order_body()
    first = acme.post_order(body, key="po-2")
    reordered = dict(reversed(list(body.items())))
    again = acme.client.post(ORDERS_URL, reordered, format="json", HTTP_IDEMPOTENCY_KEY="po-2")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["number"] == first.json()["number"]


def test_the_same_key_with_another_body_gets_422(catalogue, acme):
    acme.post_order(key="po-3")

    response = acme.post_order(order_body(lines=[{"sku": "MUG-001", "quantity": 3}]), key="po-3")

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in error["fields"]
    assert Order.objects.count() == 1
    assert StockItem.objects.get(product__sku="MUG-001", warehouse__code="ber").reserved == 2


def test_keys_belong_to_one_partner(catalogue, acme, globex):
    a = acme.post_order(key="shared")
    b = globex.post_order(order_body(lines=[{"sku": "TEE-001", "quantity": 1}]), key="shared")
    assert (a.status_code, b.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in b
    assert Order.objects.count() == 2


@pytest.mark.parametrize("key", [None, "", "has space", "x" * 129, "tab\tkey"])
def test_a_missing_or_malformed_key_gets_400(catalogue, acme, key):
    extra = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    response = acme.client.post(ORDERS_URL, order_body(), format="json", **extra)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["fields"]
    assert Order.objects.count() == 0


def test_a_refused_request_does_not_use_up_its_key(catalogue, acme):
    # out of stock: nothing happened, so the corrected request may use the same key
    refused = acme.post_order(order_body(lines=[{"sku": "LAMP-001", "quantity": 9}]), key="po-4")
    assert refused.status_code == 409
    assert not IdempotencyRecord.objects.exists()

    placed = acme.post_order(order_body(lines=[{"sku": "LAMP-001", "quantity": 1}]), key="po-4")

    assert placed.status_code == 201
    assert "Idempotent-Replayed" not in placed


def test_records_are_kept_a_day_then_purged(catalogue, acme):
    acme.post_order(key="old")
    acme.post_order(order_body(external_reference="new"), key="new")
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=24, minutes=1)
    )
    IdempotencyRecord.objects.filter(key="new").update(
        created_at=timezone.now() - timedelta(hours=23, minutes=59)
    )

    assert purge_idempotency_records() == 1

    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]
    assert settings.CELERY_BEAT_SCHEDULE["partner-api-purge-idempotency-records"]["task"] == (
        "orders.api.tasks.purge_idempotency_records"
    )


def test_after_the_record_is_gone_the_key_still_finds_its_order(catalogue, acme):
    first = acme.post_order(key="po-5")
    IdempotencyRecord.objects.all().delete()

    again = acme.post_order(key="po-5")

    # the order service remembers the key for good: no second order, the first one back
    assert again.status_code == 200
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["number"] == first.json()["number"]
    assert Order.objects.count() == 1


def test_null_and_blank_are_the_same_request(catalogue, acme):
    first = acme.post_order(order_body(external_reference="", customer_note=""), key="po-null")
    again = acme.post_order(order_body(external_reference=None, customer_note=None), key="po-null")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["number"] == first.json()["number"]


def test_an_answer_stored_before_null_meant_no_value_is_replayed_with_null(catalogue, acme):
    # given: an answer stored as API 1.0.0 rendered it, with "" for "no value"
    first = acme.post_order(order_body(external_reference=""), key="po-old")
    record = IdempotencyRecord.objects.get(key="po-old")
    record.response_body = {**record.response_body, "external_reference": ""}
    record.save(update_fields=["response_body"])
    # when: the request is sent again, then: it says null, as answers do now
    again = acme.post_order(order_body(external_reference=""), key="po-old")
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["external_reference"] is None
    assert again.json()["number"] == first.json()["number"]

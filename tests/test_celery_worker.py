"""One test with a real Celery worker consuming from Redis: the confirmation email goes out
through the broker, not in-process."""

import os
import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.core import mail

from config.celery import app
from orders.models import Notification, NotificationStatus, Order, OrderStatus
from orders.tests.factories import place_order

REDIS_URL = os.environ.get("REDIS_URL", "")


@pytest.fixture
def redis_broker():
    if not REDIS_URL:
        pytest.skip("needs Redis (set REDIS_URL); CI runs it")
    previous = {
        key: app.conf[key]
        for key in ("broker_url", "task_always_eager", "result_backend", "task_default_queue")
    }
    queue = f"test-{os.getpid()}"
    app.conf.update(
        broker_url=REDIS_URL,
        task_always_eager=False,
        result_backend=None,
        task_default_queue=queue,
    )
    _forget_connections()
    yield queue
    app.conf.update(previous)
    _forget_connections()


def _forget_connections() -> None:
    # The app caches its broker connection and producer pools; drop them so the next
    # publish connects to the broker now configured.
    app._pool = None
    app.amqp._producer_pool = None


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_sends_the_confirmation_through_redis(catalogue, redis_broker):
    with start_worker(
        app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        queues=[redis_broker],
        shutdown_timeout=10,
    ):
        order = place_order([("MUG-001", 1)], email="worker@example.com").order
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            sent = Notification.objects.filter(
                order=order, kind="order_confirmation", status=NotificationStatus.SENT
            ).exists()
            if sent:
                break
            time.sleep(0.2)
    assert sent, "the worker did not send the confirmation within 30 s"
    # review, then capture: the worker ran every step the broker carried
    assert Order.objects.get(pk=order.pk).status in (OrderStatus.CONFIRMED, OrderStatus.READY)
    confirmations = [m for m in mail.outbox if m.subject.endswith("is confirmed")]
    assert [m.to for m in confirmations] == [["worker@example.com"]]

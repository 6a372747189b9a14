"""What the site does when what it depends on is down, in one process (the real processes,
a Redis of their own stopped and started, a killed worker and a terminated database
connection are in tests/faults/).

- Redis (the cache that counts rate limits) unreachable: orders are still taken; scopes that
  guard against guessing (logging in) refuse with 503 rather than go uncounted.
- The database unreachable: 503 with Retry-After, in the API's error shape under /api/.
- A task whose database connection failed is retried, and sends its email once."""

import socket
import threading
import time
from unittest import mock

import pytest
from django.core import mail
from django.db import InterfaceError, OperationalError
from django.test import Client
from django.urls import reverse

from config.celery import app as celery_app
from orders import tasks as order_tasks
from orders.api import tasks as api_tasks
from orders.api.tests.conftest import make_partner, order_body
from orders.broker import DATABASE_ERRORS, broker_reset, enqueue
from orders.models import Notification, NotificationStatus, Order
from orders.tests.factories import UserFactory, checkout_form, place_order
from payments import tasks as payment_tasks

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def redis_down(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": UNREACHABLE_REDIS,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
        }
    }


def _checkout(client: Client, capture) -> object:
    data = checkout_form(client, email="outage@example.com")
    with capture(execute=True):
        return client.post(reverse("orders:checkout"), data)


# --- Redis down ---------------------------------------------------------------------------


def test_with_redis_down_a_checkout_is_still_placed(
    client, catalogue, redis_down, django_capture_on_commit_callbacks
):
    response = _checkout(client, django_capture_on_commit_callbacks)

    assert response.status_code == 302, response.content[:500]
    order = Order.objects.get()
    assert response["Location"] == reverse("orders:order-received", args=[order.number])


def test_with_redis_down_the_checkout_summary_still_answers(client, catalogue, redis_down):
    # checkout_form asks for the summary, as the page's script does
    data = checkout_form(client, email="outage@example.com")

    response = client.post(reverse("orders:checkout-summary"), data)

    assert response.status_code == 200
    assert data["shown_total"]  # the summary had a total for the page to post


def test_with_redis_down_a_partner_still_places_orders_and_reads_products(catalogue, redis_down):
    acme = make_partner("Acme Marketplace", billing_email="billing@acme.example")

    placed = acme.post_order(order_body(), key="outage-1")
    products = acme.client.get("/api/v1/products/")

    assert placed.status_code == 201, placed.json()
    assert products.status_code == 200


def test_with_redis_down_logging_in_is_refused_for_a_minute_not_let_through(client, redis_down):
    UserFactory(username="ada@example.com", email="ada@example.com")

    response = client.post(
        reverse("orders:login"), {"username": "ada@example.com", "password": "wrong"}
    )

    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert "try again in about a minute" in response.content.decode()


def test_with_redis_down_the_limits_that_fail_closed_are_a_setting(client, redis_down, settings):
    settings.RATE_LIMITS_FAIL_CLOSED = frozenset()
    UserFactory(username="ada@example.com", email="ada@example.com")

    response = client.post(
        reverse("orders:login"), {"username": "ada@example.com", "password": "wrong"}
    )

    assert response.status_code == 200  # the form again, with its error: not counted, not refused
    assert "That email and password do not match an account." in response.content.decode()


# --- the database down --------------------------------------------------------------------


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_database_outage_on_a_page_is_a_503_page(catalogue, error):
    client = Client(raise_request_exception=False)
    with mock.patch(
        "orders.shop.catalogue.selectors.product_list", side_effect=error("connection lost")
    ):
        response = client.get(reverse("orders:product-list"))

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "Back in a moment" in response.content.decode()


def test_a_database_outage_in_the_api_is_a_503_in_its_error_shape(catalogue):
    acme = make_partner("Acme Marketplace", billing_email="billing@acme.example")
    with mock.patch(
        "orders.api.views.services.partner_order_place",
        side_effect=OperationalError("terminating connection due to administrator command"),
    ):
        response = acme.post_order(order_body(), key="blip-1")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "unavailable"
    assert not Order.objects.exists()


def test_any_other_fault_is_still_a_500(catalogue):
    client = Client(raise_request_exception=False)
    with mock.patch(
        "orders.shop.catalogue.selectors.product_list", side_effect=RuntimeError("a bug")
    ):
        response = client.get(reverse("orders:product-list"))
    acme = make_partner("Acme Marketplace", billing_email="billing@acme.example")
    with mock.patch(
        "orders.api.views.services.partner_order_place", side_effect=RuntimeError("a bug")
    ):
        api_response = acme.post_order(order_body(), key="bug-1")

    assert response.status_code == 500
    assert "Something went wrong on our side" in response.content.decode()
    assert api_response.status_code == 500
    assert api_response.json()["error"]["code"] == "server_error"


# --- tasks ------------------------------------------------------------------------------------


STATE_TASKS = [
    order_tasks.send_notification,
    order_tasks.relay_outbox,
    order_tasks.review_order,
    order_tasks.review_stalled_orders,
    order_tasks.complete_delivered_orders,
    payment_tasks.secure_order_payment,
    payment_tasks.reconcile_payments,
    payment_tasks.flag_overdue_invoices,
    api_tasks.deliver_webhook,
]


@pytest.mark.parametrize("task", STATE_TASKS, ids=lambda task: task.name)
def test_every_task_that_changes_state_survives_a_lost_worker_and_a_database_blip(task):
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert set(DATABASE_ERRORS) <= set(task.autoretry_for)
    assert task.max_retries and task.retry_backoff


def test_a_notification_whose_database_blipped_is_retried_and_sent_once(catalogue, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    order = place_order([("MUG-001", 1)], email="blip@example.com").order
    notification = Notification.objects.create(
        order=order, kind="order_shipped", recipient="blip@example.com"
    )
    real = order_tasks.notification_send
    calls = []

    def flaky(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    mail.outbox.clear()
    with mock.patch.object(order_tasks, "notification_send", side_effect=flaky):
        order_tasks.send_notification.apply(args=[notification.pk])

    assert len(calls) == 2
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT
    assert [m.to for m in mail.outbox] == [["blip@example.com"]]


def test_the_sweeps_find_lost_work_within_a_minute(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE
    for name in ("orders-relay-outbox", "orders-review-stalled", "payments-reconcile"):
        assert schedule[name]["schedule"].total_seconds() <= 15, name
    longest_wait = max(
        settings.ORDER_REVIEW_STALL_AFTER,
        settings.OUTBOX_RELAY_AFTER,
        settings.PAYMENT_RECONCILE_AFTER,
    )
    assert longest_wait.total_seconds() + 15 <= 75


@pytest.mark.parametrize("template", ["payment_receipt", "invoice_issued"])
def test_mail_sent_before_the_order_is_released_claims_nothing_about_the_warehouse(template):
    # The receipt and the invoice go out in the capture's (or invoice's) own transaction; the
    # release to the warehouse commits after it, or not at all if securing fails.
    from django.template.loader import get_template

    for suffix in ("txt", "html"):
        source = get_template(f"emails/{template}.{suffix}").template.source
        assert "warehouse" not in source


# --- the broker down ----------------------------------------------------------------------


@pytest.fixture
def silent_redis():
    """A port that accepts connections and never answers: a stopped or stalled Redis."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def _broker(url: str):
    previous = {key: celery_app.conf[key] for key in ("broker_url", "task_always_eager")}
    celery_app.conf.update(broker_url=url, task_always_eager=False)
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    return previous


def _restore(previous) -> None:
    broker_reset()
    celery_app.conf.update(previous)
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.mark.parametrize("broker", ["refusing", "silent"])
def test_a_broker_that_is_down_or_never_answers_does_not_hold_the_request(
    broker, silent_redis, client, catalogue, django_capture_on_commit_callbacks
):
    url = UNREACHABLE_REDIS if broker == "refusing" else silent_redis
    previous = _broker(url)
    try:
        started = time.monotonic()
        handed_over = enqueue(order_tasks.review_order, 1, later_by="the review sweep")
        elapsed = time.monotonic() - started
        started = time.monotonic()
        response = _checkout(client, django_capture_on_commit_callbacks)
        checkout_took = time.monotonic() - started
    finally:
        _restore(previous)

    assert handed_over is False
    assert elapsed < 10, f"the publish waited {elapsed:.1f} s"
    # the publishes right after a failed one do not wait for the broker again
    assert checkout_took < 3, f"the checkout took {checkout_took:.1f} s"
    assert response.status_code == 302
    order = Order.objects.get()
    assert order.status == "received"  # the review sweep takes it from here

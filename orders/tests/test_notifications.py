"""The outbox: confirmation emails are written with the state change, sent after the commit,
sent once however often the task runs, and relayed when the broker was down."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from orders import services, sms, tasks
from orders.broker import broker_reset
from orders.models import EventType, Notification, NotificationStatus, Order, OrderStatus
from orders.notifications import notification_resend, notification_send
from orders.outbox import retry_delay
from orders.permissions import CUSTOMER_SERVICE
from orders.tests.factories import payment_securing_deferred, place_order, staff_user

pytestmark = pytest.mark.django_db


def _confirmation(order: Order) -> Notification:
    return Notification.objects.get(order=order, kind="order_confirmation", channel="email")


def test_confirmation_is_enqueued_only_after_commit(catalogue, django_capture_on_commit_callbacks):
    # given a placed order (its review is a callback we hold back)
    order = place_order().order
    # when the review commits, with its after-commit callbacks captured, not run
    with mock.patch.object(tasks.send_notification, "delay") as delay:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.order_review(order_id=order.pk)
        # then the row is written but nothing was enqueued inside the transaction
        notification = _confirmation(order)
        assert notification.status == NotificationStatus.PENDING
        delay.assert_not_called()
        # and running the commit callbacks enqueues exactly this row
        for callback in callbacks:
            callback()
        delay.assert_called_once_with(notification.pk)


def test_the_whole_flow_sends_one_confirmation(catalogue, django_capture_on_commit_callbacks):
    with payment_securing_deferred(), django_capture_on_commit_callbacks(execute=True):
        order = place_order([("MUG-001", 2)], email="ada@example.com").order
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.CONFIRMED
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert message.subject == f"Your order {order.number} is confirmed"
    assert "2 x Mug (MUG-001)" in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert order.number in html and "MUG-001" in html
    assert message.extra_headers["Message-ID"].startswith("<notification-")
    notification = _confirmation(order)
    assert notification.status == NotificationStatus.SENT
    assert notification.attempts == 1
    assert notification.body_text == message.body
    assert order.events.filter(type=EventType.NOTIFICATION_SENT).count() == 1


def test_running_the_send_task_twice_sends_once(catalogue, django_capture_on_commit_callbacks):
    not_enqueued = mock.patch.object(tasks.send_notification, "delay")
    with not_enqueued, django_capture_on_commit_callbacks(execute=True):
        order = services.order_review(order_id=place_order().order.pk)
    notification = _confirmation(order)
    assert tasks.send_notification.apply(args=[notification.pk]).get() == "sent"
    assert tasks.send_notification.apply(args=[notification.pk]).get() == "sent"
    assert len(mail.outbox) == 1


def test_a_broker_outage_delays_the_mail_and_the_relay_sends_it(
    catalogue, django_capture_on_commit_callbacks
):
    # given the broker refuses every publish
    broker_down = mock.patch.object(
        tasks.send_notification, "delay", side_effect=ConnectionError("broker unreachable")
    )
    with broker_down, django_capture_on_commit_callbacks(execute=True):
        order = services.order_review(order_id=place_order().order.pk)
    # then the order is confirmed, nothing was sent, and nothing was lost
    assert order.status == OrderStatus.CONFIRMED
    assert len(mail.outbox) == 0
    notification = _confirmation(order)
    assert notification.status == NotificationStatus.PENDING
    # when the relay runs before the row is due, it leaves it alone
    assert tasks.relay_outbox.apply().get() == 0
    # and when it runs after the relay delay (this process tries the broker again), it sends it
    Notification.objects.filter(pk=notification.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    broker_reset()
    assert tasks.relay_outbox.apply().get() == 1
    assert len(mail.outbox) == 1
    assert _confirmation(order).status == NotificationStatus.SENT
    # and a later relay finds nothing more to do
    assert tasks.relay_outbox.apply().get() == 0


def test_a_failing_mail_server_is_retried_with_backoff_then_marked_failed(catalogue, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    with mock.patch.object(tasks.send_notification, "delay"):
        order = services.order_review(order_id=place_order().order.pk)
    notification = _confirmation(order)
    with mock.patch(
        "django.core.mail.backends.locmem.EmailBackend.send_messages",
        side_effect=OSError("SMTP down"),
    ):
        assert notification_send(notification_id=notification.pk) == "pending"
        notification.refresh_from_db()
        assert notification.attempts == 1
        assert "SMTP down" in notification.last_error
        assert notification.next_attempt_at > timezone.now()
        assert notification_send(notification_id=notification.pk) == "pending"
        assert notification_send(notification_id=notification.pk) == "failed"
    assert order.events.filter(type=EventType.NOTIFICATION_FAILED).count() == 1
    # a failed row is not retried by itself...
    assert notification_send(notification_id=notification.pk) == "failed"
    assert len(mail.outbox) == 0
    # ...until staff resend it
    notification_resend(notification_id=notification.pk, actor=staff_user(CUSTOMER_SERVICE))
    assert notification_send(notification_id=notification.pk) == "sent"
    assert len(mail.outbox) == 1


def test_retry_delay_grows_and_is_capped():
    assert [retry_delay(n) for n in (1, 2, 3)] == [
        timedelta(minutes=1),
        timedelta(minutes=2),
        timedelta(minutes=4),
    ]
    assert retry_delay(30) == timedelta(hours=6)


def test_sms_goes_out_where_set_up(catalogue, settings, django_capture_on_commit_callbacks):
    settings.SMS_BACKEND = "locmem"
    with payment_securing_deferred(), django_capture_on_commit_callbacks(execute=True):
        order = place_order(phone="+4930123456").order
    assert [m.to for m in sms.outbox] == ["+4930123456"]
    assert order.number in sms.outbox[0].body
    assert Notification.objects.filter(order=order, channel="sms", status="sent").exists()


def test_no_sms_without_a_backend(catalogue, settings, django_capture_on_commit_callbacks):
    settings.SMS_BACKEND = ""
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(phone="+4930123456").order
    assert sms.outbox == []
    assert not Notification.objects.filter(order=order, channel="sms").exists()


def test_cancellation_email(catalogue, django_capture_on_commit_callbacks):
    with payment_securing_deferred(), django_capture_on_commit_callbacks(execute=True):
        order = place_order().order
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        services.order_cancel(order_id=order.pk, actor=None, reason="Out of season")
    assert len(mail.outbox) == 1
    assert "cancelled" in mail.outbox[0].subject
    assert "Out of season" in mail.outbox[0].body


def test_stalled_orders_are_reviewed_by_the_sweep(catalogue, settings):
    # given a review task that never ran (its enqueue failed)
    with mock.patch.object(tasks.review_order, "delay", side_effect=ConnectionError):
        order = place_order().order
    settings.ORDER_REVIEW_STALL_AFTER = timedelta(0)
    assert tasks.review_stalled_orders.apply().get() == 1
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CONFIRMED
    assert tasks.review_stalled_orders.apply().get() == 0


def test_old_sent_notifications_are_purged(catalogue, settings, django_capture_on_commit_callbacks):
    with payment_securing_deferred(), django_capture_on_commit_callbacks(execute=True):
        place_order()
    Notification.objects.update(sent_at=timezone.now() - timedelta(days=400))
    settings.OUTBOX_KEEP_SENT_DAYS = 365
    assert tasks.purge_old_notifications.apply().get() == 1

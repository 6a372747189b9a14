"""The outbox engine: a send happens after the commit, outside any transaction and with no
row lock held; a database blip while recording does not send twice; a row whose sender died
is not sent again to a person."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend
from django.db import OperationalError, connection, connections
from django.db.models import F
from django.utils import timezone

from orders import outbox, tasks
from orders.models import Notification, NotificationStatus, Order, OrderStatus
from orders.notifications import notification_resend, notification_send
from orders.tests.factories import place_order

PROBES: list[dict] = []


def _row_is_free(table: str, pk: int) -> bool:
    """From another connection: can this row be locked right now?"""
    verdict = {}

    def probe() -> None:
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("BEGIN")
                try:
                    cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE NOWAIT", [pk])  # noqa: S608
                    verdict["free"] = True
                except Exception:
                    verdict["free"] = False
                cursor.execute("ROLLBACK")
        finally:
            other.close()

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join(timeout=30)
    return verdict.get("free", False)


class LockProbeBackend(EmailBackend):
    """Delivers to mail.outbox, after noting whether it was called inside a transaction and
    whether the outbox row and its order could be locked by someone else at that moment."""

    def send_messages(self, messages):
        for message in messages:
            notification_id = int(message.extra_headers["X-Orderflow-Notification"])
            notification = Notification.objects.get(pk=notification_id)
            PROBES.append(
                {
                    "in_transaction": connection.in_atomic_block,
                    "row_free": _row_is_free(Notification._meta.db_table, notification_id),
                    "order_free": _row_is_free(Order._meta.db_table, notification.order_id),
                    "status": notification.status,
                }
            )
        return super().send_messages(messages)


@pytest.mark.django_db(transaction=True)
def test_mail_is_sent_after_the_commit_with_no_row_lock_held(postgres_only, catalogue, settings):
    # given a mail backend that looks at the database while it sends
    settings.EMAIL_BACKEND = "orders.tests.test_outbox.LockProbeBackend"
    PROBES.clear()
    # when an order is placed for real (committed; Celery runs eagerly)
    order = place_order().order
    # then its confirmation went out once, outside any transaction, with nothing locked
    assert Order.objects.get(pk=order.pk).status in (OrderStatus.CONFIRMED, OrderStatus.READY)
    confirmations = [m for m in mail.outbox if "is confirmed" in m.subject]
    assert len(confirmations) == 1
    assert PROBES, "the probe backend was not used"
    for probe in PROBES:
        assert probe == {
            "in_transaction": False,
            "row_free": True,
            "order_free": True,
            "status": NotificationStatus.SENDING,  # claimed and committed before the send
        }


@pytest.mark.django_db
def test_a_database_blip_while_recording_does_not_send_twice(catalogue):
    order = place_order().order
    notification = Notification.objects.create(
        order=order, kind="order_confirmation", recipient="ada@example.com"
    )
    real_record = outbox._record
    calls = []

    def blip_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return real_record(*args, **kwargs)

    with mock.patch.object(outbox, "_record", side_effect=blip_once), mock.patch("time.sleep"):
        assert notification_send(notification_id=notification.pk) == "sent"
    # the send happened once; recording was tried again, not the send
    assert len(calls) == 2
    assert len(mail.outbox) == 1
    # and running the task again sends nothing more
    assert notification_send(notification_id=notification.pk) == "sent"
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_an_email_whose_sender_died_mid_send_is_not_sent_again(catalogue):
    # given a row a worker claimed (status sending) and never recorded: it died mid-send
    order = place_order().order
    notification = Notification.objects.create(
        order=order,
        kind="order_confirmation",
        recipient="ada@example.com",
        status=NotificationStatus.SENDING,
        attempts=1,
        next_attempt_at=timezone.now() + timedelta(minutes=5),
    )
    # while its lease runs, the relay and the task leave it alone
    assert tasks.relay_outbox() == 0
    assert notification_send(notification_id=notification.pk) == NotificationStatus.SENDING
    # once the lease is over, the relay does not send it again: a person might get it twice
    Notification.objects.filter(pk=notification.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    assert tasks.relay_outbox() == 0
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED
    assert notification.last_error.startswith("Outcome unknown")
    assert len(mail.outbox) == 0
    assert order.events.filter(type="notification_failed").count() == 1


def test_the_retry_schedule_doubles_and_is_capped():
    first, cap = timedelta(minutes=5), timedelta(hours=4)
    assert [outbox.backoff(n, first=first, cap=cap) for n in (1, 2, 3, 4)] == [
        timedelta(minutes=5),
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(minutes=40),
    ]
    assert outbox.backoff(20, first=first, cap=cap) == cap


@pytest.mark.django_db
def test_a_row_being_sent_cannot_be_resent(catalogue):
    order = place_order().order
    notification = Notification.objects.create(
        order=order,
        kind="order_confirmation",
        recipient="ada@example.com",
        status=NotificationStatus.SENDING,
        attempts=1,
    )
    with pytest.raises(outbox.OutboxRowBusy):
        notification_resend(notification_id=notification.pk, actor="support")
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (NotificationStatus.SENDING, 1)
    assert len(mail.outbox) == 0


def _while_sending(change):
    """A mail backend patch that changes the row while the mail is on its way."""
    real_send = EmailBackend.send_messages

    def send(self, messages):
        for message in messages:
            change(int(message.extra_headers["X-Orderflow-Notification"]))
        return real_send(self, messages)

    return mock.patch.object(EmailBackend, "send_messages", send)


@pytest.mark.django_db
def test_a_worker_that_lost_its_claim_records_nothing(catalogue, settings):
    # given a send that takes longer than its lease: another worker claimed the row after it
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    order = place_order().order
    notification = Notification.objects.create(
        order=order, kind="order_confirmation", recipient="ada@example.com"
    )

    def reclaimed(notification_id):
        Notification.objects.filter(pk=notification_id).update(attempts=2, claims=2)

    with _while_sending(reclaimed):
        notification_send(notification_id=notification.pk)
    # then the first worker's outcome is not written over the second worker's claim
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (NotificationStatus.SENDING, 2)
    assert not order.events.filter(type="notification_sent").exists()


@pytest.mark.django_db
def test_a_mail_that_arrives_after_the_relay_gave_up_on_it_counts_as_sent(catalogue):
    order = place_order().order
    notification = Notification.objects.create(
        order=order, kind="order_confirmation", recipient="ada@example.com"
    )

    def given_up(notification_id):
        Notification.objects.filter(pk=notification_id).update(
            status=NotificationStatus.FAILED, last_error=outbox.UNKNOWN_OUTCOME
        )

    with _while_sending(given_up):
        assert notification_send(notification_id=notification.pk) == NotificationStatus.SENT
    notification.refresh_from_db()
    assert notification.last_error == ""
    assert len(mail.outbox) == 1
    assert order.events.filter(type="notification_sent").count() == 1


@pytest.mark.django_db
def test_a_late_outcome_never_lands_on_a_claim_made_after_a_staff_resend(catalogue):
    # given worker A's claim given up as "outcome unknown", resent by staff, and claimed by
    # worker B as its first attempt again
    order = place_order().order
    notification = Notification.objects.create(
        order=order, kind="order_confirmation", recipient="ada@example.com"
    )

    def given_up_resent_and_claimed_again(notification_id):
        Notification.objects.filter(pk=notification_id).update(
            status=NotificationStatus.FAILED, last_error=outbox.UNKNOWN_OUTCOME
        )
        notification_resend(notification_id=notification_id, actor="support")
        Notification.objects.filter(pk=notification_id).update(
            status=NotificationStatus.SENDING, attempts=1, claims=F("claims") + 1
        )

    def send_that_fails_late(row, *args):
        given_up_resent_and_claimed_again(row.pk)
        raise OSError("late")

    # when A's send finally fails
    with mock.patch("orders.notifications._deliver", side_effect=send_that_fails_late):
        notification_send(notification_id=notification.pk)

    # then B's claim stands: the row is still being sent, not back in the queue
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == (NotificationStatus.SENDING, 1)
    assert order.events.filter(type="note", message__contains="queued to resend").count() == 1

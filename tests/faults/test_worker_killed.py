"""A Celery worker is killed (-9, the whole process group: no warm shutdown, no requeue)
while orders are being reviewed, paid and emailed. A fresh worker takes over: every order
reaches `ready` and every email arrives exactly once, within 90 s of the worker being back."""

import time
from collections import Counter

import pytest

from tests.faults.checks import (
    all_mail_out,
    in_parallel,
    mail_problems,
    order_statuses,
    outbox_rows,
    placed_numbers,
    progress,
    seconds,
)
from tests.faults.clients import PartnerClient, unique
from tests.faults.stack import wait_for

pytestmark = pytest.mark.faults

ORDERS = 20
KILL_AFTER_REVIEWED = 6  # orders past review when the worker dies: it is mid-stream
DEAD_FOR = 3  # seconds without any worker
RECOVERY_LIMIT = 90  # seconds from the new worker starting to the last order ready


def test_a_worker_killed_mid_task_loses_nothing_and_sends_nothing_twice(stack, smtp_sink, figures):
    # given: a worker busy with a burst of orders
    stack.start_web()
    worker = stack.start_worker()
    stack.start_beat()
    partner = PartnerClient(stack.base_url, stack.api_key)
    answers = in_parallel(
        ORDERS,
        4,
        lambda i: partner.place_order(f"{unique('kill')}@example.com", reference=unique("kill")),
    )
    assert [a.status for a in answers] == [201] * ORDERS, [a.body for a in answers]
    numbers = placed_numbers(answers)

    # when: it is killed mid-stream. The kill must not land between an email's claim and
    # its arrival at the mail server: the outbox never sends such an email again (at most
    # once), so it would wait for staff. So no new claim may commit (the outbox table is
    # locked), the mail server keeps each sender waiting for its answer once it has the
    # message, and the kill comes when every email being sent has arrived. What the worker
    # was doing otherwise (reviews, payments, the emails' rows) dies with it.
    wait_for(
        f"{KILL_AFTER_REVIEWED} orders past review",
        lambda: _past_review(stack.database) >= KILL_AFTER_REVIEWED,
        timeout=30,
        interval=0.02,
    )
    smtp_sink.hold()
    with stack.database.locked("orders_notification"):
        wait_for(
            "every email being sent at the mail server",
            lambda: _in_flight(stack.database) <= set(smtp_sink.per_notification()),
            timeout=10,
            interval=0.02,
        )
        worker.kill()
        at_kill = Counter(order_statuses(stack.database).values())
        cut_off = {int(row_id) for row_id in _in_flight(stack.database)}
        smtp_sink.release()
    arrived = sum(1 for row_id in cut_off if smtp_sink.per_notification()[str(row_id)])
    figures.record(
        f"worker killed with orders {dict(sorted(at_kill.items()))}, "
        f"{len(cut_off)} email(s) mid-send ({arrived} of them at the mail server)"
    )
    time.sleep(DEAD_FOR)
    assert not all(status == "ready" for status in order_statuses(stack.database).values())

    # then: a fresh worker finishes every order, and no email goes out twice
    back_at = time.monotonic()
    stack.start_worker(wait=False)
    wait_for(
        "every order ready with its emails out",
        lambda: all_mail_out(stack.database, smtp_sink, numbers, cut_off=cut_off),
        timeout=RECOVERY_LIMIT,
        state=lambda: progress(stack.database, smtp_sink),
    )
    figures.record(
        f"new worker: all {ORDERS} orders ready, their emails out, "
        f"{seconds(back_at):.1f} s after it was started"
    )
    assert set(order_statuses(stack.database).values()) == {"ready"}
    assert mail_problems(stack.database, smtp_sink, numbers, cut_off=cut_off) == []


def _in_flight(database) -> set[str]:
    return {str(row.id) for row in outbox_rows(database) if row.status == "sending"}


def _past_review(database) -> int:
    return sum(status != "received" for status in order_statuses(database).values())

"""Two gunicorn workers, two Celery workers and beat on one database take 200 partner orders
from 8 clients at once: every confirmation email and every webhook arrives exactly once."""

import time
from collections import Counter

import pytest

from tests.faults.checks import (
    all_mail_out,
    in_parallel,
    mail_problems,
    placed_numbers,
    progress,
    seconds,
    webhook_problems,
)
from tests.faults.clients import PartnerClient, unique
from tests.faults.stack import wait_for

pytestmark = pytest.mark.faults

ORDERS = 200
CLIENTS = 8
EVENTS = ["order.created", "order.confirmed", "payment.captured"]
DRAIN_LIMIT = 120


def test_two_of_everything_deliver_each_email_and_webhook_once(
    stack, smtp_sink, webhook_sink, figures
):
    # given
    stack.start_web(workers=2)
    stack.start_worker()
    stack.start_worker()
    stack.start_beat()
    partner = PartnerClient(stack.base_url, stack.api_key)
    registered = partner.register_webhook(webhook_sink.url, EVENTS)
    assert registered.status == 201, registered.body

    # when
    started = time.monotonic()
    answers = in_parallel(
        ORDERS,
        CLIENTS,
        lambda i: partner.place_order(f"{unique('pair')}@example.com", reference=unique("pair")),
    )
    took = seconds(started)

    # then
    assert Counter(a.status for a in answers) == {201: ORDERS}, [
        a.body for a in answers if a.status != 201
    ]
    numbers = placed_numbers(answers)

    def all_out() -> bool:
        enough_hooks = len(webhook_sink.hooks) >= ORDERS * len(EVENTS)
        return enough_hooks and all_mail_out(stack.database, smtp_sink, numbers)

    wait_for(
        "every order ready, its emails and webhooks out",
        all_out,
        timeout=DRAIN_LIMIT,
        state=lambda: f"{progress(stack.database, smtp_sink)}, {len(webhook_sink.hooks)} webhooks",
    )
    figures.record(
        f"{ORDERS} orders from {CLIENTS} clients in {took:.1f} s ({ORDERS / took:.1f} orders/s); "
        f"all ready with {len(smtp_sink.mails)} emails and {len(webhook_sink.hooks)} webhooks "
        f"out {seconds(started) - took:.1f} s after the last order"
    )
    assert mail_problems(stack.database, smtp_sink, numbers) == []
    assert webhook_problems(stack.database, webhook_sink, set(EVENTS)) == []

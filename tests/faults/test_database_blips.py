"""Every connection to the database is cut (pg_terminate_backend), again and again, during a
burst of partner orders: what fails answers a clear 503 (never a 500), no order is left half
written, no email goes out twice, and the same processes carry on once the cuts stop."""

import threading
import time
from collections import Counter

import pytest

from tests.faults.checks import (
    all_mail_out,
    in_parallel,
    mail_problems,
    partial_orders,
    placed_numbers,
    progress,
    seconds,
)
from tests.faults.clients import PartnerClient, health, unique
from tests.faults.stack import wait_for

pytestmark = pytest.mark.faults

ORDERS = 40
CLIENTS = 4
CUT_EVERY = 0.5  # seconds between two rounds of pg_terminate_backend
DRAIN_LIMIT = 120  # a card authorisation cut off is retried by reconcile after 60 s + a sweep


def test_connections_cut_during_a_burst_give_503s_and_leave_no_half_orders(
    stack, smtp_sink, figures
):
    # given
    stack.start_web()
    stack.start_worker()
    stack.start_beat()
    partner = PartnerClient(stack.base_url, stack.api_key)
    emails = [f"{unique('blip')}@example.com" for _ in range(ORDERS)]
    keys = [unique("blip") for _ in range(ORDERS)]

    def place(i: int):
        return partner.place_order(emails[i], reference=keys[i])

    # when: a burst of orders while every connection is cut twice a second
    cuts: list[int] = []
    stop = threading.Event()

    def cut_connections() -> None:
        while not stop.is_set():
            cuts.append(stack.database.terminate_connections())
            stop.wait(CUT_EVERY)

    cutter = threading.Thread(target=cut_connections)
    cutter.start()
    try:
        first = in_parallel(ORDERS, CLIENTS, place)
    finally:
        stop.set()
        cutter.join()
    burst_over = time.monotonic()

    # then: what failed said so clearly, and nothing is half written
    answered = Counter(answer.status for answer in first)
    figures.record(
        f"{len(cuts)} rounds cut {sum(cuts)} connections during {ORDERS} orders: "
        f"answers {dict(sorted(answered.items()))}"
    )
    assert sum(cuts) > 0, "no connection was cut: the test proved nothing"
    assert set(answered) <= {201, 503}, [(a.status, a.body) for a in first if a.status != 201]
    for answer in first:
        if answer.status == 503:
            assert answer.headers.get("Retry-After") == "5", answer.headers
            assert answer.body["error"]["code"] == "unavailable", answer.body
    assert partial_orders(stack.database) == []
    assert [s.name for s in stack.services if not s.running] == []

    # when: the partner sends what failed again, with the same Idempotency-Key
    again = {i: place(i) for i, answer in enumerate(first) if answer.status != 201}

    # then: the same processes take them; one order per key
    assert {i: a.status for i, a in again.items()} == dict.fromkeys(again, 201)
    per_key = Counter(
        key for (key,) in stack.database.rows("SELECT idempotency_key FROM orders_order")
    )
    assert per_key == Counter(keys)
    numbers = placed_numbers([again.get(i, answer) for i, answer in enumerate(first)])
    wait_for(
        "every order ready with its emails out",
        lambda: all_mail_out(stack.database, smtp_sink, numbers),
        timeout=DRAIN_LIMIT,
        state=lambda: progress(stack.database, smtp_sink),
    )
    figures.record(
        f"{len(again)} refused orders placed on retry; every order ready, its emails out, "
        f"{seconds(burst_over):.1f} s after the cuts stopped; no process restarted"
    )
    assert partial_orders(stack.database) == []
    assert mail_problems(stack.database, smtp_sink, numbers) == []
    assert [s.name for s in stack.services if not s.running] == []
    assert health(stack.base_url).body["status"] == "ok"

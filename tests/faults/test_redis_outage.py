"""Redis (the Celery broker and the cache) stops: the shop and the partner API keep taking
orders, /healthz says what is down, and once Redis is back every confirmation goes out exactly
once, within a minute."""

import time
from statistics import median

import pytest

from tests.faults.checks import (
    all_mail_out,
    confirmations,
    last_confirmation_at,
    mail_problems,
    placed_numbers,
    progress,
    seconds,
)
from tests.faults.clients import Answer, PartnerClient, Shopper, health, order_number_from, unique
from tests.faults.stack import wait_for

pytestmark = pytest.mark.faults

API_ORDERS = 10
CHECKOUTS = 5
DRAIN_LIMIT = 60  # seconds from Redis being back to the last confirmation
WARM_UP = 4  # orders of each kind before the outage: answer times to compare


def test_orders_are_taken_while_redis_is_down_and_mail_goes_out_once_when_it_is_back(
    stack, smtp_sink, figures
):
    # given: the whole stack running (a few orders of each kind to compare), then Redis
    # stopped
    stack.start_web()
    stack.start_worker()
    stack.start_beat()
    partner = PartnerClient(stack.base_url, stack.api_key)
    before_api = [
        partner.place_order(f"{unique('api')}@example.com", reference=unique("before"))
        for _ in range(WARM_UP)
    ]
    before_shop = [
        Shopper(stack.base_url).checkout(f"{unique('shop')}@example.com") for _ in range(WARM_UP)
    ]
    assert [a.status for a in before_api + before_shop] == [201] * WARM_UP + [302] * WARM_UP
    warmed_up = placed_numbers(before_api)
    warmed_up |= {order_number_from(s.headers["Location"]) for s in before_shop}
    wait_for(
        "the orders before the outage ready, their emails out",
        lambda: all_mail_out(stack.database, smtp_sink, warmed_up),
        timeout=30,
        state=lambda: progress(stack.database, smtp_sink),
    )
    stack.redis.stop()
    down_at = time.monotonic()

    # when: partners and shoppers order while it is down
    status = health(stack.base_url)
    api = [
        partner.place_order(f"{unique('api')}@example.com", reference=unique("outage"))
        for _ in range(API_ORDERS)
    ]
    shop = [
        Shopper(stack.base_url).checkout(f"{unique('shop')}@example.com") for _ in range(CHECKOUTS)
    ]

    # then: every order was taken, and the load balancer hears "degraded", not "down"
    assert (status.status, status.body) == (
        200,
        {"status": "degraded", "checks": {"database": "ok", "redis": "unavailable"}},
    )
    assert [a.status for a in api] == [201] * API_ORDERS, [a.body for a in api]
    assert [s.status for s in shop] == [302] * CHECKOUTS, [s.body for s in shop]
    numbers = placed_numbers(api) | {order_number_from(s.headers["Location"]) for s in shop}
    assert len(numbers) == API_ORDERS + CHECKOUTS
    sent_while_down = sum(confirmations(smtp_sink, numbers).values())
    figures.record(
        f"answer times (median) with Redis up: API order {_median_took(before_api):.2f} s, "
        f"checkout {_median_took(before_shop):.2f} s; with Redis down: API order "
        f"{_median_took(api):.2f} s, checkout {_median_took(shop):.2f} s"
    )

    # when: Redis comes back on the same port
    stack.redis.start()
    back_at = time.monotonic()
    figures.record(
        f"{len(numbers)} orders taken with Redis down ({seconds(down_at):.1f} s outage), "
        f"{sent_while_down} confirmations sent meanwhile"
    )

    # then: every confirmation goes out within the minute, each exactly once
    wait_for(
        "a confirmation for every order",
        lambda: all(confirmations(smtp_sink, numbers).values()),
        timeout=DRAIN_LIMIT,
        state=lambda: progress(stack.database, smtp_sink),
    )
    drained = last_confirmation_at(smtp_sink, numbers) - back_at
    wait_for(
        "every order ready with its emails out",
        lambda: all_mail_out(stack.database, smtp_sink, numbers | warmed_up),
        timeout=30,
        state=lambda: progress(stack.database, smtp_sink),
    )
    figures.record(
        f"Redis back: all {len(numbers)} confirmations out in {drained:.1f} s, "
        f"every order ready with its receipt out in {seconds(back_at):.1f} s"
    )
    assert mail_problems(stack.database, smtp_sink, numbers | warmed_up) == []
    assert health(stack.base_url).body["status"] == "ok"


def _median_took(answers: list[Answer]) -> float:
    return median(answer.took for answer in answers)

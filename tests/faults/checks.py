"""What the fault tests ask of a stack afterwards: where its orders are, what its outbox holds,
and what actually arrived at the sinks. Each scenario has a database of its own, so every order
in it is the scenario's."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tests.faults.clients import Answer
from tests.faults.sinks import SmtpSink, WebhookSink
from tests.faults.stack import Database

# A card order that passes review sends these, each once: confirmed, then paid.
ORDER_EMAILS = ("order_confirmation", "payment_receipt")
CONFIRMED_SUBJECT = "Your order {number} is confirmed"


@dataclass(frozen=True)
class OutboxRow:
    id: int
    order: str
    kind: str
    status: str
    claims: int


def order_statuses(database: Database) -> dict[str, str]:
    return dict(database.rows("SELECT number, status FROM orders_order"))


def outbox_rows(database: Database) -> list[OutboxRow]:
    return [
        OutboxRow(*row)
        for row in database.rows(
            "SELECT n.id, o.number, n.kind, n.status, n.claims FROM orders_notification n "
            "JOIN orders_order o ON o.id = n.order_id ORDER BY n.id"
        )
    ]


def progress(database: Database, sink: SmtpSink) -> str:
    """Where the orders and their emails stand, for a failure message."""
    orders = Counter(order_statuses(database).values())
    outbox = Counter((row.kind, row.status) for row in outbox_rows(database))
    held = [
        f"{number} held for {reason} ({message})"
        for number, reason, message in database.rows(
            "SELECT o.number, h.reason, h.message FROM orders_orderhold h "
            "JOIN orders_order o ON o.id = h.order_id WHERE h.released_at IS NULL"
        )
    ]
    stuck = [
        f"{number} {status}: " + " / ".join(timeline)
        for number, status, timeline in database.rows(
            "SELECT o.number, o.status, ARRAY_AGG(e.type || ': ' || e.message ORDER BY e.id) "
            "FROM orders_order o JOIN orders_orderevent e ON e.order_id = o.id "
            "WHERE o.status NOT IN ('ready', 'received') GROUP BY o.number, o.status "
            "HAVING o.status <> 'ready' LIMIT 3"
        )
    ]
    return (
        f"orders {dict(sorted(orders.items()))}, outbox {dict(sorted(outbox.items()))}, "
        f"{len(sink.mails)} emails at the mail server; {held}; {stuck}"
    )


def confirmations(sink: SmtpSink, numbers: Iterable[str]) -> Counter[str]:
    """How many confirmation emails arrived for each order."""
    subjects = Counter(mail.subject for mail in sink.mails)
    return Counter({n: subjects[CONFIRMED_SUBJECT.format(number=n)] for n in numbers})


def last_confirmation_at(sink: SmtpSink, numbers: Iterable[str]) -> float:
    wanted = {CONFIRMED_SUBJECT.format(number=n) for n in numbers}
    return max(mail.received_at for mail in sink.mails if mail.subject in wanted)


def all_mail_out(
    database: Database, sink: SmtpSink, numbers: set[str], *, cut_off: set[int] = frozenset()
) -> bool:
    """Every order ready, its emails written and sent, and each of them at the sink. Rows in
    `cut_off` (their sender was killed mid-send) only need to be written."""
    statuses = order_statuses(database)
    if any(statuses.get(number) != "ready" for number in numbers):
        return False
    rows = outbox_rows(database)
    done = {(row.order, row.kind) for row in rows if row.status == "sent" or row.id in cut_off}
    wanted = {(number, kind) for number in numbers for kind in ORDER_EMAILS}
    arrived = sink.per_notification()
    return wanted <= done and all(arrived[str(row.id)] for row in rows if row.status == "sent")


def mail_problems(
    database: Database, sink: SmtpSink, numbers: set[str], *, cut_off: set[int] = frozenset()
) -> list[str]:
    """Everything that is not "each email of each order arrived exactly once". Rows in
    `cut_off` were being sent when their sender was killed: they may have arrived once or not
    at all (the outbox never sends such a row twice), never twice."""
    problems = []
    arrived = sink.per_notification()
    rows = outbox_rows(database)
    by_order_kind = Counter((row.order, row.kind) for row in rows)
    for number in sorted(numbers):
        for kind in ORDER_EMAILS:
            if by_order_kind[(number, kind)] != 1:
                problems.append(f"order {number}: {by_order_kind[(number, kind)]} {kind} rows")
    for row in rows:
        count = arrived[str(row.id)]
        if row.id in cut_off:
            if count > 1:
                problems.append(f"{row}: cut off mid-send, yet arrived {count} times")
        elif count != 1:
            problems.append(f"{row}: arrived {count} times")
    known = {str(row.id) for row in rows}
    strays = [mail for mail in sink.mails if mail.notification not in known]
    problems.extend(f"an email from no outbox row: {mail}" for mail in strays)
    per_subject = Counter((mail.to, mail.subject) for mail in sink.mails)
    problems.extend(f"sent {n} times: {key}" for key, n in per_subject.items() if n > 1)
    return problems


def webhook_problems(database: Database, sink: WebhookSink, events: set[str]) -> list[str]:
    """Every delivery row delivered, each delivery id received once, and one delivery per order
    and event."""
    problems = []
    received = Counter(hook.delivery_id for hook in sink.hooks)
    per_order_event = Counter(
        (hook.order, hook.event) for hook in {h.delivery_id: h for h in sink.hooks}.values()
    )
    rows = database.rows(
        "SELECT d.id::text, o.number, d.event, d.status FROM partner_api_webhookdelivery d "
        "JOIN orders_order o ON o.id = d.order_id"
    )
    for delivery_id, number, event, status in rows:
        if status != "delivered":
            problems.append(f"delivery {delivery_id} ({number} {event}) is {status}")
        if received[delivery_id] != 1:
            problems.append(
                f"delivery {delivery_id} ({number} {event}) arrived {received[delivery_id]} times"
            )
    for number in order_statuses(database):
        for event in events:
            if per_order_event[(number, event)] != 1:
                problems.append(f"order {number}: {per_order_event[(number, event)]} × {event}")
    return problems


def partial_orders(database: Database) -> list[str]:
    """Orders missing a part placing writes in one transaction: lines, stock reservations
    covering each line, a payment; and stock counters that disagree with the reservations."""
    problems = [
        f"order {number} has no lines"
        for (number,) in database.rows(
            "SELECT number FROM orders_order o WHERE NOT EXISTS "
            "(SELECT 1 FROM orders_orderline l WHERE l.order_id = o.id)"
        )
    ]
    problems += [
        f"order {number} line {sku}: {quantity} ordered, {reserved} reserved"
        for number, sku, quantity, reserved in database.rows(
            "SELECT o.number, l.sku, l.quantity, COALESCE(SUM(r.quantity), 0) "
            "FROM orders_orderline l JOIN orders_order o ON o.id = l.order_id "
            "LEFT JOIN warehouse_stockreservation r ON r.order_line_id = l.id "
            "WHERE l.product_kind = 'physical' GROUP BY o.number, l.id, l.sku, l.quantity "
            "HAVING COALESCE(SUM(r.quantity), 0) <> l.quantity"
        )
    ]
    problems += [
        f"order {number} has {count} payments"
        for number, count in database.rows(
            "SELECT o.number, COUNT(p.id) FROM orders_order o "
            "LEFT JOIN payments_payment p ON p.order_id = o.id GROUP BY o.number "
            "HAVING COUNT(p.id) <> 1"
        )
    ]
    problems += [
        f"stock item {item}: reserved {reserved}, reservations add up to {total}"
        for item, reserved, total in database.rows(
            "SELECT s.id, s.reserved, COALESCE(SUM(r.quantity), 0) FROM warehouse_stockitem s "
            "LEFT JOIN warehouse_stockreservation r ON r.stock_item_id = s.id "
            "GROUP BY s.id, s.reserved HAVING s.reserved <> COALESCE(SUM(r.quantity), 0)"
        )
    ]
    problems += [
        f"idempotency key {key} left without an answer"
        for (key,) in database.rows(
            "SELECT key FROM partner_api_idempotencyrecord WHERE response_status IS NULL"
        )
    ]
    return problems


def in_parallel(count: int, threads: int, place: Callable[[int], Any]) -> list[Any]:
    """`place(i)` for i in range(count) on `threads` client threads, results in order."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(place, range(count)))


def placed_numbers(answers: Iterable[Answer]) -> set[str]:
    return {answer.body["number"] for answer in answers}


def seconds(since: float) -> float:
    return time.monotonic() - since

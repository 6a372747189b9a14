"""The outbox engine (DESIGN.md rule 3): one way to send what a transaction promised.

Email, SMS (`orders.Notification`) and partner webhooks (`orders.api.WebhookDelivery`) are
rows written in the transaction that made them necessary. Each kind of row has an
`OutboxKind` that knows how to prepare, send and record it; this module runs every kind the
same way, in three steps, so no network call ever happens inside a transaction or under a
row lock:

1. claim: under the row lock, check the row is pending (and due), count the attempt, mark it
   `sending` with a lease, and commit;
2. send: outside any transaction;
3. record: under the row lock again, write the outcome (sent, retry later, or failed).

A row claimed by a worker that died before recording stays `sending` until its lease ends;
the relay then decides by kind: a kind whose receivers deduplicate (webhooks carry their
delivery id) sends again; email and SMS are not sent twice, so such a row is marked failed
with "outcome unknown" for staff to check and resend. Recording is retried across a database
outage of up to a minute, so that case needs the worker itself to die mid-send.

One retry schedule (`retry_delay`) and one relay task (`orders.tasks.relay_outbox`) serve
every kind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial, update_wrapper
from typing import Any, ClassVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, models, transaction
from django.utils import timezone

from orders.exceptions import DomainError

logger = logging.getLogger(__name__)

PENDING, SENDING, FAILED = "pending", "sending", "failed"


def backoff(attempts: int, *, first: timedelta, cap: timedelta) -> timedelta:
    """The wait after the n-th failed attempt: first, 2×first, 4×first, ... at most `cap`."""
    return min(first * 2 ** max(attempts - 1, 0), cap)


def retry_delay(attempts: int) -> timedelta:
    """The outbox's one retry schedule: 1, 2, 4, ... minutes, at most 6 hours."""
    return backoff(attempts, first=settings.OUTBOX_FIRST_RETRY, cap=settings.OUTBOX_MAX_RETRY_DELAY)


@dataclass(frozen=True)
class SendOutcome:
    """What one attempt to send gave."""

    delivered: bool
    retryable: bool = True
    error: str = ""
    provider_id: str = ""
    details: dict[str, Any] | None = None


class OutboxKind:
    """How one kind of outbox row is sent. Rows have `status`, `attempts`,
    `next_attempt_at` and `last_error`; `done_status` is what a sent row becomes."""

    model: ClassVar[type[models.Model]]
    done_status: ClassVar[str]
    #: Where the relay sends a row whose sender died mid-send: True when receivers can tell a
    #: repeat (webhooks), False when a repeat would reach a person twice (email, SMS).
    resend_unconfirmed: ClassVar[bool] = False
    #: False: any run of the send task is an attempt (the task schedules its own retries).
    #: True: a retry waits for its time, whoever asks.
    retries_wait_for_schedule: ClassVar[bool] = True
    label: ClassVar[str] = "outbox row"
    #: Added to the error when retries run out.
    give_up_note: ClassVar[str] = ""

    def lock_query(self) -> models.QuerySet:
        return self.model.objects.select_for_update(of=("self",), no_key=True)

    def refusal(self, row: Any) -> str:
        """A reason to fail the row without sending it ("" to send)."""
        return ""

    def lease(self, row: Any) -> timedelta:
        """How long a claimed row is left alone before the relay treats its sender as dead."""
        return timedelta(minutes=5)

    def prepare(self, row: Any) -> Any:
        """What the send needs (rendered text...), built before the claim, outside any
        transaction."""
        return None

    def send(self, row: Any, prepared: Any) -> SendOutcome:
        raise NotImplementedError

    def record(self, row: Any, outcome: SendOutcome, prepared: Any, started_at: Any) -> list[str]:
        """Under the row lock: kind-specific bookkeeping for an attempt (attempt logs,
        timeline entries, rendered copies). Returns further fields to save."""
        return []

    def gives_up(self, row: Any, now: Any) -> bool:
        return row.attempts >= settings.OUTBOX_MAX_ATTEMPTS

    def next_attempt_at(self, row: Any, now: Any) -> Any:
        """When a failed attempt is tried again: the outbox's one schedule."""
        return now + retry_delay(row.attempts)

    def requeued(self, row: Any, now: Any) -> list[str]:
        """Kind-specific resets when staff resend a row. Returns further fields to save."""
        return []

    def failed(self, row: Any, reason: str) -> None:
        """Under the row lock, when a row has finally failed (a timeline entry, say)."""

    def enqueue(self, row_ids: list[Any]) -> None:
        """Hand rows to Celery; a broker outage is logged, not raised."""
        raise NotImplementedError


def _claim(kind: OutboxKind, row_id: Any) -> tuple[Any, str]:
    """Step 1. (row, "") when this worker may send it; (None, status) otherwise."""
    with transaction.atomic():
        row = kind.lock_query().filter(pk=row_id).first()
        if row is None:
            return None, "missing"
        if row.status != PENDING:
            return None, row.status
        now = timezone.now()
        if kind.retries_wait_for_schedule and row.attempts and row.next_attempt_at > now:
            return None, "not_due"
        refusal = kind.refusal(row)
        if refusal:
            row.status, row.last_error = FAILED, refusal
            row.save(update_fields=["status", "last_error"])
            kind.failed(row, refusal)
            return None, FAILED
        row.attempts += 1
        row.claims += 1
        row.status = SENDING
        row.next_attempt_at = now + kind.lease(row)
        row.save(update_fields=["attempts", "claims", "status", "next_attempt_at"])
        return row, ""


def _record(
    kind: OutboxKind,
    row_id: Any,
    claim: int,
    outcome: SendOutcome,
    prepared: Any,
    started: Any,
):
    """Step 3, under the row lock. Only the claim that sent it records: a worker whose lease
    ran out while another claimed the row after it leaves the row alone."""
    with transaction.atomic():
        row = kind.lock_query().get(pk=row_id)
        if row.claims != claim or row.status == kind.done_status:
            logger.warning(
                "outbox outcome arrived after the claim was lost",
                extra={"kind": kind.label, "row": str(row_id), "delivered": outcome.delivered},
            )
            return row
        if row.status != SENDING and not outcome.delivered:
            # The relay gave up on this claim meanwhile (failed, or pending for a resend);
            # a failure changes nothing. A delivery still counts: it did arrive.
            return row
        extra = kind.record(row, outcome, prepared, started)
        now = timezone.now()
        if outcome.delivered:
            row.status, row.last_error = kind.done_status, ""
        elif not outcome.retryable:
            row.status, row.last_error = FAILED, outcome.error
            kind.failed(row, outcome.error)
        elif kind.gives_up(row, now):
            row.status, row.last_error = FAILED, outcome.error + kind.give_up_note
            kind.failed(row, row.last_error)
        else:
            row.status, row.last_error = PENDING, outcome.error
            row.next_attempt_at = kind.next_attempt_at(row, now)
        row.save(update_fields=["status", "last_error", "next_attempt_at", *extra])
        return row


def _with_database_retries(call: Callable[[], Any], *, tries: int = 10) -> Any:
    """The send has happened; recording it must not be lost to a database outage. Only this
    worker knows the outcome, so it keeps trying for about a minute (0.4, 0.8, ... seconds
    apart, at most 10), well inside the claim's lease."""
    for attempt in range(1, tries + 1):
        try:
            return call()
        except (OperationalError, InterfaceError):
            if attempt == tries:
                raise
            if not transaction.get_connection().in_atomic_block:
                close_old_connections()  # a dropped connection is reopened on next use
            time.sleep(min(0.2 * 2**attempt, 10.0))
    return None


def outbox_send(kind: OutboxKind, row_id: Any) -> tuple[Any, str]:
    """Send one row if it may be sent now: (the row afterwards, "") or (None, why not)."""
    row = kind.model.objects.filter(pk=row_id).first()
    if row is None:
        return None, "missing"
    if row.status != PENDING:
        return None, row.status
    try:
        prepared = kind.prepare(row)
        preparation_error = ""
    except Exception as exc:  # a template or attachment that cannot be built
        prepared, preparation_error = None, f"{type(exc).__name__}: {exc}"[:2000]
    row, why_not = _claim(kind, row_id)
    if row is None:
        return None, why_not
    claim = row.claims
    started = timezone.now()
    if preparation_error:
        outcome = SendOutcome(delivered=False, error=preparation_error)
    else:
        try:
            outcome = kind.send(row, prepared)
        except Exception as exc:
            outcome = SendOutcome(delivered=False, error=f"{type(exc).__name__}: {exc}"[:2000])
    recorded = _with_database_retries(
        lambda: _record(kind, row.pk, claim, outcome, prepared, started)
    )
    return recorded, ""


UNKNOWN_OUTCOME = (
    "Outcome unknown: the sender stopped while sending. Check with the recipient and resend "
    "if it did not arrive."
)


def outbox_recover_unconfirmed(kind: OutboxKind) -> int:
    """Rows left `sending` past their lease (the sender died): send them again where the
    kind allows and retries remain, otherwise mark them failed."""
    now = timezone.now()
    stale = kind.model.objects.filter(status=SENDING, next_attempt_at__lte=now)
    count = 0
    for row_id in stale.values_list("pk", flat=True)[:500]:
        with transaction.atomic():
            row = kind.lock_query().filter(pk=row_id, status=SENDING).first()
            if row is None:
                continue
            if not kind.resend_unconfirmed:
                row.status, row.last_error = FAILED, UNKNOWN_OUTCOME
            elif kind.gives_up(row, now):
                row.status = FAILED
                row.last_error = "The sender stopped while sending." + kind.give_up_note
            else:
                row.status = PENDING
            row.save(update_fields=["status", "last_error"])
            if row.status == FAILED:
                kind.failed(row, row.last_error)
            count += 1
    return count


class OutboxRowBusy(DomainError):
    code = "busy"
    http_status = 409


def outbox_requeue(kind: OutboxKind, row_id: Any) -> Any:
    """Staff resend: a sent or failed row goes back to pending, with the retry schedule
    started again, and is sent after the commit. A row being sent right now is refused, so
    one claim never races another. The caller holds the transaction."""
    row = kind.lock_query().get(pk=row_id)
    if row.status == SENDING:
        raise OutboxRowBusy(
            f"The {kind.label} to {_recipient(row)} is being sent right now; "
            "resend it in a few minutes if it does not arrive."
        )
    now = timezone.now()
    row.status, row.attempts, row.last_error = PENDING, 0, ""
    row.next_attempt_at = now + settings.OUTBOX_RELAY_AFTER
    extra = kind.requeued(row, now)
    row.save(update_fields=["status", "attempts", "last_error", "next_attempt_at", *extra])
    # Django logs a failing robust callback by its __qualname__, which a bare partial lacks.
    transaction.on_commit(
        update_wrapper(partial(kind.enqueue, [row.pk]), kind.enqueue), robust=True
    )
    return row


def _recipient(row: Any) -> str:
    return str(getattr(row, "recipient", "") or getattr(row, "endpoint", "") or row.pk)


def outbox_due(kind: OutboxKind, *, limit: int = 500) -> list[Any]:
    """Pending rows whose first send (or next retry) is overdue: the relay's work list."""
    return list(
        kind.model.objects.filter(status=PENDING, next_attempt_at__lte=timezone.now())
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def outbox_relay(kinds: list[OutboxKind]) -> int:
    """Recover rows whose sender died, then hand every due row to Celery again."""
    total = 0
    for kind in kinds:
        recovered = outbox_recover_unconfirmed(kind)
        due = outbox_due(kind)
        if due:
            kind.enqueue(due)
        if due or recovered:
            logger.info(
                "outbox relay",
                extra={"kind": kind.label, "enqueued": len(due), "recovered": recovered},
            )
        total += len(due)
    return total

"""Completion: a delivered order whose return window has passed, with nothing still open,
is complete (lifecycle step 11's end). The beat task `orders.tasks.complete_delivered_orders`
runs it every night; the `completed` moment tells the phases."""

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from orders import lifecycle
from orders.exceptions import DomainError, TransitionRefused
from orders.models import EventType, Order, OrderStatus
from orders.services.guards import Actor, _lock_order
from orders.services.transitions import order_transition

logger = logging.getLogger(__name__)


def order_complete(*, order_id: int, actor: Actor) -> Order:
    """Complete a delivered order once its return window has passed and no phase has
    anything open for it (a refund under way, say). Safe to run twice."""
    with transaction.atomic():
        order = _lock_order(order_id)
        if order.status == OrderStatus.COMPLETED:
            return order
        still_open = lifecycle.open_items(order=order)
        if still_open:
            raise TransitionRefused(
                f"Order {order.number} cannot be completed yet: " + "; ".join(still_open) + "."
            )
        order.completed_at = timezone.now()
        order_transition(
            order,
            "complete",
            actor=actor,
            event_type=EventType.COMPLETED,
            message="Completed: delivered, the return window has passed and nothing is open.",
            fields=["completed_at"],
            publish="order.completed",
        )
        logger.info("order completed", extra={"order": order.number})
    return order


# A night's run stops taking new batches after this long; what it did not reach waits for
# the next night (and is logged), so one run never overlaps the next.
COMPLETION_RUN_BUDGET = timedelta(minutes=30)

DuePosition = tuple[datetime, int]  # (delivered_at, pk): where a walk through due orders is


@dataclass(frozen=True)
class CompletionRun:
    """What one pass over the due orders did."""

    completed: int
    still_open: int
    not_reached: bool


def orders_due_for_completion(
    *, after: DuePosition | None = None, cutoff: datetime | None = None, limit: int = 500
) -> list[DuePosition]:
    """Delivered orders whose return window (RETURN_WINDOW_DAYS) has passed, oldest first,
    as (delivered_at, pk). `after` continues from the last one of the previous batch (keyset
    pagination), so a walk moves past orders that stay delivered."""
    if cutoff is None:
        cutoff = timezone.now() - timedelta(days=settings.RETURN_WINDOW_DAYS)
    due = Order.objects.filter(status=OrderStatus.DELIVERED, delivered_at__lte=cutoff)
    if after is not None:
        delivered_at, pk = after
        due = due.filter(Q(delivered_at__gt=delivered_at) | Q(delivered_at=delivered_at, pk__gt=pk))
    return list(due.order_by("delivered_at", "pk").values_list("delivered_at", "pk")[:limit])


def orders_complete_due(
    *,
    actor: Actor,
    batch_size: int = 500,
    budget: timedelta = COMPLETION_RUN_BUDGET,
) -> CompletionRun:
    """Complete every order due for completion, each once, batch by batch. An order a phase
    still holds open is passed over (not retried) and waits for the next run."""
    # One cutoff for the whole walk: orders coming due mid-run belong to the next one.
    cutoff = timezone.now() - timedelta(days=settings.RETURN_WINDOW_DAYS)
    deadline = time.monotonic() + budget.total_seconds()
    completed = still_open = 0
    after: DuePosition | None = None
    while True:
        batch = orders_due_for_completion(after=after, cutoff=cutoff, limit=batch_size)
        if not batch:
            return CompletionRun(completed=completed, still_open=still_open, not_reached=False)
        if time.monotonic() >= deadline:
            return CompletionRun(completed=completed, still_open=still_open, not_reached=True)
        for _delivered_at, order_id in batch:
            try:
                order_complete(order_id=order_id, actor=actor)
            except DomainError as refusal:
                still_open += 1
                logger.info(
                    "order not completed", extra={"order_id": order_id, "why": refusal.message}
                )
            except Exception:
                # One order's failure (a lost connection, a phase's bug) must not stop the
                # run at the same order every night: log it, count it open, go on.
                still_open += 1
                logger.exception("order completion failed", extra={"order_id": order_id})
            else:
                completed += 1
        after = batch[-1]

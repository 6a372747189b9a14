"""Handing work to Celery after a commit, and how our tasks run.

A broker outage is logged, never raised: the request that committed succeeded, and a sweep
(the outbox relay, the review sweep, payment reconciliation; every SWEEP_SECONDS) finds the
work left undone and does it later.

Every task that changes state is a `state_task`: acknowledged only after it ran (a worker
killed mid-task leaves the message to be delivered again, and a pool process that dies puts
it back at once), and retried with backoff when the database connection fails. All of them
are safe to run twice: each locks its row and checks the state before it changes anything."""

import logging
import time
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

logger = logging.getLogger(__name__)

#: A database that went away for a moment: the task is worth running again.
DATABASE_ERRORS = (OperationalError, InterfaceError)


def state_task(func: Callable[..., Any]) -> Any:
    """`@shared_task` for a task that changes state (see the module's docstring). Retries:
    about 2, 4, 8, ... seconds apart (with jitter), at most a minute, 8 times; after that the
    sweeps take over."""
    return shared_task(
        acks_late=True,
        reject_on_worker_lost=True,
        autoretry_for=DATABASE_ERRORS,
        retry_backoff=2,
        retry_backoff_max=60,
        retry_jitter=True,
        max_retries=8,
    )(func)


#: After a publish fails, this process does not try the broker again for this long: one
#: request waits out the broker's timeouts, the ones after it do not.
BROKER_BACKOFF_SECONDS = 5.0


class _Broker:
    down_until = 0.0


def broker_reset() -> None:
    """Forget a failed publish (for tests that take the broker down and bring it back)."""
    _Broker.down_until = 0.0


def enqueue(task: Any, *args: Any, later_by: str, **log_context: Any) -> bool:
    """`task.delay(*args)`; False, and a warning naming who will do it `later_by`, when the
    broker cannot be reached (or could not be, moments ago)."""
    if time.monotonic() < _Broker.down_until:
        logger.warning(
            f"{task.name} not enqueued, the broker was unreachable moments ago; "
            f"{later_by} will pick it up",
            extra=log_context,
        )
        return False
    try:
        task.delay(*args)
    except Exception:
        _Broker.down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning(
            f"{task.name} not enqueued; {later_by} will pick it up",
            extra=log_context,
            exc_info=True,
        )
        return False
    return True

"""Handing work to Celery after a commit. A broker outage is logged, never raised: the
request that committed succeeded, and a periodic task (the outbox relay, the review sweep,
payment reconciliation) finds the work left undone and does it later."""

import logging
from typing import Any

logger = logging.getLogger(__name__)


def enqueue(task: Any, *args: Any, later_by: str, **log_context: Any) -> bool:
    """`task.delay(*args)`; False, and a warning naming who will do it `later_by`, when the
    broker cannot be reached."""
    try:
        task.delay(*args)
    except Exception:
        logger.warning(
            f"{task.name} not enqueued; {later_by} will pick it up",
            extra=log_context,
            exc_info=True,
        )
        return False
    return True

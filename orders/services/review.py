"""Review: the automatic checks that confirm a received order or hold it with reasons."""

import logging

from django.db import transaction
from django.utils import timezone

from orders import events, lifecycle
from orders.models import EventType, HoldReason, Order, OrderHold, OrderStatus
from orders.notifications import queue_order_notification
from orders.services.guards import Actor, _check_transition, _lock_order, _save

logger = logging.getLogger(__name__)


def order_review(*, order_id: int, actor: Actor = None) -> Order:
    """Run the automatic checks on a received order: confirmed, or held with reasons.
    Safe to run twice: an order no longer `received` is left alone."""
    with transaction.atomic():
        order = _lock_order(order_id)
        if order.status != OrderStatus.RECEIVED:
            return order
        _check_transition(order, "review", actor, "reviewed")
        results = [check(order) for check in lifecycle.review_checks()]
        passed = all(result.passed for result in results)
        now = timezone.now()
        order.review(passed=passed)
        order.reviewed_at = now
        fields = ["status", "held_from", "reviewed_at", "fraud_score"]
        if passed:
            order.confirmed_at = now
            fields.append("confirmed_at")
        _save(order, fields)
        events.record_many(
            order,
            (
                {
                    "type": EventType.REVIEW_CHECK,
                    "message": f"{'Passed' if r.passed else 'Failed'}: {r.message}",
                    "data": {"check": r.check, "passed": r.passed, **r.data},
                }
                for r in results
            ),
            actor=actor,
        )
        if passed:
            events.order_confirmed(order, actor=actor)
            queue_order_notification(order, "order_confirmation")
            lifecycle.confirmed(order=order, actor=actor)
        else:
            failed = [r for r in results if not r.passed]
            reasons = list(dict.fromkeys(r.hold_reason or HoldReason.MANUAL for r in failed))
            OrderHold.objects.bulk_create(
                OrderHold(
                    order=order,
                    reason=reason,
                    message=" ".join(
                        r.message for r in failed if (r.hold_reason or "manual") == reason
                    ),
                )
                for reason in reasons
            )
            events.order_held(order, actor=actor, reasons=reasons, note="")
        logger.info(
            "order reviewed",
            extra={"order": order.number, "status": order.status, "fraud": order.fraud_score},
        )
    return order

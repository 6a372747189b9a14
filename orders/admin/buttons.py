"""The buttons on an order's page in the staff console: each drives one transition through
its service.

A button shows when the order's state allows its transition and the user holds the
transition's permission (django-fsm's `get_available_user_status_transitions`); the order
page's action view (orders.admin.orders) runs the one pressed.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orders import services
from orders.models import HoldReason, Order


@dataclass(frozen=True)
class OrderAction:
    name: str
    label: str
    run: Callable[..., Any]  # run(order_id=, actor=, note=, reason=)
    transition: str
    style: str = "default"  # "default", "primary" or "danger"
    note_label: str = "Note (optional)"
    note_required: bool = False
    reasons: tuple[tuple[str, str], ...] = ()
    help_text: str = ""


# In the order the buttons appear on the page.
ORDER_ACTIONS: dict[str, OrderAction] = {
    action.name: action
    for action in (
        OrderAction(
            name="place",
            label="Place order",
            run=lambda *, order_id, actor, note, reason: services.order_place_draft(
                order_id=order_id, actor=actor, note=note
            ),
            transition="place",
            style="primary",
            help_text="Prices the lines from the catalogue, reserves stock and runs the review.",
        ),
        OrderAction(
            name="review",
            label="Run review now",
            run=lambda *, order_id, actor, note, reason: services.order_review(
                order_id=order_id, actor=actor
            ),
            transition="review",
            help_text="Normally automatic; use when an order stays received.",
        ),
        OrderAction(
            name="hold",
            label="Put on hold",
            run=lambda *, order_id, actor, note, reason: services.order_hold(
                order_id=order_id, actor=actor, reason=reason or HoldReason.MANUAL, note=note
            ),
            transition="hold",
            reasons=tuple(HoldReason.choices),
            note_label="Why (shown on the timeline)",
        ),
        OrderAction(
            name="release",
            label="Release",
            run=lambda *, order_id, actor, note, reason: services.order_release(
                order_id=order_id, actor=actor, note=note
            ),
            transition="release",
            style="primary",
            help_text=(
                "Back to confirmed, or to the later state it was held from; an order held "
                "before its review goes through the review now."
            ),
        ),
        OrderAction(
            name="cancel",
            label="Cancel order",
            run=lambda *, order_id, actor, note, reason: services.order_cancel(
                order_id=order_id, actor=actor, reason=note
            ),
            transition="cancel",
            style="danger",
            note_label="Reason (sent to the customer)",
            note_required=True,
            help_text="Releases reserved stock and tells the customer.",
        ),
    )
}


def available_actions(order: Order, user: Any) -> list[OrderAction]:
    """The buttons `user` may press on `order` now, in page order."""
    allowed = {t.name for t in order.get_available_user_status_transitions(user)}
    return [action for action in ORDER_ACTIONS.values() if action.transition in allowed]

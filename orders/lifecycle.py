"""The order lifecycle interface: how later phases take part in an order's life.

`orders` owns the Order state machine. Payments, the warehouse, the partner API (and returns
and feedback as they arrive) take part through one typed interface, `OrderPhase`: each phase
overrides the moments it cares about. The phases are registered explicitly, in lifecycle
order, in one place: `config/lifecycle.py`. That order is the order in which every moment
calls them, and so the order in which they take row locks across apps.

The moments that change an order (placing, releasing, released, confirmed, ready,
delivered, cancelled, completed, the order-event feed) and `open_items` run inside the
transaction of the order service that reached them, with the order row locked (DESIGN.md
rule 2). A phase writes its own rows and registers its own after-commit work
(`transaction.on_commit`); it never makes a network call there. A phase raising in one of
them rolls the whole change back.
`review_checks` only names the checks (the review then runs them under its lock), and
`staff_panel` renders a part of the console's order page: neither changes anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from django.http import HttpRequest

    from orders.actors import Actor
    from orders.models import Order
    from orders.outbox import OutboxKind


logger = logging.getLogger(__name__)


@dataclass
class CheckResult:
    """One automatic review check's verdict on a received order."""

    check: str
    passed: bool
    message: str
    hold_reason: str = ""
    data: dict[str, Any] = field(default_factory=dict)


ReviewCheck = Callable[["Order"], CheckResult]


class PaymentChoice(Protocol):
    """What a channel collected about paying (the payments phase's `PaymentInput`)."""

    method: str


class OrderPhase:
    """A lifecycle phase. Every moment does nothing unless a phase overrides it."""

    #: Names the phase in logs ("payments", "warehouse", ...).
    name: str = ""

    def placing(self, *, order: Order, payment: PaymentChoice | None, actor: Actor) -> None:
        """The order was just numbered and moved to `received`; stock is reserved. Raise a
        `DomainError` to refuse the placement (everything is rolled back)."""

    def review_checks(self) -> Sequence[ReviewCheck]:
        """Checks the automatic review runs after the orders app's own, in this order."""
        return ()

    def releasing(self, *, order: Order, reasons: Sequence[str], actor: Actor) -> None:
        """Someone is releasing the held order from its open hold `reasons` (staff, or a
        phase once what it held the order for is resolved); nothing has changed yet, and
        `order.release_target()` says where the release takes it (`received` for an order
        held before its review: the review runs next). Raise a `DomainError` to refuse the
        release while what this phase needs is missing: nothing changes, and the message is
        what the person releasing is told."""

    def released(self, *, order: Order, reasons: Sequence[str], actor: Actor) -> None:
        """The held order was released from its hold `reasons`, to `confirmed` or back to the
        later state it was held from (not called when it goes back to the review). A phase
        that held an order from `ready` or later does here what it waited for."""

    def confirmed(self, *, order: Order, actor: Actor) -> None:
        """The order passed review (or was released) and is `confirmed`."""

    def ready(self, *, order: Order, actor: Actor) -> None:
        """The payment is secured: the order is `ready` for the warehouse."""

    def delivered(self, *, order: Order, actor: Actor) -> None:
        """Every shipment arrived, or a digital/service order was fulfilled."""

    def cancelled(self, *, order: Order, actor: Actor) -> None:
        """The order was cancelled; reserved stock is already released."""

    def open_items(self, *, order: Order) -> Sequence[str]:
        """What this phase still has open for a delivered order (a refund under way, a
        return in progress): completion waits until every phase says nothing."""
        return ()

    def completed(self, *, order: Order, actor: Actor) -> None:
        """The sale is complete: delivered, the return window passed, nothing open."""

    def order_event(self, *, order: Order, event: str, data: dict[str, Any]) -> None:
        """The order-event feed (`order.created`, `payment.captured`, `shipment.shipped` ...),
        as it happens. Partner webhooks subscribe here."""

    def outboxes(self) -> Sequence[OutboxKind]:
        """The outbox kinds this phase sends through (orders.outbox), for the one relay."""
        return ()

    def staff_panel(self, *, order: Order, request: HttpRequest) -> str:
        """HTML this phase adds to the order's page in the staff console ("" for none)."""
        return ""


def registered_phases() -> Sequence[OrderPhase]:
    """The phases in lifecycle order, as registered in `config/lifecycle.py`."""
    from config import lifecycle

    return lifecycle.PHASES


def _each(moment: str, **kwargs: Any) -> None:
    for phase in registered_phases():
        try:
            getattr(phase, moment)(**kwargs)
        except Exception:
            logger.info("lifecycle phase raised", extra={"phase": phase.name, "moment": moment})
            raise


def placing(*, order: Order, payment: PaymentChoice | None, actor: Actor) -> None:
    _each("placing", order=order, payment=payment, actor=actor)


def releasing(*, order: Order, reasons: Sequence[str], actor: Actor) -> None:
    _each("releasing", order=order, reasons=reasons, actor=actor)


def released(*, order: Order, reasons: Sequence[str], actor: Actor) -> None:
    _each("released", order=order, reasons=reasons, actor=actor)


def confirmed(*, order: Order, actor: Actor) -> None:
    _each("confirmed", order=order, actor=actor)


def ready(*, order: Order, actor: Actor) -> None:
    _each("ready", order=order, actor=actor)


def delivered(*, order: Order, actor: Actor) -> None:
    _each("delivered", order=order, actor=actor)


def cancelled(*, order: Order, actor: Actor) -> None:
    _each("cancelled", order=order, actor=actor)


def completed(*, order: Order, actor: Actor) -> None:
    _each("completed", order=order, actor=actor)


def open_items(*, order: Order) -> list[str]:
    return [item for phase in registered_phases() for item in phase.open_items(order=order)]


def order_event(*, order: Order, event: str, data: dict[str, Any] | None = None) -> None:
    _each("order_event", order=order, event=event, data=data or {})


def review_checks() -> list[ReviewCheck]:
    """The orders app's own checks first, then each phase's, in lifecycle order."""
    from orders import review

    checks: list[ReviewCheck] = list(review.ORDER_CHECKS)
    for phase in registered_phases():
        checks.extend(phase.review_checks())
    return checks


def outboxes() -> list[OutboxKind]:
    return [kind for phase in registered_phases() for kind in phase.outboxes()]


def staff_panels(*, order: Order, request: HttpRequest) -> list[str]:
    return [
        html
        for phase in registered_phases()
        if (html := phase.staff_panel(order=order, request=request))
    ]

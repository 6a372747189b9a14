"""The order lifecycle interface: how later phases take part in an order's life.

`orders` owns the Order state machine. Payments, the warehouse, the partner API (and returns
and feedback as they arrive) take part through one typed interface, `OrderPhase`: each phase
overrides the moments it cares about. The phases are registered explicitly, in lifecycle
order, in one place: `config/lifecycle.py`. That order is the order in which every moment
calls them, and so the order in which they take row locks across apps.

Every moment runs inside the transaction of the order service that reached it, with the
order row locked (DESIGN.md rule 2). A phase writes its own rows and registers its own
after-commit work (`transaction.on_commit`); it never makes a network call there. A phase
raising during `placing` (or any moment) rolls the whole change back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from django.http import HttpRequest

    from orders.actors import Actor
    from orders.models import Order


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

    #: Shown in logs and errors ("payments", "warehouse", ...).
    name: str = ""

    def placing(self, *, order: Order, payment: PaymentChoice | None, actor: Actor) -> None:
        """The order was just numbered and moved to `received`; stock is reserved. Raise a
        `DomainError` to refuse the placement (everything is rolled back)."""

    def review_checks(self) -> Sequence[ReviewCheck]:
        """Checks the automatic review runs after the orders app's own, in this order."""
        return ()

    def confirmed(self, *, order: Order, actor: Actor) -> None:
        """The order passed review (or was released) and is `confirmed`."""

    def ready(self, *, order: Order, actor: Actor) -> None:
        """The payment is secured: the order is `ready` for the warehouse."""

    def delivered(self, *, order: Order, actor: Actor) -> None:
        """Every shipment arrived, or a digital/service order was fulfilled."""

    def cancelled(self, *, order: Order, actor: Actor) -> None:
        """The order was cancelled; reserved stock is already released."""

    def completed(self, *, order: Order, actor: Actor) -> None:
        """The sale is complete: delivered, the return window passed, nothing open."""

    def order_event(self, *, order: Order, event: str, data: dict[str, Any]) -> None:
        """The order-event feed (`order.created`, `payment.captured`, `shipment.shipped` ...),
        as it happens. Partner webhooks subscribe here."""

    def staff_panel(self, *, order: Order, request: HttpRequest) -> str:
        """HTML this phase adds to the order's page in the staff console ("" for none)."""
        return ""


def registered_phases() -> Sequence[OrderPhase]:
    """The phases in lifecycle order, as registered in `config/lifecycle.py`."""
    from config import lifecycle

    return lifecycle.PHASES


def _each(moment: str, **kwargs: Any) -> None:
    for phase in registered_phases():
        getattr(phase, moment)(**kwargs)


def placing(*, order: Order, payment: PaymentChoice | None, actor: Actor) -> None:
    _each("placing", order=order, payment=payment, actor=actor)


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


def order_event(*, order: Order, event: str, data: dict[str, Any] | None = None) -> None:
    _each("order_event", order=order, event=event, data=data or {})


def review_checks() -> list[ReviewCheck]:
    """The orders app's own checks first, then each phase's, in lifecycle order."""
    from orders import review

    checks: list[ReviewCheck] = list(review.ORDER_CHECKS)
    for phase in registered_phases():
        checks.extend(phase.review_checks())
    return checks


def staff_panels(*, order: Order, request: HttpRequest) -> list[str]:
    return [
        html
        for phase in registered_phases()
        if (html := phase.staff_panel(order=order, request=request))
    ]

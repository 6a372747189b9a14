"""What every order service does around a transition: lock the row, check the transition
is allowed (state and the acting user's permission), and save, turning a concurrent change
into a clear error."""

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django_fsm import ConcurrentTransition, can_proceed, has_transition_perm

from orders.actors import Actor
from orders.exceptions import DomainError, InvalidOrder, StaleOrder, TransitionRefused
from orders.models import Order


class NotPermitted(DomainError):
    code = "permission_denied"
    http_status = 403


def _lock_order(order_id: int) -> Order:
    try:
        return Order.objects.select_for_update(of=("self",), no_key=True).get(pk=order_id)
    except Order.DoesNotExist as exc:
        raise InvalidOrder(f"Order {order_id} does not exist.") from exc


def _check_transition(order: Order, name: str, actor: Actor, verb: str) -> None:
    method = getattr(order, name)
    if not can_proceed(method):
        raise TransitionRefused(
            f"Order {order.number or order.pk} is {order.get_status_display().lower()}; "
            f"it cannot be {verb} now."
        )
    if isinstance(actor, AbstractBaseUser) and not has_transition_perm(method, actor):
        action = name.replace("_", " ")
        raise NotPermitted(f"You do not have permission to {action} orders.")


def _save(order: Order, fields: Sequence[str]) -> None:
    try:
        order.save(update_fields=[*fields, "updated_at"])
    except ConcurrentTransition as exc:
        raise StaleOrder(
            "Someone else changed this order at the same moment; reload it and try again."
        ) from exc

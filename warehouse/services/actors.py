"""Who acts in a warehouse service: a staff user, or a process named by a string
("carrier", "warehouse")."""

from django.contrib.auth.models import AbstractBaseUser

from orders.exceptions import DomainError
from warehouse.exceptions import FulfilmentRefused

Actor = AbstractBaseUser | str | None


def acting_user(actor: Actor) -> AbstractBaseUser | None:
    """The user to record as having acted (None for a process)."""
    return actor if isinstance(actor, AbstractBaseUser) else None


def require_permission(
    actor: Actor,
    permission: str,
    what: str,
    *,
    refused: type[DomainError] = FulfilmentRefused,
) -> None:
    """Staff need the permission; a process (a string actor) is trusted."""
    if isinstance(actor, AbstractBaseUser) and not actor.has_perm(permission):
        raise refused(f"You do not have permission to {what}.")

"""Who acts in a service: a staff user, or a label for anyone else ("system", "payments",
"customer ...", a partner). Every service takes `actor=` and records it (STYLE.md)."""

from django.contrib.auth.models import AbstractBaseUser

from orders.exceptions import DomainError

Actor = AbstractBaseUser | str | None


def acting_user(actor: Actor) -> AbstractBaseUser | None:
    """The user to record as having acted (None for a process or a label)."""
    return actor if isinstance(actor, AbstractBaseUser) else None


def require_permission(
    actor: Actor, permission: str, what: str, *, refused: type[DomainError]
) -> None:
    """Staff need the permission; a process (a string actor) is trusted."""
    if isinstance(actor, AbstractBaseUser) and not actor.has_perm(permission):
        raise refused(f"You do not have permission to {what}.")

"""Domain errors. Each interface (admin, pages, API) turns them into its own clear answer."""

from typing import Any


class DomainError(Exception):
    """A request the domain refuses; nothing was changed."""

    code = "invalid"
    http_status = 400

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None, **extra: Any):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.extra = extra


class InvalidOrder(DomainError):
    code = "invalid_order"
    http_status = 400


class TransitionRefused(DomainError):
    """The order is not in a state where this step is possible (or the actor may not take it)."""

    code = "transition_not_allowed"
    http_status = 409


class StaleOrder(DomainError):
    """Someone else changed the order's state meanwhile."""

    code = "conflict"
    http_status = 409

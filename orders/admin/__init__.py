"""Orders in the staff console, one module per page family."""

from orders.admin import orders  # noqa: F401

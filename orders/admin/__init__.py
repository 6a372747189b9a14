"""Orders in the staff console, one module per page family. Importing them registers their
pages; Django's admin autodiscovery imports this package."""

from orders.admin import customers, drafts, held, notifications, orders, tax  # noqa: F401

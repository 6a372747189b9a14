"""The warehouse in the staff console, one module per concern."""

from warehouse.admin import catalogue, delivery, fulfilment, packing  # noqa: F401

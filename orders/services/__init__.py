"""Order services (being split by concern)."""

from orders.services.placement import *  # noqa: F403

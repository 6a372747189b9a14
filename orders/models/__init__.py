"""The orders app's models, a module per concern; import them from `orders.models`."""

from orders.models.customers import ADDRESS_FIELDS, Address, Customer, TaxRate
from orders.models.orders import (
    CANCELLABLE_STATES,
    CUSTOMER_STATUS_LABELS,
    HOLDABLE_STATES,
    STAFF_CHANNELS,
    STATUS_PROGRESS,
    Channel,
    HeldOrder,
    HoldReason,
    Order,
    OrderHold,
    OrderLine,
    OrderStatus,
    _new_public_token,
)
from orders.models.outbox import Notification, NotificationChannel, NotificationStatus
from orders.models.timeline import EventType, OrderEvent

__all__ = [
    "ADDRESS_FIELDS",
    "CANCELLABLE_STATES",
    "CUSTOMER_STATUS_LABELS",
    "HOLDABLE_STATES",
    "STAFF_CHANNELS",
    "STATUS_PROGRESS",
    "Address",
    "Channel",
    "Customer",
    "EventType",
    "HeldOrder",
    "HoldReason",
    "Notification",
    "NotificationChannel",
    "NotificationStatus",
    "Order",
    "OrderEvent",
    "OrderHold",
    "OrderLine",
    "OrderStatus",
    "TaxRate",
    "_new_public_token",  # named by migration 0001 as the default of Order.public_token
]

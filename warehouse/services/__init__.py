"""Warehouse services (writes), one module per concern: stock (every change to stock
counts, bins and reservations), shipments, picking, packing, shipping, tracking, downloads,
appointments.

What they share (DESIGN.md, "Rules every state change follows"): each runs inside one
transaction (its own, or its caller's) and locks the rows it changes in one order, orders
(lowest id first) before their shipments before stock rows (in primary-key order), taking only
the locks it needs; orders and shipments change state only through their transitions, and an
order's change of state leaves a timeline entry naming the actor; customer emails and partner
events are outbox rows written in that transaction and sent after the commit. Stock counts,
bins and reservations change only in the stock service.

Only the stock service is re-exported here. The others import orders.services, which itself
reserves stock through this package, so they are imported from their own modules
(`from warehouse.services.shipping import shipment_ship`)."""

from warehouse.services.stock import (
    ReservationResult,
    StockDemand,
    stock_count,
    stock_receive,
    stock_receive_into_bin,
    stock_release_for_order,
    stock_reserve,
)

__all__ = [
    "ReservationResult",
    "StockDemand",
    "stock_count",
    "stock_receive",
    "stock_receive_into_bin",
    "stock_release_for_order",
    "stock_reserve",
]

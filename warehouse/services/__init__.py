"""Warehouse services (writes), one module per concern: stock (every change to stock
counts, bins and reservations), shipments, picking, packing, shipping, tracking, downloads,
appointments.

Only the stock service is re-exported here. The others import orders.services, which itself
reserves stock through this package, so they are imported from their own modules
(`from warehouse.services.shipping import shipment_ship`)."""

from warehouse.services.stock import (
    PickedUnits,
    PutBackUnits,
    ReservationResult,
    StockDemand,
    stock_count,
    stock_pick,
    stock_put_back,
    stock_receive,
    stock_release_for_order,
    stock_reserve,
)

__all__ = [
    "PickedUnits",
    "PutBackUnits",
    "ReservationResult",
    "StockDemand",
    "stock_count",
    "stock_pick",
    "stock_put_back",
    "stock_receive",
    "stock_release_for_order",
    "stock_reserve",
]

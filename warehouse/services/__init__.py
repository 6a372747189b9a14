"""Warehouse services, one module per concern. The stock service is re-exported here (orders
reserves and releases stock through it)."""

from warehouse.services.stock import (
    ReservationResult,
    StockDemand,
    stock_count,
    stock_receive,
    stock_release_for_order,
    stock_reserve,
)

__all__ = [
    "ReservationResult",
    "StockDemand",
    "stock_count",
    "stock_receive",
    "stock_release_for_order",
    "stock_reserve",
]

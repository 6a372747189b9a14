"""The warehouse app's models, a module per concern; import them from `warehouse.models`."""

from warehouse.models.catalogue import Carrier, Product, ProductKind, ShippingMethod, Warehouse
from warehouse.models.delivery import Appointment, AppointmentStatus, DigitalAsset, DownloadGrant
from warehouse.models.picking import PickList, PickListItem, PickListStatus
from warehouse.models.shipments import (
    ON_THE_WAY,
    FulfilmentOrder,
    Package,
    PackageType,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    TrackingEvent,
)
from warehouse.models.stock import (
    BinStock,
    Location,
    MovementKind,
    StockItem,
    StockMovement,
    StockReservation,
)

__all__ = [
    "ON_THE_WAY",
    "Appointment",
    "AppointmentStatus",
    "BinStock",
    "Carrier",
    "DigitalAsset",
    "DownloadGrant",
    "FulfilmentOrder",
    "Location",
    "MovementKind",
    "Package",
    "PackageType",
    "PickList",
    "PickListItem",
    "PickListStatus",
    "Product",
    "ProductKind",
    "Shipment",
    "ShipmentLine",
    "ShipmentStatus",
    "ShippingMethod",
    "StockItem",
    "StockMovement",
    "StockReservation",
    "TrackingEvent",
    "Warehouse",
]

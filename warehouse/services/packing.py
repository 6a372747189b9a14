"""Packing (step 6): the scans checked against what belongs in the box, which closes on a match."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from orders import events
from orders.actors import Actor, acting_user, require_permission
from orders.models import EventType, Order, OrderStatus
from orders.services import order_transition
from warehouse.exceptions import FulfilmentRefused
from warehouse.models import Package, PackageType, Shipment, ShipmentLine, ShipmentStatus
from warehouse.services.shipments import shipment_lock, shipment_save

SS = ShipmentStatus


@dataclass
class PackingCheck:
    expected: dict[str, int]  # barcode or SKU -> units
    scanned: dict[str, int]
    missing: dict[str, int]
    over: dict[str, int]
    unknown: list[str]

    @property
    def matches(self) -> bool:
        return not (self.missing or self.over or self.unknown)


def packable_shipments(order: Order) -> list[Shipment]:
    """Shipments to pack now: only while the order is picking (not held)."""
    if order.status != OrderStatus.PICKING:
        return []
    return list(
        order.shipments.filter(status=SS.PICKING)
        .prefetch_related(
            Prefetch("lines", queryset=ShipmentLine.objects.select_related("order_line__product"))
        )
        .order_by("pk")
    )


def packing_expected(shipment: Shipment) -> dict[str, dict[str, Any]]:
    """What should be in the box, by the code the scanner reads (barcode, else SKU)."""
    expected: dict[str, dict[str, Any]] = {}
    for line in shipment.lines.all():
        product = line.order_line.product
        code = product.barcode or product.sku
        entry = expected.setdefault(code, {"product": product, "units": 0, "picked": 0})
        entry["units"] += line.quantity
        entry["picked"] += line.picked
    return expected


def packing_check(shipment: Shipment, scans: Sequence[str]) -> PackingCheck:
    expected = {code: entry["units"] for code, entry in packing_expected(shipment).items()}
    aliases = {}
    for code, entry in packing_expected(shipment).items():
        aliases[entry["product"].sku.upper()] = code
        aliases[code.upper()] = code
    scanned: dict[str, int] = defaultdict(int)
    unknown = []
    for raw in scans:
        value = raw.strip().upper()
        if not value:
            continue
        code = aliases.get(value)
        if code is None:
            unknown.append(raw.strip())
        else:
            scanned[code] += 1
    missing = {c: n - scanned.get(c, 0) for c, n in expected.items() if scanned.get(c, 0) < n}
    over = {c: scanned[c] - expected[c] for c in scanned if scanned[c] > expected[c]}
    return PackingCheck(expected, dict(scanned), missing, over, unknown)


def shipment_pack(
    *,
    shipment_id: int,
    scans: Sequence[str],
    package_type_id: int | None,
    weight_grams: int | None,
    actor: Actor,
) -> Shipment:
    """Close the box: only when every unit was picked and the scans match exactly."""
    require_permission(
        actor, "warehouse.ship_shipment", "pack shipments", refused=FulfilmentRefused
    )
    errors: dict[str, list[str]] = {}
    if not package_type_id:
        errors["package_type"] = ["Choose the box."]
    if not weight_grams or weight_grams <= 0:
        errors["weight_grams"] = ["Enter the weight in grams."]
    if errors:
        raise FulfilmentRefused("The box is not complete.", fields=errors)
    with transaction.atomic():
        order, shipment = shipment_lock(shipment_id)
        if order.status != OrderStatus.PICKING:
            raise FulfilmentRefused(
                f"Order {order.number} is {order.get_status_display().lower()}; only orders "
                "being picked are packed."
            )
        if shipment.status != SS.PICKING:
            raise FulfilmentRefused(
                f"This shipment is {shipment.get_status_display().lower()}; it cannot be packed."
            )
        unpicked = [
            line
            for line in shipment.lines.select_related("order_line")
            if line.picked < line.quantity
        ]
        if unpicked:
            raise FulfilmentRefused(
                "Not everything is picked yet: "
                + ", ".join(f"{l.order_line.sku} {l.picked}/{l.quantity}" for l in unpicked)  # noqa: E741
                + "."
            )
        check = packing_check(shipment, scans)
        if not check.matches:
            raise FulfilmentRefused(
                "The box does not match the order: " + describe_mismatch(check),
                fields={"scans": [describe_mismatch(check)]},
            )
        package_type = PackageType.objects.filter(pk=package_type_id, is_active=True).first()
        if package_type is None:
            raise FulfilmentRefused("Choose a box.", fields={"package_type": ["Unknown box."]})
        if weight_grams > package_type.max_weight_grams:
            raise FulfilmentRefused(
                f"{weight_grams} g is more than a {package_type.name} takes "
                f"({package_type.max_weight_grams} g).",
                fields={"weight_grams": ["Too heavy for this box."]},
            )
        Package.objects.create(
            shipment=shipment,
            package_type=package_type,
            weight_grams=weight_grams,
            packed_by=acting_user(actor),
        )
        shipment.pack()
        shipment.packed_at = timezone.now()
        shipment_save(shipment, ["status", "packed_at"])
        open_shipments = order.shipments.exclude(status=SS.CANCELLED).exclude(pk=shipment.pk)
        all_packed = not open_shipments.filter(status__in=[SS.PENDING, SS.PICKING]).exists()
        if order.status == OrderStatus.PICKING and all_packed:
            order_transition(
                order,
                "pack",
                actor=actor,
                event_type=EventType.PACKED,
                message="Packed and ready to ship.",
                customer_visible=True,
            )
        else:
            events.record(
                order,
                EventType.PACKED,
                actor=actor,
                message=f"Shipment {shipment.pk} packed ({package_type.name}, {weight_grams} g).",
            )
    return shipment


def describe_mismatch(check: PackingCheck) -> str:
    parts = []
    if check.missing:
        parts.append("missing " + ", ".join(f"{n} × {c}" for c, n in check.missing.items()))
    if check.over:
        parts.append("too many " + ", ".join(f"{n} × {c}" for c, n in check.over.items()))
    if check.unknown:
        parts.append("not in this order: " + ", ".join(check.unknown))
    return "; ".join(parts) + "."

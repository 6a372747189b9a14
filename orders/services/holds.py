"""Holds: staff hold an order (or add a reason to a held one) and release it, once what it
was held for is resolved."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from orders import events, lifecycle
from orders.actors import acting_user
from orders.exceptions import InvalidOrder
from orders.models import EventType, HoldReason, Order, OrderHold, OrderStatus
from orders.notifications import queue_order_notification
from orders.services.guards import Actor, NotPermitted, _check_transition, _lock_order, _save
from orders.services.review import order_review
from warehouse.services import StockDemand, stock_reserve


def order_hold(
    *, order_id: int, actor: Actor, reason: str = HoldReason.MANUAL, note: str = ""
) -> Order:
    """Hold an order (or add a further reason to one already held)."""
    with transaction.atomic():
        order = _lock_order(order_id)
        order_hold_locked(order, actor=actor, reason=reason, note=note)
    return order


def order_hold_locked(order: Order, *, actor: Actor, reason: str, note: str = "") -> None:
    """`order_hold` for an order its caller has locked, inside the caller's transaction (a
    phase's lifecycle moment), so the caller's `order` follows the change."""
    if reason not in HoldReason.values:
        raise InvalidOrder(f"Unknown hold reason {reason!r}.", fields={"reason": ["Unknown."]})
    if order.status != OrderStatus.ON_HOLD:
        _check_transition(order, "hold", actor, "held")
        order.hold()
        _save(order, ["status", "held_from"])
    elif isinstance(actor, AbstractBaseUser) and not actor.has_perm("orders.hold_order"):
        raise NotPermitted("You do not have permission to hold orders.")
    OrderHold.objects.create(
        order=order,
        reason=reason,
        message=note,
        created_by=acting_user(actor),
    )
    events.order_held(order, actor=actor, reasons=[reason], note=note)


def order_release(*, order_id: int, actor: Actor, note: str = "") -> Order:
    """Release a held order: to `confirmed`, or back to the later state it was held from.

    An order held before its review ever ran (support held it while it was still `received`)
    is not confirmed by the release: its holds are released and it goes through the review
    at once, which confirms it (with the confirmation email) or holds it again with the
    review's own reasons (payment, address, fraud, stock, limit), each then handled as usual.
    Releasing a hold never skips the checks a confirmed order has passed.

    An order held for stock is released only once the missing units can be reserved; each
    phase may refuse while the reason it held the order for still stands, and the payments
    phase refuses any release that would confirm an order nothing pays for yet."""
    with transaction.atomic():
        order = _lock_order(order_id)
        _check_transition(order, "release", actor, "released")
        open_holds = list(order.holds.filter(released_at__isnull=True))
        reasons = [hold.reason for hold in open_holds]
        lifecycle.releasing(order=order, reasons=reasons, actor=actor)
        back_to_review = order.release_target() == OrderStatus.RECEIVED
        if not back_to_review and (
            HoldReason.OUT_OF_STOCK in reasons or order.held_from == OrderStatus.RECEIVED
        ):
            _reserve_missing_stock(order, actor)
        was_confirmed = order.confirmed_at is not None
        order.release()
        now = timezone.now()
        fields = ["status", "held_from"]
        if not was_confirmed and not back_to_review:
            order.confirmed_at = now
            fields.append("confirmed_at")
        _save(order, fields)
        OrderHold.objects.filter(pk__in=[h.pk for h in open_holds]).update(
            released_at=now, released_by=acting_user(actor)
        )
        if back_to_review:
            events.order_released(
                order, actor=actor, note=note or "Released to the review.", reasons=reasons
            )
            # The automatic review, as after placement: it runs under the system's name.
            return order_review(order_id=order.pk)
        events.order_released(order, actor=actor, note=note, reasons=reasons)
        lifecycle.released(order=order, reasons=reasons, actor=actor)
        if not was_confirmed:
            events.order_confirmed(order, actor=actor)
            queue_order_notification(order, "order_confirmation")
        if order.status == OrderStatus.CONFIRMED:
            lifecycle.confirmed(order=order, actor=actor)
    return order


def _reserve_missing_stock(order: Order, actor: Actor) -> None:
    """Reserve what a held order lacks: per shipment line in that shipment's warehouse (its
    picks come from there), and for lines not in a shipment yet, wherever it is."""
    from warehouse.models import StockReservation

    lines = {line.pk: line for line in order.lines.select_related("product")}
    reserved: dict[tuple[int, int], int] = {}
    for line_id, warehouse_id, units in StockReservation.objects.filter(
        order_line__order=order
    ).values_list("order_line_id", "stock_item__warehouse_id", "quantity"):
        reserved[(line_id, warehouse_id)] = reserved.get((line_id, warehouse_id), 0) + units
    in_shipments = set()
    missing = []
    open_shipment_lines = order.lines.filter(
        shipment_lines__shipment__status__in=["pending", "picking"]
    ).values_list(
        "pk",
        "shipment_lines__quantity",
        "shipment_lines__picked",
        "shipment_lines__shipment__warehouse_id",
    )
    for line_id, quantity, picked, warehouse_id in open_shipment_lines:
        in_shipments.add(line_id)
        held = reserved.get((line_id, warehouse_id), 0)
        need = quantity - picked - held
        reserved[(line_id, warehouse_id)] = max(held - (quantity - picked), 0)
        if need > 0:
            line = lines[line_id]
            missing.append(StockDemand(line, line.product, need, warehouse_id))
    shipped_before = set(
        order.lines.filter(shipment_lines__isnull=False).values_list("pk", flat=True)
    )
    for line in lines.values():
        if line.pk in in_shipments or line.pk in shipped_before or not line.product.needs_shipping:
            continue
        held = sum(units for (line_id, _), units in reserved.items() if line_id == line.pk)
        if held < line.quantity:
            missing.append(StockDemand(line, line.product, line.quantity - held))
    if missing:
        # Raises OutOfStock (and changes nothing) while the units are still not there.
        stock_reserve(order=order, demands=missing, actor=actor, top_up=True)
        events.record(
            order,
            EventType.STOCK_RESERVED,
            actor=actor,
            message="The missing units are now reserved.",
            data={"lines": {demand.line.sku: demand.quantity for demand in missing}},
        )

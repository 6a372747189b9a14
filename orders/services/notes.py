"""Staff notes on an order's timeline."""

from django.db import transaction

from orders import events
from orders.exceptions import InvalidOrder
from orders.models import Order
from orders.services.guards import Actor, _lock_order


def order_add_note(*, order_id: int, actor: Actor, note: str) -> Order:
    note = note.strip()
    if not note:
        raise InvalidOrder("The note is empty.", fields={"note": ["Write something."]})
    with transaction.atomic():
        order = _lock_order(order_id)
        events.note_added(order, actor=actor, note=note)
    return order

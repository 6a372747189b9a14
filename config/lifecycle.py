"""The phases that take part in an order's lifecycle, registered here and only here.

The order of this tuple is lifecycle order: every moment (placing, releasing, confirmed,
ready, delivered, cancelled, completed, the order-event feed) calls the phases in it, so it
is also the order in which phases take row locks across apps. See orders/lifecycle.py.
"""

from orders.api.lifecycle import PartnerWebhooksPhase
from orders.lifecycle import OrderPhase
from payments.lifecycle import PaymentsPhase
from warehouse.lifecycle import WarehousePhase

PHASES: tuple[OrderPhase, ...] = (
    PaymentsPhase(),
    WarehousePhase(),
    PartnerWebhooksPhase(),
)

"""Order services: every write to an order goes through here (DESIGN.md rules 2 and 5).

Each service is atomic, locks the order row, checks, calls the transition, saves, writes the
timeline with the actor, and registers side effects to run after the commit. One module per
concern; callers import from `orders.services`.
"""

from orders.services.accounts import (
    customer_account_claim,
    customer_account_create,
    customer_claim_link_send,
    customer_with_orders_to_claim,
)
from orders.services.cancellation import order_cancel
from orders.services.completion import (
    order_complete,
    orders_complete_due,
    orders_due_for_completion,
)
from orders.services.customer import (
    OrderGrant,
    customer_can_change,
    order_cancel_by_customer,
    order_change_shipping_address,
    order_revoke_links,
)
from orders.services.drafts import (
    DraftLine,
    order_place_draft,
    order_save_draft,
    order_save_draft_lines,
)
from orders.services.guards import Actor, NotPermitted
from orders.services.holds import order_hold, order_hold_locked, order_release
from orders.services.notes import order_add_note
from orders.services.placement import (
    MAX_LINES,
    MAX_QUANTITY,
    AddressInput,
    LineInput,
    PlacementResult,
    Quote,
    address_problems,
    order_place,
    order_quote,
    shipping_method_problem,
)
from orders.services.pricing import add_working_days, compute_tax, shipping_methods_serving
from orders.services.review import order_review
from orders.services.transitions import lock_order, order_secure_payment, order_transition

__all__ = [
    "MAX_LINES",
    "MAX_QUANTITY",
    "Actor",
    "AddressInput",
    "DraftLine",
    "LineInput",
    "NotPermitted",
    "OrderGrant",
    "PlacementResult",
    "Quote",
    "add_working_days",
    "address_problems",
    "compute_tax",
    "customer_account_claim",
    "customer_account_create",
    "customer_can_change",
    "customer_claim_link_send",
    "customer_with_orders_to_claim",
    "lock_order",
    "order_add_note",
    "order_cancel",
    "order_cancel_by_customer",
    "order_change_shipping_address",
    "order_complete",
    "order_hold",
    "order_hold_locked",
    "order_place",
    "order_place_draft",
    "order_quote",
    "order_release",
    "order_review",
    "order_revoke_links",
    "order_save_draft",
    "order_save_draft_lines",
    "order_secure_payment",
    "order_transition",
    "orders_complete_due",
    "orders_due_for_completion",
    "shipping_method_problem",
    "shipping_methods_serving",
]

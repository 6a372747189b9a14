"""What a customer may change on their own order from the site (cancel it, change where it
goes, before picking starts), and revoking the links they were sent."""

import logging
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from orders import events
from orders.countries import country_code_problem, country_name
from orders.exceptions import InvalidOrder, TransitionRefused
from orders.models import EventType, Order, OrderStatus
from orders.selectors import order_link_opens
from orders.services.cancellation import order_cancel
from orders.services.guards import Actor, _lock_order, _save
from orders.services.placement import AddressInput, address_problems, shipping_method_problem

logger = logging.getLogger(__name__)


# "Before picking starts": until then a customer may cancel or change the shipping address.
CUSTOMER_CHANGEABLE_STATES = (
    OrderStatus.RECEIVED,
    OrderStatus.ON_HOLD,
    OrderStatus.CONFIRMED,
    OrderStatus.READY,
)
MAX_REASON_LENGTH = 1000


def customer_can_change(order: Order) -> bool:
    """Whether the customer may still cancel the order or change where it goes: before
    picking starts (a held order counts by the state it was held from)."""
    if order.status == OrderStatus.ON_HOLD:
        return order.held_from in ("", *CUSTOMER_CHANGEABLE_STATES)
    return order.status in CUSTOMER_CHANGEABLE_STATES


@dataclass(frozen=True)
class OrderGrant:
    """What entitles someone on the site to change one order: the signed-in account the order
    is in (Order.account), or the guest link emailed for it (its signed token). The customer
    record grants nothing: every order ever placed under an email shares it, signed in or
    not, the account holder's or a stranger's."""

    account: Any = None
    link_token: str = ""

    @classmethod
    def signed_in(cls, user: Any) -> "OrderGrant":
        return cls(account=user)

    @classmethod
    def guest_link(cls, token: str) -> "OrderGrant":
        return cls(link_token=token)

    def opens(self, order: Order) -> bool:
        """Whether this grant covers `order` (locked by the caller); LinkRefused for a guest
        link that is tampered with, expired or revoked."""
        if self.account is not None:
            signed_in = getattr(self.account, "is_authenticated", False)
            return bool(signed_in) and order.account_id == self.account.pk
        if self.link_token:
            return order_link_opens(self.link_token, order)
        return False

    def actor(self, order: Order) -> str:
        # A label, not the user: the order transitions require staff permissions that
        # customers do not have; the customer's right to act is checked here instead (this
        # grant and the order's state).
        if self.account is not None:
            return f"customer {self.account.email}"[:100]
        return f"customer {order.email} (guest link)"[:100]


def _lock_customer_order(order_id: int, grant: OrderGrant, verb: str) -> Order:
    order = Order.objects.select_for_update(of=("self",), no_key=True).filter(pk=order_id).first()
    if order is None or not grant.opens(order):
        raise InvalidOrder("We could not find that order.", fields={"order": ["Not found."]})
    if not customer_can_change(order):
        raise TransitionRefused(
            f"Order {order.number} is {order.get_status_display().lower()}: it can no longer "
            f"be {verb} online. Please contact us and quote the order number."
        )
    return order


def order_cancel_by_customer(*, order_id: int, grant: OrderGrant, reason: str) -> Order:
    """The customer cancels their own order before picking starts, with a reason. `grant`
    says how they reach it: their account, or the order's guest link."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise InvalidOrder(
            "Tell us why you are cancelling.", fields={"reason": ["Please give a reason."]}
        )
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidOrder(
            "The reason is too long.",
            fields={"reason": [f"Use at most {MAX_REASON_LENGTH} characters."]},
        )
    with transaction.atomic():
        order = _lock_customer_order(order_id, grant, "cancelled")
        return order_cancel(
            order_id=order_id,
            actor=grant.actor(order),
            reason=f"Cancelled by the customer: {reason}",
        )


def order_change_shipping_address(
    *, order_id: int, grant: OrderGrant, address: AddressInput
) -> Order:
    """The customer changes where their order goes, before picking starts (`grant`: their
    account, or the order's guest link). The order gets a new address row of its own; the
    country stays the same, because tax and shipping were priced for it (to ship to another
    country, cancel and order again). Only an address whose country is no country code (from
    before codes were checked) may name another one. The order's shipping method must deliver
    to the new address (its zone)."""
    new_address = address.to_model()
    errors = address_problems(new_address, deliverable=True)
    if errors:
        raise InvalidOrder(
            "The address is not valid: " + " ".join(errors),
            fields={"shipping_address": errors},
        )
    with transaction.atomic():
        order = _lock_customer_order(order_id, grant, "changed")
        current = order.shipping_address
        if current is None:
            raise InvalidOrder(
                f"Order {order.number} has nothing to ship, so it has no shipping address.",
                fields={"shipping_address": ["Nothing to ship."]},
            )
        moved_from_no_country = new_address.country != current.country and bool(
            country_code_problem(current.country)
        )
        if new_address.country != current.country and not moved_from_no_country:
            raise InvalidOrder(
                "Orders cannot move to another country (this one ships to "
                f"{country_name(current.country)}). To ship elsewhere, cancel the order and "
                "order again.",
                fields={"country": [f"Keep {country_name(current.country)}."]},
            )
        if new_address.as_lines() == current.as_lines() and new_address.phone == current.phone:
            return order
        method = order.shipping_method
        if method is not None and (problem := shipping_method_problem(method, new_address)):
            field = "postal_code" if new_address.country in method.countries else "country"
            message = f"{problem} To send the order elsewhere, cancel it and order again."
            raise InvalidOrder(message, fields={field: [message]})
        new_address.customer_id = None
        new_address.save()
        order.shipping_address = new_address
        _save(order, ["shipping_address"])
        events.record(
            order,
            EventType.NOTE,
            actor=grant.actor(order),
            message="Shipping address changed to: " + ", ".join(new_address.as_lines()) + ".",
            data={
                "change": "shipping_address",
                "from_address": current.pk,
                "to_address": new_address.pk,
            },
            customer_visible=True,
        )
        if moved_from_no_country:
            _note_country_corrected(order, current.country, new_address.country)
        logger.info("shipping address changed by customer", extra={"order": order.number})
    return order


def _note_country_corrected(order: Order, old: str, new: str) -> None:
    """For staff: the order was priced for a code that is no country."""
    events.record(
        order,
        EventType.NOTE,
        actor="system",
        message=(
            f"The customer corrected the shipping country from “{old}” (not a country code) "
            f"to {new}. Tax and shipping were priced for “{old}”: check them before releasing."
        ),
        data={"change": "shipping_country", "from_country": old, "to_country": new},
    )


def order_revoke_links(*, order_id: int, actor: Actor) -> Order:
    """Revoke every link sent for an order (guest order page and pay-again links) by giving
    it a new public token. Staff use it when a link was forwarded to the wrong person."""
    with transaction.atomic():
        order = _lock_order(order_id)
        order.public_token = secrets.token_urlsafe(24)
        _save(order, ["public_token"])
        events.record(
            order,
            EventType.NOTE,
            actor=actor,
            message="Customer links revoked: earlier order and payment links no longer work.",
            data={"change": "links_revoked"},
        )
    return order

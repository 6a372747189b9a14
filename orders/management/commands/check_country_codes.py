"""Find orders still to ship whose shipping country is not an ISO 3166-1 alpha-2 code (placed
before codes were checked) and hold them for `address_invalid`, so that nobody ships them to
"XX". Run it once after upgrading; running it again holds nothing twice.

    python manage.py check_country_codes            # list and hold
    python manage.py check_country_codes --dry-run  # only list
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import pluralize

from orders.countries import orders_to_unknown_countries
from orders.exceptions import DomainError
from orders.models import HoldReason, Order, OrderStatus
from orders.services import order_hold

ACTOR = "check_country_codes"


def _hold_note(order: Order) -> str:
    return (
        f"The shipping country “{order.shipping_address.country}” is not an ISO 3166-1 country "
        "code (the order was placed before codes were checked). The customer can correct the "
        "address on the order page; release the order once it is right."
    )


def _held_for_address(order: Order) -> bool:
    return (
        order.status == OrderStatus.ON_HOLD
        and order.holds.filter(reason=HoldReason.ADDRESS_INVALID, released_at__isnull=True).exists()
    )


class Command(BaseCommand):
    help = (
        "Hold orders still to ship whose shipping country is not an ISO 3166-1 alpha-2 code "
        "(address_invalid); --dry-run only lists them."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--dry-run", action="store_true", help="list them, hold nothing")

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        orders = list(orders_to_unknown_countries())
        failed = 0
        for order in orders:
            label = f"{order.number} ({order.status}) ships to “{order.shipping_address.country}”"
            if _held_for_address(order):
                self.stdout.write(f"{label}: already held for its address")
            elif dry_run:
                self.stdout.write(f"{label}: would be held")
            else:
                try:
                    order_hold(
                        order_id=order.pk,
                        actor=ACTOR,
                        reason=HoldReason.ADDRESS_INVALID,
                        note=_hold_note(order),
                    )
                except DomainError as exc:
                    failed += 1
                    self.stderr.write(f"{label}: not held: {exc.message}")
                else:
                    self.stdout.write(f"{label}: held (address_invalid)")
        found = len(orders)
        self.stdout.write(f"{found} order{pluralize(found)} with a country code that is not one.")
        if failed:
            raise CommandError(
                f"{failed} order{pluralize(failed)} could not be held; run the command again."
            )

"""The signed links we email: a guest's order page, paying again, adding a guest's orders to an
account, downloading a file.

A link's token is a small payload signed with the SECRET_KEY under the salt of its kind (so a
token of one kind is worthless as another) together with the second it was signed in, so a
link can expire without a database row. Tokens already emailed must keep working: a kind's
salt and payload fields never change; a new format is a new kind.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signing

from orders.exceptions import DomainError

if TYPE_CHECKING:
    from orders.models import Order


class LinkRefused(DomainError):
    """A signed link that is tampered with, expired, revoked or meant for someone else; the
    message says which, in the customer's words."""

    code = "link_refused"
    http_status = 404


@dataclass(frozen=True)
class LinkKind:
    """One kind of link: its salt, the fields its payload carries, and what a refused one
    says."""

    salt: str
    fields: tuple[str, ...]
    invalid: str
    # Shown for an expired link; the `invalid` message when empty.
    expired: str = ""
    # Read when a link is opened, so a changed setting applies to the links already sent too.
    # None: the signature never expires (the link's own row decides).
    max_age: Callable[[], timedelta] | None = None
    compress: bool = False


ORDER_LINK = LinkKind(
    salt="orders.guest-link",
    fields=("order", "token"),
    invalid="This order link is not valid. Please check it is complete.",
    expired=(
        "This order link has expired. Log in to see your order, or reply to one of our emails "
        "and we will send you a new link."
    ),
    max_age=lambda: timedelta(days=settings.ORDER_LINK_MAX_AGE_DAYS),
)

PAY_LINK = LinkKind(
    salt="payments.pay-again",
    fields=("order", "token"),
    invalid="This payment link is not valid.",
    expired="This payment link has expired; contact us for a new one.",
    max_age=lambda: timedelta(days=settings.PAY_LINK_MAX_AGE_DAYS),
)

CLAIM_LINK = LinkKind(
    salt="orders.claim-orders",
    fields=("user", "customer"),
    invalid="This link is not valid or has expired. Ask for a new one on My orders.",
    max_age=lambda: timedelta(days=3),
)

# A download grant keeps its own expiry and download count, so staff can extend or revoke it.
DOWNLOAD_LINK = LinkKind(
    salt="warehouse.download",
    fields=("grant",),
    invalid="This download link is not valid.",
    compress=True,
)


def make(kind: LinkKind, payload: dict[str, Any]) -> str:
    """A token carrying `payload`, which has exactly the kind's fields."""
    if set(payload) != set(kind.fields):
        raise ValueError(f"A {kind.salt} link carries {kind.fields}, not {tuple(payload)}.")
    ordered = {field: payload[field] for field in kind.fields}
    return signing.dumps(ordered, salt=kind.salt, compress=kind.compress)


def read(kind: LinkKind, token: str) -> dict[str, Any]:
    """The payload of a token of this kind; LinkRefused when it is tampered with, of another
    kind, or expired."""
    max_age = kind.max_age() if kind.max_age is not None else None
    try:
        payload = signing.loads(token, salt=kind.salt, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise LinkRefused(kind.expired or kind.invalid) from exc
    except signing.BadSignature as exc:
        raise LinkRefused(kind.invalid) from exc
    if not isinstance(payload, dict) or any(field not in payload for field in kind.fields):
        raise LinkRefused(kind.invalid)
    return payload


def make_for_order(kind: LinkKind, order: "Order") -> str:
    """A link of this kind to `order`. It carries the order's public token, so rotating that
    (order_revoke_links) revokes every link sent for the order so far."""
    return make(kind, {"order": order.pk, "token": order.public_token})

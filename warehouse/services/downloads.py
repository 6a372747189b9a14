"""Delivery without a parcel for digital goods: download links.

Download links are signed (tampering is detected without a database lookup), expire, and
count downloads with a conditional UPDATE so two clicks at once cannot pass the limit. An
order whose product has no file is held until staff upload it and release the order; staff
can send an order's links again (extending expired ones).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.template.defaultfilters import pluralize
from django.utils import timezone

from orders import events, signed_links
from orders.actors import Actor
from orders.models import EventType, HoldReason, Notification, Order, OrderStatus
from orders.notifications import queue_order_notification
from orders.services import NotPermitted, lock_order, order_hold_locked
from orders.signed_links import DOWNLOAD_LINK, LinkRefused
from payments.selectors import order_fully_refunded
from warehouse.exceptions import DownloadRefused, FulfilmentRefused
from warehouse.models import DigitalAsset, DownloadGrant

RESEND_PERMISSION = "warehouse.resend_download_links"


def download_token(grant: DownloadGrant) -> str:
    return signed_links.make(DOWNLOAD_LINK, {"grant": grant.pk})


def download_url(grant: DownloadGrant) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/downloads/{download_token(grant)}/"


def products_without_file(order: Order) -> list[str]:
    """The SKUs of the order's digital lines whose product has no file to download."""
    lines = order.lines.filter(product_kind="digital")
    missing = lines.exclude(product__digital_assets__isnull=False)
    return sorted(set(missing.values_list("sku", flat=True)))


def _which_have(skus: Sequence[str]) -> str:
    if len(skus) == 1:
        return f"the product {skus[0]} has"
    return f"the products {', '.join(skus)} have"


def downloads_missing_note(skus: Sequence[str]) -> str:
    """What staff read on the hold (and in the held-orders queue)."""
    which = _which_have(skus)
    return (
        f"{which[0].upper()}{which[1:]} no file to download. Upload it under Warehouse → "
        "Digital assets, then release the order: the download links go out when it is released."
    )


def grant_downloads(*, order: Order, actor: Actor) -> bool:
    """Give the order's digital lines their links and email them, once every digital line's
    product has its file. True when it has digital lines and every one got its links. An
    order (locked by the caller, `ready`) with a line whose product has no file yet gets no
    links at all: it is held (`download_missing`) with a note naming the products, and the
    links go out, all in one email, when staff release it (`downloads_on_order_released`).
    A line gets one link per file however often this runs, and the links are emailed once:
    when every link was emailed already (staff held an order whose links went out for a
    missing file, and released it) nothing is sent again; a file added to a product since
    sends an email with all the order's links."""
    lines = list(order.lines.filter(product_kind="digital").select_related("product"))
    if not lines:
        return False
    missing = products_without_file(order)
    if missing:
        if order.status == OrderStatus.READY:
            order_hold_locked(
                order,
                actor="warehouse",
                reason=HoldReason.DOWNLOAD_MISSING,
                note=downloads_missing_note(missing),
            )
        return False
    assets: dict[int, list[DigitalAsset]] = {}
    for asset in DigitalAsset.objects.filter(product_id__in=[line.product_id for line in lines]):
        assets.setdefault(asset.product_id, []).append(asset)
    now = timezone.now()
    grants = []
    new_links = False
    for line in lines:
        for asset in assets.get(line.product_id, []):
            grant, created = DownloadGrant.objects.get_or_create(
                order_line=line,
                asset=asset,
                defaults={
                    "expires_at": now + timedelta(days=asset.link_valid_days),
                    "max_downloads": asset.max_downloads * line.quantity,
                },
            )
            grants.append(grant)
            new_links = new_links or created
    emailed = Notification.objects.filter(order=order, kind="download_links").exists()
    if emailed and not new_links:
        return True  # every link is in an email the customer has (resending is staff's)
    _send_links(
        order,
        grants,
        actor=actor,
        message=f"Download links sent for {len(grants)} file{pluralize(len(grants))}.",
        # An order emailed before (a file added to a product since) gets a new email with
        # all its links; otherwise the order's first, which the outbox writes at most once.
        again=emailed,
    )
    return True


def _send_links(
    order: Order, grants: Sequence[DownloadGrant], *, actor: Actor, message: str, again: bool
) -> None:
    """The timeline entry and the download email (an outbox row) with `grants`' links. An
    email sent `again` is a new row; otherwise the order's first one, written at most once."""
    links = [
        {
            "grant": g.pk,
            "name": g.asset.filename,
            "url": download_url(g),
            "expires": g.expires_at.isoformat(),
            "downloads": max(g.max_downloads - g.download_count, 0),
        }
        for g in grants
    ]
    reference = ""
    if again:
        sent = Notification.objects.filter(order=order, kind="download_links").count()
        reference = f"send-{sent + 1}"
    events.record(
        order,
        EventType.DOWNLOADS_SENT,
        actor=actor,
        message=message,
        data={"grants": [g.pk for g in grants], "reference": reference},
        customer_visible=True,
    )
    queue_order_notification(order, "download_links", reference=reference, links=links)


def downloads_on_order_released(*, order: Order, reasons: Sequence[str]) -> None:
    """The `released` moment: an order held because a product had no file, released back to
    `ready` (the warehouse phase refused the release while the file was still missing), gets
    its links now; one of only digital goods is then delivered."""
    if HoldReason.DOWNLOAD_MISSING not in reasons or order.status != OrderStatus.READY:
        return
    from warehouse.services.shipments import fulfil_if_nothing_to_ship

    # The warehouse's own work, as when the order first became ready: whoever released it
    # (Customer service, say) need not be allowed to fulfil orders themselves.
    if grant_downloads(order=order, actor="warehouse"):
        fulfil_if_nothing_to_ship(order, actor="warehouse")


def downloads_check_release(*, order: Order, reasons: Sequence[str]) -> None:
    """The `releasing` moment: an order held because a product had no file is not released
    while that product still has none."""
    if HoldReason.DOWNLOAD_MISSING not in reasons:
        return
    missing = products_without_file(order)
    if missing:
        raise FulfilmentRefused(
            f"Order {order.number} cannot be released yet: there is still no file to "
            f"download for {', '.join(missing)}. Upload it under Warehouse → Digital assets, "
            "then release the order again.",
            fields={"hold": [f"No file to download for {', '.join(missing)}."]},
        )


@dataclass(frozen=True)
class LinksResent:
    files: int
    extended: int
    used_up: list[str]


def download_links_resend(*, order_id: int, actor: Actor) -> LinksResent:
    """Staff send the customer the order's download links again, in a new email. Links past
    their expiry date are extended by their file's `link_valid_days` from now; the number of
    downloads left is not reset (a link used up stays used up: `used_up` names its files).
    Refused for an order cancelled or refunded in full (its links are revoked) and for one
    on hold (a fraud check, say) until it is released."""
    if isinstance(actor, AbstractBaseUser) and not actor.has_perm(RESEND_PERMISSION):
        raise NotPermitted("You do not have permission to resend download links.")
    with transaction.atomic():
        order = lock_order(order_id)
        refusal = _revoked_refusal(order)
        if refusal:
            raise FulfilmentRefused(refusal)
        grants = list(
            DownloadGrant.objects.select_for_update(of=("self",), no_key=True)
            .filter(order_line__order=order, revoked_at__isnull=True)
            .select_related("asset")
            .order_by("pk")
        )
        if not grants:
            raise FulfilmentRefused(f"Order {order.number} has no download links to resend.")
        if order.status == OrderStatus.ON_HOLD:
            held_for = ", ".join(HoldReason(r).label for r in order.active_hold_reasons())
            raise FulfilmentRefused(
                f"Order {order.number} is on hold ({held_for}): its download links are not "
                "sent while it is held. Release the order first."
            )
        now = timezone.now()
        extended = [g for g in grants if g.expires_at <= now]
        for grant in extended:
            grant.expires_at = now + timedelta(days=grant.asset.link_valid_days)
        DownloadGrant.objects.bulk_update(extended, ["expires_at"])
        used_up = [g.asset.filename for g in grants if g.download_count >= g.max_downloads]
        message = f"Download links sent again for {len(grants)} file{pluralize(len(grants))}"
        if extended:
            message += f"; {len(extended)} expired link{pluralize(len(extended))} extended"
        _send_links(order, grants, actor=actor, message=message + ".", again=True)
    return LinksResent(files=len(grants), extended=len(extended), used_up=used_up)


def _revoked_refusal(order: Order) -> str:
    """Why the order's links may not be sent again because they are revoked, or "": a
    cancelled order, and one refunded in full (refunded before its links were revoked on a
    full refund, too)."""
    if order.status == OrderStatus.CANCELLED:
        return (
            f"Order {order.number} is cancelled: its download links are revoked, so there is "
            "nothing to resend."
        )
    if order_fully_refunded(order):
        return (
            f"Order {order.number} is fully refunded: its download links are revoked, so "
            "there is nothing to resend."
        )
    return ""


def revoke_downloads(*, order: Order) -> int:
    return DownloadGrant.objects.filter(order_line__order=order, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


def downloads_on_payment_refunded(*, order: Order) -> None:
    """The `payment.refunded` event (the order locked by the refund): once everything paid
    for the order is refunded, its download links stop working (`download_open` refuses a
    revoked link), with a line on the timeline. A partial refund leaves them."""
    if not order_fully_refunded(order):
        return
    revoked = revoke_downloads(order=order)
    if revoked:
        events.record(
            order,
            EventType.NOTE,
            actor="warehouse",
            message=f"Download links revoked ({revoked} file{pluralize(revoked)}): the order "
            "is fully refunded.",
        )


def download_open(*, token: str) -> DownloadGrant:
    """Check a download link and count the download. DownloadRefused says why not."""
    try:
        payload = signed_links.read(DOWNLOAD_LINK, token)
    except LinkRefused as refusal:
        raise DownloadRefused(refusal.message) from refusal
    grant = (
        DownloadGrant.objects.select_related("asset", "order_line__order")
        .filter(pk=payload["grant"])
        .first()
    )
    if grant is None or grant.revoked_at is not None:
        raise DownloadRefused("This download link is no longer valid.")
    if grant.expires_at <= timezone.now():
        raise DownloadRefused("This download link has expired; contact us for a new one.")
    counted = DownloadGrant.objects.filter(
        pk=grant.pk, download_count__lt=F("max_downloads"), revoked_at__isnull=True
    ).update(download_count=F("download_count") + 1)
    if not counted:
        raise DownloadRefused(
            f"This link has been used {grant.max_downloads} times, its limit; contact us."
        )
    grant.download_count += 1
    return grant

"""Delivery without a parcel for digital goods: download links.

Download links are signed (tampering is detected without a database lookup), expire, and
count downloads with a conditional UPDATE so two clicks at once cannot pass the limit.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.template.defaultfilters import pluralize
from django.utils import timezone

from orders import events, signed_links
from orders.actors import Actor
from orders.models import EventType, Order
from orders.notifications import queue_order_notification
from orders.signed_links import DOWNLOAD_LINK, LinkRefused
from warehouse.exceptions import DownloadRefused
from warehouse.models import DigitalAsset, DownloadGrant


def download_token(grant: DownloadGrant) -> str:
    return signed_links.make(DOWNLOAD_LINK, {"grant": grant.pk})


def download_url(grant: DownloadGrant) -> str:
    return f"{settings.SITE_URL.rstrip('/')}/downloads/{download_token(grant)}/"


def grant_downloads(*, order: Order, actor: Actor) -> bool:
    """Give the order's digital lines their links and email them. True when it has digital
    lines and every one got its links (a line whose product has no file yet gets none).
    Safe to call twice."""
    lines = list(order.lines.filter(product_kind="digital").select_related("product"))
    if not lines:
        return False
    assets = {}
    for asset in DigitalAsset.objects.filter(product_id__in=[line.product_id for line in lines]):
        assets.setdefault(asset.product_id, []).append(asset)
    now = timezone.now()
    grants = []
    for line in lines:
        for asset in assets.get(line.product_id, []):
            grant, _ = DownloadGrant.objects.get_or_create(
                order_line=line,
                asset=asset,
                defaults={
                    "expires_at": now + timedelta(days=asset.link_valid_days),
                    "max_downloads": asset.max_downloads * line.quantity,
                },
            )
            grants.append(grant)
    missing = [line.sku for line in lines if line.product_id not in assets]
    if missing:
        events.record(
            order,
            EventType.NOTE,
            actor="warehouse",
            message="No file is attached to " + ", ".join(missing) + "; add one in the "
            "Digital assets admin, then resend the download links.",
        )
    if grants:
        links = [
            {
                "name": g.asset.filename,
                "url": download_url(g),
                "expires": g.expires_at.isoformat(),
                "downloads": g.max_downloads,
            }
            for g in grants
        ]
        events.record(
            order,
            EventType.DOWNLOADS_SENT,
            actor=actor,
            message=f"Download links sent for {len(grants)} file{pluralize(len(grants))}.",
            customer_visible=True,
        )
        queue_order_notification(order, "download_links", links=links)
    return not missing


def revoke_downloads(*, order: Order) -> int:
    return DownloadGrant.objects.filter(order_line__order=order, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
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

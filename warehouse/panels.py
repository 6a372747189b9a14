"""The warehouse phase's panel on the staff console's order page: the order's download links,
with the button that sends them again. Kept apart from the admin modules, so the lifecycle
(which workers load too) does not import the staff console."""

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from orders.models import Order, OrderStatus
from warehouse.models import DownloadGrant
from warehouse.services.downloads import RESEND_PERMISSION


def downloads_panel(order: Order, request: HttpRequest) -> str:
    """The order's download links (one query): each file, downloads used, until when; and
    **Resend download links** for staff allowed to, unless the order is cancelled or on hold
    or its links are revoked (a full refund); the service says why when pressed anyway."""
    if order.number is None or not request.user.has_perm("warehouse.view_downloadgrant"):
        return ""
    grants = list(
        DownloadGrant.objects.filter(order_line__order=order)
        .select_related("asset", "order_line")
        .order_by("pk")
    )
    if not grants:
        return ""
    now = timezone.now()
    rows = [
        {
            "grant": grant,
            "state": (
                "revoked"
                if grant.revoked_at
                else "expired"
                if grant.expires_at <= now
                else "used up"
                if grant.download_count >= grant.max_downloads
                else "usable"
            ),
        }
        for grant in grants
    ]
    return render_to_string(
        "admin/warehouse/order_downloads_panel.html",
        {
            "order": order,
            "rows": rows,
            "can_resend": request.user.has_perm(RESEND_PERMISSION)
            and order.status not in (OrderStatus.CANCELLED, OrderStatus.ON_HOLD)
            and any(grant.revoked_at is None for grant in grants),
        },
        request=request,
    )

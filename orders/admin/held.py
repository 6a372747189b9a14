"""The held-orders queue in the staff console, oldest first: staff release or cancel the
selected orders in bulk, with a note."""

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from orders import selectors, services
from orders.admin.orders import HoldReasonFilter, OrderAdmin
from orders.exceptions import DomainError
from orders.models import HeldOrder, Order, OrderStatus


@admin.register(HeldOrder)
class HeldOrderAdmin(admin.ModelAdmin):
    list_display = [
        "order_link",
        "customer_display",
        "total_display",
        "hold_reasons_display",
        "held_since",
        "held_from",
        "status",
        "placed_at",
    ]
    list_filter = [HoldReasonFilter, "channel"]
    search_fields = ["=number", "email", "customer__name"]
    actions = ["release_selected", "cancel_selected"]
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Not ModelAdmin's queryset: it is sorted by get_ordering's annotation before the
        # queue adds it.
        return selectors.held_order_queue(self.model._default_manager.get_queryset())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("orders.view_order")

    def has_release_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.release_order")

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.cancel_order")

    @admin.display(description="order", ordering="number")
    def order_link(self, order: Order) -> str:
        url = reverse("admin:orders_order_change", args=[order.pk])
        return format_html('<a href="{}">{}</a>', url, order.number)

    customer_display = OrderAdmin.customer_display
    total_display = OrderAdmin.total_display

    @admin.display(description="hold reasons")
    def hold_reasons_display(self, order: Order) -> str:
        """Each open hold's reason with its note: what staff must put right before releasing
        ("Download file missing: The product EBOOK-001 has no file to download. ...")."""
        return format_html_join(
            mark_safe("<br>"),
            "<strong>{}</strong>{}",
            (
                (hold.get_reason_display(), f": {hold.message}" if hold.message else "")
                for hold in getattr(order, "open_holds", [])
            ),
        )

    def get_ordering(self, request: HttpRequest) -> list[str]:
        # Oldest first: the order waiting longest for a person (held_order_queue).
        return ["queued_since", "pk"]

    @admin.display(description="held since", ordering="queued_since")
    def held_since(self, order: Order) -> str:
        since = getattr(order, "queued_since", None)
        return f"{timezone.localtime(since):%Y-%m-%d %H:%M}" if since else "–"

    def _bulk(
        self, request: HttpRequest, queryset: QuerySet, *, verb: str, run: Callable[..., Any]
    ) -> Any:
        """First a page asking for the note, then `run` for each order; an order that cannot
        be changed is reported and does not stop the others."""
        if "apply" not in request.POST:
            count = queryset.count()
            return TemplateResponse(
                request,
                "admin/orders/heldorder/bulk_action.html",
                {
                    **self.admin_site.each_context(request),
                    "title": f"{verb.capitalize()} {count} held order{pluralize(count)}",
                    "orders": queryset,
                    "verb": verb,
                    "action": request.POST.get("action"),
                    "opts": self.model._meta,
                    "note_required": verb == "cancel",
                },
            )
        note = request.POST.get("note", "").strip()
        if verb == "cancel" and not note:
            self.message_user(request, "A reason is required to cancel orders.", messages.ERROR)
            return None
        done, held_again, refused = [], [], []
        for order in queryset:
            try:
                result = run(order_id=order.pk, actor=request.user, note=note)
            except DomainError as exc:
                refused.append(f"{order.number}: {exc.message}")
                continue
            # An order held before its review went through the review, which held it again.
            (held_again if result.status == OrderStatus.ON_HOLD else done).append(order.number)
        if done:
            past = {"release": "Released", "cancel": "Cancelled"}[verb]
            self.message_user(request, f"{past}: {', '.join(done)}.", messages.SUCCESS)
        if held_again:
            self.message_user(
                request,
                f"Released to the review, which held them again: {', '.join(held_again)}. "
                "Their new reasons are in the queue.",
                messages.WARNING,
            )
        for message in refused:
            self.message_user(request, message, messages.ERROR)
        return None

    @admin.action(description="Release selected orders (with a note)", permissions=["release"])
    def release_selected(self, request: HttpRequest, queryset: QuerySet) -> Any:
        return self._bulk(
            request,
            queryset,
            verb="release",
            run=lambda **kw: services.order_release(**kw),
        )

    @admin.action(description="Cancel selected orders (with a reason)", permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet) -> Any:
        return self._bulk(
            request,
            queryset,
            verb="cancel",
            run=lambda *, order_id, actor, note: services.order_cancel(
                order_id=order_id, actor=actor, reason=note
            ),
        )

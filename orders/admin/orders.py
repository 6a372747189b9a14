"""The order pages of the staff console: the order list, an order's page with its status,
buttons, panels, holds, timeline and notifications, and the view the buttons post to. Every
state change goes through a service (DESIGN.md rule 5); the admin only collects input and
reports the outcome."""

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from orders import lifecycle, selectors
from orders.admin.buttons import ORDER_ACTIONS, available_actions
from orders.admin.drafts import DraftOrderAdmin, OrderLineInline
from orders.admin_base import ReadOnlyInline
from orders.exceptions import DomainError
from orders.models import (
    Address,
    HoldReason,
    Notification,
    Order,
    OrderEvent,
    OrderHold,
    OrderStatus,
)

STATUS_COLOURS = {
    OrderStatus.DRAFT: "#71717a",
    OrderStatus.RECEIVED: "#2563eb",
    OrderStatus.ON_HOLD: "#dc2626",
    OrderStatus.CONFIRMED: "#0891b2",
    OrderStatus.READY: "#7c3aed",
    OrderStatus.PICKING: "#c2410c",
    OrderStatus.PACKED: "#a16207",
    OrderStatus.PARTIALLY_SHIPPED: "#4d7c0f",
    OrderStatus.SHIPPED: "#15803d",
    OrderStatus.DELIVERED: "#166534",
    OrderStatus.COMPLETED: "#3f3f46",
    OrderStatus.CANCELLED: "#52525b",
}


def status_badge(order: Order) -> str:
    return format_html(
        '<span style="background:{};color:#fff;padding:2px 8px;border-radius:10px;'
        'white-space:nowrap;">{}</span>',
        STATUS_COLOURS.get(order.status, "#52525b"),
        order.get_status_display(),
    )


class HoldReasonFilter(admin.SimpleListFilter):
    title = "hold reason"
    parameter_name = "hold_reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(HoldReason.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in HoldReason.values:
            held = OrderHold.objects.filter(reason=self.value(), released_at__isnull=True)
            return queryset.filter(pk__in=held.values("order_id"))
        return queryset


# --- inlines ------------------------------------------------------------------------------


class OrderHoldInline(ReadOnlyInline):
    model = OrderHold
    verbose_name_plural = "holds"
    fields = ["reason", "message", "created_at", "created_by", "released_at", "released_by"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("created_by", "released_by")


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    verbose_name_plural = "timeline"
    fields = ["created_at", "type", "who", "message", "customer_visible"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("actor")

    @admin.display(description="who")
    def who(self, event: OrderEvent) -> str:
        return event.who


class NotificationInline(ReadOnlyInline):
    model = Notification
    verbose_name_plural = "notifications"
    fields = ["kind", "channel", "recipient", "status", "attempts", "sent_at", "open"]
    readonly_fields = fields

    @admin.display(description="")
    def open(self, notification: Notification) -> str:
        url = reverse("admin:orders_notification_change", args=[notification.pk])
        return format_html('<a href="{}">View</a>', url)


# --- orders -------------------------------------------------------------------------------


@admin.register(Order)
class OrderAdmin(DraftOrderAdmin):
    change_form_template = "admin/orders/order/change_form.html"
    list_display = [
        "order_number",
        "status_display",
        "channel",
        "customer_display",
        "total_display",
        "placed_at",
        "promised_ship_by",
        "hold_reasons_display",
    ]
    list_filter = ["status", "channel", HoldReasonFilter, ("placed_at", admin.DateFieldListFilter)]
    search_fields = [
        "=number",
        "email",
        "customer__email",
        "customer__name",
        "=lines__sku",
        "external_reference",
    ]
    search_help_text = "Order number, customer email or name, SKU, or partner reference."
    date_hierarchy = "placed_at"
    list_per_page = 50
    show_full_result_count = False
    autocomplete_fields = ["customer"]
    inlines = [OrderLineInline, OrderHoldInline, OrderEventInline, NotificationInline]
    ordering = ["-placed_at", "-pk"]

    # A placed order's page: everything read-only; it changes only through the buttons.
    placed_fieldsets = [
        (
            None,
            {
                "fields": [
                    "order_number",
                    "status_display",
                    "channel",
                    "customer",
                    "account",
                    "email",
                    "phone",
                    "external_reference",
                    "created_at",
                    "placed_at",
                    "confirmed_at",
                    "promised_ship_by",
                    "fraud_score",
                ]
            },
        ),
        (
            "Totals",
            {"fields": ["lines_total", "shipping_total", "tax_display", "grand_total", "currency"]},
        ),
        (
            "Delivery",
            {"fields": ["shipping_method", "shipping_address_display", "billing_address_display"]},
        ),
        ("Notes", {"fields": ["customer_note", "staff_note", "cancellation_reason"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("customer", "shipping_method", "shipping_address", "billing_address")
            .prefetch_related(selectors.open_holds_prefetch())
        )

    def has_delete_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        # Orders are never deleted; drafts are cancelled so the timeline stays.
        return False

    # --- columns and read-only fields ---

    @admin.display(description="order", ordering="number")
    def order_number(self, order: Order) -> str:
        return order.number or f"draft #{order.pk}"

    @admin.display(description="status", ordering="status")
    def status_display(self, order: Order) -> str:
        return status_badge(order)

    @admin.display(description="customer", ordering="customer__email")
    def customer_display(self, order: Order) -> str:
        if order.customer is None:
            return order.email or "–"
        return str(order.customer)

    @admin.display(description="total", ordering="grand_total")
    def total_display(self, order: Order) -> str:
        return f"{order.grand_total:,.2f} {order.currency}"

    @admin.display(description="hold reasons")
    def hold_reasons_display(self, order: Order) -> str:
        holds = getattr(order, "open_holds", None)
        if holds is None:
            holds = [h for h in order.holds.all() if h.released_at is None]
        return ", ".join(h.get_reason_display() for h in holds) or ""

    @admin.display(description="tax")
    def tax_display(self, order: Order) -> str:
        kind = "included" if order.prices_include_tax else "added"
        return f"{order.tax_total} ({order.tax_rate}% {kind})"

    @admin.display(description="shipping address")
    def shipping_address_display(self, order: Order) -> str:
        return self._address_html(order.shipping_address)

    @admin.display(description="billing address")
    def billing_address_display(self, order: Order) -> str:
        return self._address_html(order.billing_address)

    @staticmethod
    def _address_html(address: Address | None) -> str:
        if address is None:
            return "–"
        return format_html_join("", "{}<br>", ((line,) for line in address.as_lines()))

    # --- the order's page and its buttons ---

    def get_urls(self) -> list:
        return [
            path(
                "<int:object_id>/action/<str:action>/",
                self.admin_site.admin_view(self.order_action_view),
                name="orders_order_action",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        extra_context = extra_context or {}
        order = self.get_object(request, object_id)
        if order is not None:
            extra_context["order_actions"] = available_actions(order, request.user)
            # Later phases add theirs (payments: what is paid, refunded and due).
            extra_context["order_panels"] = lifecycle.staff_panels(order=order, request=request)
            extra_context["order_status_badge"] = status_badge(order)
            if order.status != OrderStatus.DRAFT:
                extra_context.update(
                    show_save=False,
                    show_save_and_continue=False,
                    show_save_and_add_another=False,
                )
        return super().change_view(request, object_id, form_url, extra_context)

    def order_action_view(self, request: HttpRequest, object_id: int, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        order = self.get_object(request, str(object_id))
        if order is None or not self.has_view_or_change_permission(request, order):
            raise PermissionDenied
        change_url = reverse("admin:orders_order_change", args=[order.pk])
        spec = ORDER_ACTIONS.get(action)
        if spec is None or spec not in available_actions(order, request.user):
            self.message_user(
                request,
                f"“{action}” is not possible for {order} now ({order.get_status_display()}), "
                "or you are not allowed to do it. Nothing was changed.",
                messages.ERROR,
            )
            return HttpResponseRedirect(change_url)
        note = request.POST.get("note", "").strip()
        reason = request.POST.get("reason", "").strip()
        if spec.note_required and not note:
            self.message_user(
                request, f"{spec.label}: {spec.note_label} is required.", messages.ERROR
            )
            return HttpResponseRedirect(change_url)
        try:
            spec.run(order_id=order.pk, actor=request.user, note=note, reason=reason)
        except DomainError as exc:
            self.message_user(request, f"{spec.label}: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(change_url)
        order = Order.objects.prefetch_related("holds").get(pk=order.pk)
        outcome = f"{order} is now {order.get_status_display().lower()}"
        reasons = order.active_hold_reasons()
        if order.status == OrderStatus.ON_HOLD and reasons:
            outcome += " (" + ", ".join(HoldReason(r).label for r in reasons) + ")"
        self.message_user(request, f"{spec.label}: done. {outcome}.", messages.SUCCESS)
        return HttpResponseRedirect(change_url)

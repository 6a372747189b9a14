"""The fulfilment queue, the warehouse dashboard and pick lists in the staff console."""

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Prefetch, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from orders.admin_base import ReadOnlyAdmin
from orders.exceptions import DomainError
from orders.models import Order, OrderStatus
from orders.numbers import parse_whole_number
from orders.services import add_working_days
from warehouse import documents, selectors
from warehouse.models import (
    FulfilmentOrder,
    PickList,
    PickListStatus,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)
from warehouse.services import picking


def _risk(order: Order) -> str:
    """late (past the promised date), at risk (due within SHIP_BY_AT_RISK_DAYS), or ok."""
    if order.promised_ship_by is None:
        return ""
    today = timezone.localdate()
    if order.promised_ship_by < today:
        return "late"
    if order.promised_ship_by <= add_working_days(today, settings.SHIP_BY_AT_RISK_DAYS):
        return "at risk"
    return ""


@admin.register(FulfilmentOrder)
class FulfilmentQueueAdmin(ReadOnlyAdmin):
    """Orders to pick: ready or being picked, oldest promised date first. Creating a pick
    list takes only the units not picked and not on an open pick list yet."""

    change_list_template = "admin/warehouse/fulfilmentorder/change_list.html"
    list_display = [
        "order_link",
        "promised_ship_by",
        "risk",
        "status",
        "customer_email",
        "units",
        "warehouses",
        "shipping_method",
    ]
    list_filter = ["status", "shipping_method", "shipments__warehouse"]
    search_fields = ["=number", "email"]
    actions = ["create_pick_list"]
    list_per_page = 100
    ordering = ["promised_ship_by", "placed_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        open_lines = ShipmentLine.objects.select_related("shipment__warehouse")
        return (
            super()
            .get_queryset(request)
            .filter(status__in=[OrderStatus.READY, OrderStatus.PICKING])
            .filter(lines__product_kind="physical")
            .distinct()
            .select_related("shipping_method")
            .prefetch_related(
                Prefetch(
                    "shipments",
                    queryset=Shipment.objects.exclude(status=ShipmentStatus.CANCELLED)
                    .select_related("warehouse")
                    .prefetch_related(Prefetch("lines", queryset=open_lines)),
                )
            )
            .order_by("promised_ship_by", "placed_at", "pk")
        )

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra_context = {"title": "Fulfilment queue: orders to pick", **(extra_context or {})}
        return super().changelist_view(request, extra_context)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("orders.view_order")

    def has_pick_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("warehouse.pick_picklist")

    @admin.display(description="order", ordering="number")
    def order_link(self, order: Order) -> str:
        url = reverse("admin:orders_order_change", args=[order.pk])
        return format_html('<a href="{}">{}</a>', url, order.number)

    @admin.display(description="risk")
    def risk(self, order: Order) -> str:
        risk = _risk(order)
        if not risk:
            return ""
        colour = "#b91c1c" if risk == "late" else "#c2410c"
        return format_html('<strong style="color:{}">{}</strong>', colour, risk)

    @admin.display(description="customer")
    def customer_email(self, order: Order) -> str:
        return order.email

    @admin.display(description="units to pick")
    def units(self, order: Order) -> int:
        return sum(
            line.quantity - line.picked for s in order.shipments.all() for line in s.lines.all()
        )

    @admin.display(description="ships from")
    def warehouses(self, order: Order) -> str:
        return ", ".join(sorted({s.warehouse.code for s in order.shipments.all()}))

    @admin.action(description="Create a pick list for the selected orders", permissions=["pick"])
    def create_pick_list(self, request: HttpRequest, queryset: QuerySet) -> Any:
        return self._create(request, [o.pk for o in queryset])

    def _create(self, request: HttpRequest, order_ids: list[int]) -> Any:
        try:
            result = picking.picklist_create(order_ids=order_ids, actor=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
            return None
        for number, why in result.skipped.items():
            messages.warning(request, f"{number} left out: {why}.")
        if not result.pick_lists:
            messages.error(request, "No pick list was created: nothing to pick.")
            return None
        for pick_list in result.pick_lists:
            messages.success(request, f"{pick_list.code} created for {pick_list.warehouse.name}.")
        return HttpResponseRedirect(
            reverse("admin:warehouse_picklist_change", args=[result.pick_lists[0].pk])
        )

    def get_urls(self) -> list:
        return [
            path(
                "next/",
                self.admin_site.admin_view(self.next_view),
                name="warehouse_fulfilmentorder_next",
            ),
            path(
                "dashboard/",
                self.admin_site.admin_view(self.dashboard_view),
                name="warehouse_dashboard",
            ),
            *super().get_urls(),
        ]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        """Counts per state and the late orders on one page; every staff member may open it."""
        today = timezone.localdate()
        context = {
            **self.admin_site.each_context(request),
            "title": "Warehouse dashboard",
            "today": today,
            **selectors.warehouse_dashboard(today=today),
        }
        return TemplateResponse(request, "admin/warehouse/dashboard.html", context)

    def next_view(self, request: HttpRequest) -> Any:
        """ "Next N": the N orders with the earliest promised date, one pick list per warehouse."""
        if request.method != "POST" or not self.has_pick_permission(request):
            messages.error(request, "You cannot create pick lists.")
            return HttpResponseRedirect(reverse("admin:warehouse_fulfilmentorder_changelist"))
        try:
            count = max(1, min(parse_whole_number(request.POST.get("count", "10")), 500))
        except ValueError:
            messages.error(request, "Enter how many orders to pick, 1 to 500.")
            return HttpResponseRedirect(reverse("admin:warehouse_fulfilmentorder_changelist"))
        ids = list(self.get_queryset(request).values_list("pk", flat=True)[:count])
        return self._create(request, ids) or HttpResponseRedirect(
            reverse("admin:warehouse_fulfilmentorder_changelist")
        )


@admin.register(PickList)
class PickListAdmin(ReadOnlyAdmin):
    change_form_template = "admin/warehouse/picklist/change_form.html"
    list_display = [
        "code_display",
        "warehouse",
        "status",
        "orders",
        "units",
        "created_by",
        "created_at",
    ]
    list_filter = ["status", "warehouse"]
    list_select_related = ["warehouse", "created_by"]
    readonly_fields = ["warehouse", "status", "created_by", "created_at", "completed_at"]
    fields = readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("warehouse", "created_by")
            .annotate(
                order_count=Count("items__shipment_line__shipment__order", distinct=True),
                unit_count=Sum("items__quantity"),
            )
        )

    @admin.display(description="pick list", ordering="pk")
    def code_display(self, pick_list: PickList) -> str:
        return pick_list.code

    @admin.display(description="orders")
    def orders(self, pick_list: PickList) -> int:
        return pick_list.order_count

    @admin.display(description="units")
    def units(self, pick_list: PickList) -> int:
        return pick_list.unit_count or 0

    def get_urls(self) -> list:
        return [
            path(
                "<int:object_id>/pdf/",
                self.admin_site.admin_view(self.pdf_view),
                name="warehouse_picklist_pdf",
            ),
            path(
                "<int:object_id>/confirm/",
                self.admin_site.admin_view(self.confirm_view),
                name="warehouse_picklist_confirm",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        pick_list = self.get_object(request, object_id)
        if pick_list is None:  # not a pick list (or not a number): the admin says so
            return super().change_view(request, object_id, form_url, extra_context)
        extra_context = {
            **(extra_context or {}),
            "walk": picking.picklist_items_for_walk(pick_list),
            "can_pick": request.user.has_perm("warehouse.pick_picklist")
            and pick_list.status == PickListStatus.OPEN,
            "pick_list": pick_list,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def pdf_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        pick_list = get_object_or_404(PickList.objects.select_related("warehouse"), pk=object_id)
        if not self.has_view_permission(request, pick_list):
            raise PermissionDenied
        response = HttpResponse(documents.picklist_pdf(pick_list), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{pick_list.code}.pdf"'
        return response

    def confirm_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        back = reverse("admin:warehouse_picklist_change", args=[object_id])
        if request.method != "POST":
            return HttpResponseRedirect(back)
        picked: dict[int, int] = {}
        for key, value in request.POST.items():
            if key.startswith("picked-"):
                try:
                    picked[parse_whole_number(key.removeprefix("picked-"))] = parse_whole_number(
                        value
                    )
                except ValueError:
                    messages.error(
                        request, f"“{value}” is not a number of units: use the digits 0-9."
                    )
                    return HttpResponseRedirect(back)
        try:
            result = picking.picklist_confirm(
                pick_list_id=object_id, picked=picked, actor=request.user
            )
        except DomainError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(back)
        shorts = result["short_orders"]
        if shorts:
            numbers = Order.objects.filter(pk__in=shorts).values_list("number", flat=True)
            messages.warning(
                request,
                "Short picks put these orders on hold (out of stock): " + ", ".join(numbers) + ".",
            )
        messages.success(request, f"{result['pick_list'].code} confirmed.")
        return HttpResponseRedirect(back)

"""Bins, boxes, digital goods and appointments."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.defaultfilters import pluralize
from django.urls import path, reverse

from orders.exceptions import DomainError
from orders.models import Order, OrderLine, OrderStatus
from warehouse.models import (
    Appointment,
    AppointmentStatus,
    BinStock,
    DigitalAsset,
    DownloadGrant,
    Location,
    PackageType,
)
from warehouse.services import appointments, downloads


class BinStockInline(admin.TabularInline):
    model = BinStock
    extra = 1
    autocomplete_fields = ["product"]


@admin.register(Location)
class LocationAdmin(admin.ModelAdmin):
    list_display = ["__str__", "warehouse", "aisle", "rack", "shelf", "walk_order", "is_active"]
    list_filter = ["warehouse", "aisle", "is_active"]
    search_fields = ["aisle", "bin_stock__product__sku"]
    list_select_related = ["warehouse"]
    inlines = [BinStockInline]


@admin.register(PackageType)
class PackageTypeAdmin(admin.ModelAdmin):
    list_display = ["name", "length_mm", "width_mm", "height_mm", "max_weight_grams", "is_active"]


@admin.register(DigitalAsset)
class DigitalAssetAdmin(admin.ModelAdmin):
    list_display = ["filename", "product", "max_downloads", "link_valid_days"]
    search_fields = ["filename", "product__sku"]
    autocomplete_fields = ["product"]
    list_select_related = ["product"]


@admin.register(DownloadGrant)
class DownloadGrantAdmin(admin.ModelAdmin):
    list_display = [
        "asset",
        "order",
        "download_count",
        "max_downloads",
        "expires_at",
        "revoked_at",
    ]
    search_fields = ["=order_line__order__number", "asset__filename"]
    list_select_related = ["asset", "order_line__order"]
    readonly_fields = ["order_line", "asset", "download_count", "created_at"]
    fields = ["order_line", "asset", "expires_at", "max_downloads", "download_count", "revoked_at"]

    @admin.display(description="order")
    def order(self, grant: DownloadGrant) -> str:
        return grant.order_line.order.number

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_urls(self) -> list:
        return [
            path(
                "resend/<int:order_id>/",
                self.admin_site.admin_view(self.resend_view),
                name="warehouse_downloadgrant_resend",
            ),
            *super().get_urls(),
        ]

    def resend_view(self, request: HttpRequest, order_id: int) -> HttpResponse:
        """The order page's **Resend download links** button."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm(downloads.RESEND_PERMISSION):
            raise PermissionDenied
        order = Order.objects.filter(pk=order_id).only("pk", "number").first()
        if order is None:
            raise Http404("No such order.")
        back = HttpResponseRedirect(reverse("admin:orders_order_change", args=[order.pk]))
        try:
            sent = downloads.download_links_resend(order_id=order.pk, actor=request.user)
        except DomainError as exc:
            self.message_user(request, f"Resend download links: {exc.message}", messages.ERROR)
            return back
        files = f"{sent.files} file{pluralize(sent.files)}"
        outcome = f"Download links for {files} of order {order.number} sent again"
        if sent.extended:
            outcome += f"; {sent.extended} expired link{pluralize(sent.extended)} extended"
        self.message_user(request, outcome + ".", messages.SUCCESS)
        if sent.used_up:
            self.message_user(
                request,
                "Already downloaded as often as allowed, so its link will not open: "
                + ", ".join(sent.used_up)
                + ". Raise its maximum downloads under Warehouse → Download grants to let "
                "the customer download it again.",
                messages.WARNING,
            )
        return back


class AppointmentForm(forms.ModelForm):
    order_line = forms.ModelChoiceField(
        queryset=OrderLine.objects.filter(product_kind="service")
        .exclude(order__status__in=[OrderStatus.CANCELLED, OrderStatus.DRAFT])
        .select_related("order"),
        label="Service line",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        line, day = data.get("order_line"), data.get("date")
        start, end = data.get("window_start"), data.get("window_end")
        if line and day and start and end:
            for field, problems in appointments.appointment_problems(line, day, start, end).items():
                for problem in problems:
                    self.add_error(field if field in self.fields else None, problem)
        return data

    class Meta:
        model = Appointment
        fields = [
            "order_line",
            "date",
            "window_start",
            "window_end",
            "technician",
            "technician_name",
            "notes",
        ]


@admin.register(Appointment)
class AppointmentAdmin(admin.ModelAdmin):
    form = AppointmentForm
    list_display = [
        "date",
        "window",
        "order",
        "service",
        "technician_display",
        "status",
    ]
    list_filter = ["status", "date"]
    search_fields = ["=order_line__order__number", "technician_name"]
    list_select_related = ["order_line__order", "technician"]
    actions = ["mark_done"]
    date_hierarchy = "date"
    raw_id_fields = ["technician"]

    @admin.display(description="window")
    def window(self, appointment: Appointment) -> str:
        return f"{appointment.window_start:%H:%M}–{appointment.window_end:%H:%M}"

    @admin.display(description="order")
    def order(self, appointment: Appointment) -> str:
        return appointment.order_line.order.number

    @admin.display(description="service")
    def service(self, appointment: Appointment) -> str:
        return appointment.order_line.name

    @admin.display(description="technician")
    def technician_display(self, appointment: Appointment) -> str:
        return appointment.technician_name or (str(appointment.technician or ""))

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # rescheduling is a new appointment; done is the action below

    def has_schedule_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("warehouse.schedule_appointment")

    def save_model(self, request: HttpRequest, obj: Appointment, form: Any, change: bool) -> None:
        data = form.cleaned_data
        try:
            created = appointments.appointment_schedule(
                order_line_id=data["order_line"].pk,
                day=data["date"],
                window_start=data["window_start"],
                window_end=data["window_end"],
                technician=data.get("technician"),
                technician_name=data.get("technician_name", ""),
                notes=data.get("notes", ""),
                actor=request.user,
            )
        except DomainError as exc:  # changed meanwhile (the form checked the same first)
            messages.error(request, exc.message)
            request._appointment_refused = True
            return
        obj.pk = created.pk

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        if getattr(request, "_appointment_refused", False):
            return None
        return super().log_addition(request, obj, message)

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: Any = None) -> Any:
        if getattr(request, "_appointment_refused", False):
            return HttpResponseRedirect(reverse("admin:warehouse_appointment_add"))
        messages.success(request, "Appointment booked; the customer has been emailed.")
        return HttpResponseRedirect(reverse("admin:warehouse_appointment_changelist"))

    @admin.action(description="Mark selected appointments done", permissions=["schedule"])
    def mark_done(self, request: HttpRequest, queryset: QuerySet) -> None:
        for appointment in queryset.filter(status=AppointmentStatus.SCHEDULED):
            try:
                appointments.appointment_complete(appointment_id=appointment.pk, actor=request.user)
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Appointment {appointment} done.")

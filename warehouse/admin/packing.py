"""The packing station and shipments in the staff console.

The packing station is made for a barcode scanner, which types into the focused field and
presses Enter: scan the order, then each item; the page keeps the scans (in the form, so
nothing is lost between scans) and says what is missing or too many. Only an exact match can
be packed."""

import copy
import csv
import io
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import pluralize
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from orders.admin_base import ReadOnlyAdmin, ReadOnlyInline
from orders.exceptions import DomainError
from orders.models import Order, OrderStatus
from orders.numbers import parse_whole_number
from warehouse import documents
from warehouse.carriers import CARRIERS
from warehouse.models import (
    ON_THE_WAY,
    PackageType,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    TrackingEvent,
)
from warehouse.services import packing, shipping, tracking

SS = ShipmentStatus
MAX_CSV_BYTES = 2 * 1024 * 1024


def _whole_number(value: str | None) -> int:
    """A positive whole number typed into a form, or 0 (the service says what is missing)."""
    try:
        return max(parse_whole_number(value or "0"), 0)
    except ValueError:
        return 0


class ShipmentLineInline(ReadOnlyInline):
    model = ShipmentLine
    fields = ["sku", "name", "quantity", "picked"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("order_line")

    @admin.display(description="SKU")
    def sku(self, line: ShipmentLine) -> str:
        return line.order_line.sku

    @admin.display(description="item")
    def name(self, line: ShipmentLine) -> str:
        return line.order_line.name


class TrackingEventInline(ReadOnlyInline):
    model = TrackingEvent
    fields = ["occurred_at", "status", "description", "location", "event_id", "result"]
    readonly_fields = fields


class ShipForm(forms.Form):
    """Hand a packed shipment to the carrier. The carrier starts as the one of the order's
    shipping method; a refused form comes back with what was typed and the error on its
    field."""

    carrier = forms.ChoiceField(
        choices=[("", "Choose the carrier"), *((c.code, c.name) for c in CARRIERS.values())]
    )
    service_level = forms.CharField(
        max_length=50,
        required=False,
        widget=forms.TextInput(attrs={"list": "service-levels"}),
    )
    tracking_number = forms.CharField(
        max_length=64, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )

    @classmethod
    def for_shipment(cls, shipment: Shipment) -> "ShipForm":
        method = shipment.order.shipping_method
        return cls(initial={"carrier": method.carrier} if method is not None else {})


class CsvUploadForm(forms.Form):
    file = forms.FileField(
        help_text="Columns: order number, carrier, tracking number (a header row first)."
    )


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyAdmin):
    change_form_template = "admin/warehouse/shipment/change_form.html"
    change_list_template = "admin/warehouse/shipment/change_list.html"
    list_display = [
        "shipment_display",
        "order_link",
        "warehouse",
        "status",
        "carrier",
        "tracking",
        "shipped_at",
        "delivered_at",
    ]
    list_filter = ["status", "carrier", "warehouse"]
    search_fields = ["=order__number", "tracking_number"]
    list_select_related = ["order", "warehouse"]
    inlines = [ShipmentLineInline, TrackingEventInline]
    actions = ["mark_delivered"]
    fields = [
        "order_link",
        "warehouse",
        "status",
        "carrier",
        "service_level",
        "tracking",
        "package",
        "created_at",
        "packed_at",
        "shipped_at",
        "delivered_at",
    ]
    readonly_fields = fields

    def has_ship_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("warehouse.ship_shipment")

    @admin.display(description="shipment", ordering="pk")
    def shipment_display(self, shipment: Shipment) -> str:
        return f"Shipment {shipment.pk}"

    @admin.display(description="order", ordering="order__number")
    def order_link(self, shipment: Shipment) -> str:
        url = reverse("admin:orders_order_change", args=[shipment.order_id])
        return format_html('<a href="{}">{}</a>', url, shipment.order.number)

    @admin.display(description="tracking")
    def tracking(self, shipment: Shipment) -> str:
        if not shipment.tracking_number:
            return ""
        if shipment.tracking_url:
            return format_html(
                '<a href="{}" rel="noopener">{}</a>',
                shipment.tracking_url,
                shipment.tracking_number,
            )
        return shipment.tracking_number

    @admin.display(description="package")
    def package(self, shipment: Shipment) -> str:
        package = getattr(shipment, "package", None)
        return str(package) if package else ""

    @admin.action(description="Mark selected shipments delivered", permissions=["ship"])
    def mark_delivered(self, request: HttpRequest, queryset: QuerySet) -> None:
        done = 0
        for shipment in queryset.order_by("pk"):
            try:
                result = tracking.shipment_track(
                    shipment_id=shipment.pk, status=SS.DELIVERED, actor=request.user
                )
            except DomainError as exc:
                messages.error(request, f"Shipment {shipment.pk}: {exc.message}")
                continue
            if result.startswith("applied"):
                done += 1
            else:
                messages.warning(request, f"Shipment {shipment.pk}: {result}.")
        if done:
            messages.success(request, f"{done} shipment{pluralize(done)} marked delivered.")

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("packing/", view(self.packing_view), name="warehouse_packing_station"),
            path("upload/", view(self.upload_view), name="warehouse_shipment_upload"),
            path("<int:object_id>/ship/", view(self.ship_view), name="warehouse_shipment_ship"),
            path("<int:object_id>/label/", view(self.label_view), name="warehouse_shipment_label"),
            path("<int:object_id>/slip/", view(self.slip_view), name="warehouse_shipment_slip"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        shipment = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if shipment is not None:
            extra_context["can_ship"] = (
                self.has_ship_permission(request) and shipment.status == SS.PACKED
            )
            extra_context["can_deliver"] = (
                self.has_ship_permission(request) and shipment.status in ON_THE_WAY
            )
            if "ship_form" not in extra_context:
                extra_context["ship_form"] = ShipForm.for_shipment(shipment)
            extra_context["carriers"] = list(CARRIERS.values())
        return super().change_view(request, object_id, form_url, extra_context)

    def _ship_form_refused(
        self, request: HttpRequest, object_id: int, form: ShipForm
    ) -> HttpResponse:
        """The shipment's page again with the ship form as it was sent and its errors. The
        page is shown as for a GET: the console's shipment page itself changes nothing.

        That page shows the form only while the shipment can ship, by this user: otherwise
        (shipped meanwhile, say) its errors would be hidden, so the page says why instead, as
        shipping.shipment_ship would."""
        shipment = Shipment.objects.select_related("order").filter(pk=object_id).first()
        refusal = ""
        if shipment is not None and not self.has_ship_permission(request):
            refusal = "You do not have permission to ship shipments."
        elif shipment is not None and shipment.status != SS.PACKED:
            refusal = (
                f"Shipment {shipment.pk} of order {shipment.order.number} is "
                f"{shipment.get_status_display().lower()}; only packed shipments ship."
            )
        if refusal:
            messages.error(request, refusal)
            return HttpResponseRedirect(
                reverse("admin:warehouse_shipment_change", args=[object_id])
            )
        page_request = copy.copy(request)
        page_request.method = "GET"
        return self.change_view(page_request, str(object_id), extra_context={"ship_form": form})

    def ship_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        back = reverse("admin:warehouse_shipment_change", args=[object_id])
        if request.method != "POST":
            return HttpResponseRedirect(back)
        form = ShipForm(request.POST)
        if not form.is_valid():
            return self._ship_form_refused(request, object_id, form)
        try:
            shipment = shipping.shipment_ship(
                shipment_id=object_id, actor=request.user, **form.cleaned_data
            )
        except DomainError as exc:
            field = next((name for name in exc.fields if name in form.fields), None)
            if field is None:
                # Not about what was typed (the shipment has moved on): say so on its page.
                messages.error(request, exc.message)
                return HttpResponseRedirect(back)
            form.add_error(field, exc.message)
            return self._ship_form_refused(request, object_id, form)
        messages.success(
            request,
            f"Shipment {shipment.pk} shipped: {shipment.tracking_number}. The customer has been "
            "emailed the tracking link.",
        )
        return HttpResponseRedirect(back)

    def _pdf(self, request: HttpRequest, object_id: int, builder: Any, name: str) -> HttpResponse:
        shipment = get_object_or_404(
            Shipment.objects.select_related("order__shipping_address", "warehouse"), pk=object_id
        )
        if not self.has_view_permission(request, shipment):
            raise PermissionDenied
        response = HttpResponse(builder(shipment), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{name}-{shipment.order.number}.pdf"'
        return response

    def label_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return self._pdf(request, object_id, documents.shipping_label_pdf, "label")

    def slip_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        return self._pdf(request, object_id, documents.packing_slip_pdf, "packing-slip")

    # --- bulk shipping from a CSV ---

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_ship_permission(request):
            raise PermissionDenied
        results = None
        form = CsvUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            if upload.size > MAX_CSV_BYTES:
                form.add_error("file", "The file is larger than 2 MB; split it.")
            else:
                try:
                    text = upload.read().decode("utf-8-sig")
                except UnicodeDecodeError:
                    form.add_error("file", "The file is not UTF-8 text (save it as CSV UTF-8).")
                else:
                    reader = csv.DictReader(io.StringIO(text))
                    reader.fieldnames = [
                        (name or "").strip().lower() for name in (reader.fieldnames or [])
                    ]
                    needed = {"order number", "carrier", "tracking number"}
                    alt = {"order_number", "carrier", "tracking_number"}
                    names = set(reader.fieldnames)
                    if not (needed <= names or alt <= names):
                        form.add_error(
                            "file",
                            "The header row must be: order number, carrier, tracking number.",
                        )
                    else:
                        results = shipping.shipments_ship_from_csv(
                            rows=list(reader), actor=request.user
                        )
        context = {
            **self.admin_site.each_context(request),
            "title": "Ship from a CSV file",
            "opts": self.model._meta,
            "form": form,
            "results": results,
            "shipped": sum(1 for r in results or [] if r.ok),
        }
        return TemplateResponse(request, "admin/warehouse/shipment/upload.html", context)

    # --- the packing station ---

    def packing_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_ship_permission(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        order_code = (data.get("order") or "").strip()
        scans = [s for s in (data.get("scans") or "").split("\n") if s.strip()]
        scan = (data.get("scan") or "").strip()
        action = data.get("do", "")
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Packing station",
            "opts": self.model._meta,
            "package_types": PackageType.objects.filter(is_active=True),
        }
        if not order_code:
            return TemplateResponse(request, "admin/warehouse/shipment/packing.html", context)
        order = Order.objects.filter(number=order_code).first()
        if order is None:
            messages.error(request, f"No order {order_code!r}. Scan the order's barcode.")
            return TemplateResponse(request, "admin/warehouse/shipment/packing.html", context)
        shipments = packing.packable_shipments(order)
        if not shipments:
            state = order.get_status_display().lower()
            messages.error(request, f"Order {order.number} has nothing to pack (it is {state}).")
            return TemplateResponse(request, "admin/warehouse/shipment/packing.html", context)
        chosen = next((s for s in shipments if str(s.pk) == data.get("shipment")), shipments[0])
        if action == "undo" and scans:
            scans.pop()
        elif action == "clear":
            scans = []
        elif scan:
            scans.append(scan)
        check = packing.packing_check(chosen, scans)
        if action == "pack":
            weight = _whole_number(data.get("weight_grams"))
            try:
                packing.shipment_pack(
                    shipment_id=chosen.pk,
                    scans=scans,
                    package_type_id=_whole_number(data.get("package_type")) or None,
                    weight_grams=weight,
                    actor=request.user,
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                slip = reverse("admin:warehouse_shipment_slip", args=[chosen.pk])
                messages.success(
                    request,
                    format_html(
                        'Order {} packed (shipment {}). <a href="{}" target="_blank">Print the '
                        "packing slip</a>. Scan the next order.",
                        order.number,
                        chosen.pk,
                        slip,
                    ),
                )
                return HttpResponseRedirect(reverse("admin:warehouse_packing_station"))
        expected = packing.packing_expected(chosen)
        context.update(
            order=order,
            shipments=shipments,
            shipment=chosen,
            scans=scans,
            scans_text="\n".join(scans),
            check=check,
            rows=[
                {
                    "code": code,
                    "product": entry["product"],
                    "expected": entry["units"],
                    "picked": entry["picked"],
                    "scanned": check.scanned.get(code, 0),
                    "missing": check.missing.get(code, 0),
                    "over": check.over.get(code, 0),
                }
                for code, entry in expected.items()
            ],
            all_picked=all(e["picked"] >= e["units"] for e in expected.values()),
            order_is_picking=order.status == OrderStatus.PICKING,
        )
        if scan and scan.upper() in [u.upper() for u in check.unknown] and scan == scans[-1]:
            messages.error(request, f"{scan!r} is not in order {order.number}. Take it out.")
        return TemplateResponse(request, "admin/warehouse/shipment/packing.html", context)

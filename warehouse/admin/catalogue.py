"""Catalogue, stock (with the goods-in page) and shipping methods in the staff console. Stock
changes go through the stock services so the movement log stays complete."""

import re
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from orders.admin_base import ReadOnlyAdmin
from orders.exceptions import DomainError
from orders.numbers import WholeNumberField
from warehouse import selectors
from warehouse.models import (
    Product,
    ShippingMethod,
    StockItem,
    StockMovement,
    Warehouse,
)
from warehouse.services import stock_count, stock_receive_into_bin


class StockItemInline(admin.TabularInline):
    model = StockItem
    extra = 0
    fields = ["warehouse", "on_hand", "reserved", "available"]
    readonly_fields = ["warehouse", "on_hand", "reserved", "available"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("warehouse")


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["sku", "name", "kind", "price", "currency", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["sku", "name", "barcode"]
    inlines = [StockItemInline]


@admin.register(Warehouse)
class WarehouseAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "country", "city", "priority", "is_active"]


class StockItemForm(forms.ModelForm):
    counted = WholeNumberField(
        min_value=0, required=False, help_text="A stock count: the units now on the shelf."
    )
    reason = forms.CharField(max_length=200, required=False, initial="stock count")

    class Meta:
        model = StockItem
        fields = ["product", "warehouse"]

    def clean_counted(self) -> int | None:
        counted = self.cleaned_data.get("counted")
        reserved = self.instance.reserved if self.instance.pk else 0
        if counted is not None and counted < reserved:
            raise forms.ValidationError(
                f"{reserved} units are reserved for open orders; a count cannot be lower. "
                "Put those orders on hold first."
            )
        return counted


class GoodsInForm(forms.Form):
    """One receipt. Made for a scanner, which types and then presses Enter: the product comes
    last, so scanning it sends the receipt (one unit unless a quantity was typed first)."""

    warehouse = forms.ModelChoiceField(queryset=Warehouse.objects.filter(is_active=True))
    location = forms.CharField(
        label="Bin (e.g. A-02-03)",
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "off", "class": "wh-scan"}),
    )
    reason = forms.CharField(label="Delivery note or PO", max_length=200, required=False)
    quantity = WholeNumberField(min_value=1, max_value=100_000, initial=1)
    product = forms.CharField(
        label="SKU or barcode",
        max_length=64,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "class": "wh-scan", "autofocus": True}
        ),
    )

    def clean_product(self) -> Product:
        code = self.cleaned_data["product"]
        product = selectors.product_for_code(code)
        if product is None:
            raise forms.ValidationError(f"No product has the SKU or barcode “{code}”.")
        return product

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        warehouse, code = data.get("warehouse"), data.get("location")
        if warehouse and code:
            location = selectors.location_for_code(warehouse=warehouse, code=code)
            if location is None:
                self.add_error("location", f"{warehouse.name} has no bin “{code}”.")
            elif not location.is_active:
                self.add_error("location", f"Bin {location.code} is not in use.")
            else:
                data["location"] = location
        return data


@admin.register(StockItem)
class StockItemAdmin(admin.ModelAdmin):
    form = StockItemForm
    change_list_template = "admin/warehouse/stockitem/change_list.html"
    list_display = ["product", "warehouse", "on_hand", "reserved", "available_display"]
    list_filter = ["warehouse"]
    search_fields = ["product__sku", "product__name"]
    list_select_related = ["product", "warehouse"]
    autocomplete_fields = ["product"]
    readonly_fields = ["on_hand", "reserved"]

    def get_fields(self, request: HttpRequest, obj: StockItem | None = None) -> list[str]:
        return ["product", "warehouse", "on_hand", "reserved", "counted", "reason"]

    def get_readonly_fields(self, request: HttpRequest, obj: StockItem | None = None) -> list[str]:
        if obj is not None:
            return ["product", "warehouse", "on_hand", "reserved"]
        return ["on_hand", "reserved"]

    @admin.display(description="available", ordering=F("on_hand") - F("reserved"))
    def available_display(self, item: StockItem) -> int:
        return item.available

    def save_model(self, request: HttpRequest, obj: StockItem, form: Any, change: bool) -> None:
        if not change:
            obj.save()
        counted = form.cleaned_data.get("counted")
        if counted is None:
            return
        try:
            stock_count(
                stock_item=obj,
                counted=counted,
                actor=request.user,
                reason=form.cleaned_data.get("reason") or "stock count",
            )
        except DomainError as exc:
            messages.error(request, exc.message)

    def get_urls(self) -> list:
        view = self.admin_site.admin_view(self.goods_in_view)
        return [path("goods-in/", view, name="warehouse_goods_in"), *super().get_urls()]

    def goods_in_view(self, request: HttpRequest) -> HttpResponse:
        """Goods in: each submission puts units of one product on one bin (one receipt)."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        # Warehouse, bin and delivery note stay filled in after a receipt: the next scan is
        # usually the next product of the same delivery going onto the same shelf.
        kept = ["warehouse", "location", "reason"]
        form = GoodsInForm(
            request.POST or None, initial={name: request.GET.get(name, "") for name in kept}
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                item = stock_receive_into_bin(
                    product=data["product"],
                    location=data["location"],
                    quantity=data["quantity"],
                    actor=request.user,
                    reason=data["reason"] or "goods in",
                )
            except DomainError as exc:
                form.add_error(next((f for f in exc.fields if f in form.fields), None), exc.message)
            else:
                location = data["location"]
                messages.success(
                    request,
                    f"Received {data['quantity']} × {data['product'].sku} on bin {location.code} "
                    f"in {location.warehouse.name}; {item.on_hand} on hand there now.",
                )
                query = urlencode(
                    {
                        "warehouse": location.warehouse_id,
                        "location": location.code,
                        "reason": data["reason"],
                    }
                )
                return HttpResponseRedirect(f"{reverse('admin:warehouse_goods_in')}?{query}")
        context = {
            **self.admin_site.each_context(request),
            "title": "Goods in",
            "opts": self.model._meta,
            "form": form,
        }
        return TemplateResponse(request, "admin/warehouse/stockitem/goods_in.html", context)


@admin.register(StockMovement)
class StockMovementAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "stock_item",
        "kind",
        "on_hand_delta",
        "reserved_delta",
        "order",
        "actor",
        "reason",
    ]
    list_filter = ["kind", "stock_item__warehouse"]
    search_fields = ["stock_item__product__sku", "=order__number", "reason"]
    list_select_related = ["stock_item__product", "stock_item__warehouse", "order", "actor"]


class CodeListField(forms.CharField):
    """Codes typed as "DE, AT FR" (any case, commas or spaces), kept as ["DE", "AT", "FR"]:
    capitals, in the order typed, no repeats. The model's validators check each code.

    `spaces_separate=False`: only commas (or semicolons, new lines) separate the codes, and
    spaces inside one are dropped, so "SW1A 1, SW1A 2" is ["SW1A1", "SW1A2"] (postal-code
    prefixes: zones compare postal codes without their spaces)."""

    def __init__(self, *args: Any, spaces_separate: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.separators = r"[\s,;]+" if spaces_separate else r"[,;\r\n]+"

    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:
        text = super().to_python(value)
        codes = (re.sub(r"\s+", "", code) for code in re.split(self.separators, text.upper()))
        return list(dict.fromkeys(code for code in codes if code))


class ShippingMethodForm(forms.ModelForm):
    countries = CodeListField(
        label="Zone: countries",
        required=False,
        help_text="ISO codes separated by commas, such as DE, AT, FR. Leave empty to deliver "
        "everywhere we ship (every country checkout offers).",
    )
    postal_code_prefixes = CodeListField(
        label="Zone: postal-code prefixes",
        required=False,
        spaces_separate=False,
        help_text="Optional, separated by commas, such as 10, 12, 13: only postal codes "
        "starting with one of these, in the countries above. Spaces do not count, in the "
        "prefix or the postal code: SW1A 1 is SW1A1. A prefix takes every code that starts "
        "with it, so SW1 also takes SW10 to SW19 (name SW1A, SW1P, … for the SW1 district "
        "alone). Leave empty for every postal code.",
    )

    class Meta:
        model = ShippingMethod
        fields = [
            "code",
            "name",
            "carrier",
            "price",
            "currency",
            "handling_days",
            "transit_days_min",
            "transit_days_max",
            "is_active",
            "countries",
            "postal_code_prefixes",
        ]


@admin.register(ShippingMethod)
class ShippingMethodAdmin(admin.ModelAdmin):
    """Checkout, the partner API and staff drafts offer and accept a method only for an
    address inside its zone."""

    form = ShippingMethodForm
    list_display = [
        "code",
        "name",
        "carrier",
        "price",
        "currency",
        "handling_days",
        "delivery_estimate",
        "zone",
        "is_active",
    ]
    list_filter = ["carrier", "is_active"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "code",
                    "name",
                    "carrier",
                    "price",
                    "currency",
                    "handling_days",
                    "transit_days_min",
                    "transit_days_max",
                    "is_active",
                ]
            },
        ),
        ("Zone: where it delivers", {"fields": ["countries", "postal_code_prefixes"]}),
    ]

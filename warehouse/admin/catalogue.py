"""Catalogue, stock and shipping methods in the staff console. Stock changes go through the
stock services so the movement log stays complete."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import F, QuerySet
from django.http import HttpRequest

from orders.admin_base import ReadOnlyAdmin
from orders.exceptions import DomainError
from warehouse.models import (
    Product,
    ShippingMethod,
    StockItem,
    StockMovement,
    Warehouse,
)
from warehouse.services import stock_count


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
    counted = forms.IntegerField(
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


@admin.register(StockItem)
class StockItemAdmin(admin.ModelAdmin):
    form = StockItemForm
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


@admin.register(ShippingMethod)
class ShippingMethodAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "carrier",
        "price",
        "currency",
        "handling_days",
        "delivery_estimate",
        "is_active",
    ]
    list_filter = ["carrier", "is_active"]

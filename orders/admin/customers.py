"""Customers and their saved addresses in the staff console."""

from django.contrib import admin

from orders.models import ADDRESS_FIELDS, Address, Customer


class AddressInline(admin.StackedInline):
    model = Address
    extra = 0
    fields = list(ADDRESS_FIELDS)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "company", "phone", "user", "created_at"]
    search_fields = ["email", "name", "company", "phone"]
    list_select_related = ["user"]
    inlines = [AddressInline]
    raw_id_fields = ["user"]

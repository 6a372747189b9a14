"""Tax rates per country in the staff console; orders are priced with them when placed."""

from django.contrib import admin

from orders.models import TaxRate


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    list_display = ["country", "name", "rate"]
    search_fields = ["country", "name"]

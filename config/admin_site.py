"""The staff console: django.contrib.admin, with one change made before any ModelAdmin exists.

Every integer column edited in the console (product weights, bin numbers, line quantities,
package sizes, download limits ...) gets orders.numbers.WholeNumberField, which takes the
digits 0-9 only, instead of Django's IntegerField, which reads "٣" as 3; every decimal column
(prices, tax rates, credit limits) gets DecimalNumberField likewise. It is set in the
admin's defaults for model fields, which every ModelAdmin and inline starts from, so a page
added later is covered without remembering to."""

from django.contrib.admin.apps import AdminConfig


class StaffConsoleConfig(AdminConfig):
    def ready(self) -> None:
        from django.contrib.admin import options
        from django.db import models

        from orders.numbers import DecimalNumberField, WholeNumberField

        # BigIntegerField has an entry of its own; every other integer column finds
        # IntegerField's through its class's MRO.
        for column in (models.IntegerField, models.BigIntegerField):
            defaults = options.FORMFIELD_FOR_DBFIELD_DEFAULTS[column]
            options.FORMFIELD_FOR_DBFIELD_DEFAULTS[column] = {
                **defaults,
                "form_class": WholeNumberField,
            }
        # Amounts and rates: the digits 0-9 and a point ("١٩.٥" is refused, not read as 19.5).
        options.FORMFIELD_FOR_DBFIELD_DEFAULTS[models.DecimalField] = {
            **options.FORMFIELD_FOR_DBFIELD_DEFAULTS.get(models.DecimalField, {}),
            "form_class": DecimalNumberField,
        }
        super().ready()

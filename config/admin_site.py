"""The staff console: django.contrib.admin, on a site whose login is rate limited, with one
change made before any ModelAdmin exists.

The login (/admin/login/) is limited as the shop's is (orders.ratelimit): per client address
with a counter of its own (the "staff_login" scope), so that customers failing to log in to
the shop from an office's address never lock staff out of the console there; per username with
the counter the shop's login counts too ("login_account"), since a staff account logs in on
either page and must not get two allowances of guesses. Refused with a 429 page in the
console's own style and Retry-After, and logged; with the cache (Redis) down it fails closed
(RATE_LIMITS_FAIL_CLOSED), 503.

Every integer column edited in the console (product weights, bin numbers, line quantities,
package sizes, download limits ...) gets orders.numbers.WholeNumberField, which takes the
digits 0-9 only, instead of Django's IntegerField, which reads "٣" as 3; every decimal column
(prices, tax rates, credit limits) gets DecimalNumberField likewise. It is set in the
admin's defaults for model fields, which every ModelAdmin and inline starts from, so a page
added later is covered without remembering to."""

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator

from orders.ratelimit import client_ip, posted, ratelimit


def _console_context(request: HttpRequest) -> dict[str, Any]:
    """The console's header and title for the page a refused login gets."""
    return admin.site.each_context(request)


def _login_limit(scope: str, key: Any) -> Any:
    return method_decorator(
        ratelimit(
            scope,
            key=key,
            template_name="admin/ratelimited.html",
            page_context=_console_context,
        )
    )


class StaffAdminSite(admin.AdminSite):
    site_header = "Orderflow staff console"
    site_title = "Orderflow"
    index_title = "Orders, stock and customers"

    @_login_limit("login_account", posted("username"))
    @_login_limit("staff_login", client_ip)
    def login(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        return super().login(request, extra_context)


class StaffConsoleConfig(AdminConfig):
    default_site = "config.admin_site.StaffAdminSite"

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

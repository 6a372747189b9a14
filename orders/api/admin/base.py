"""What the partner API's console pages share: links, and saving through the services."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from orders.exceptions import DomainError


def admin_link(viewname: str, pk: Any, label: Any) -> str:
    return format_html('<a href="{}">{}</a>', reverse(viewname, args=[pk]), label)


def show_refusal(form: forms.Form, refusal: DomainError) -> None:
    """A service's refusal as form errors: under its field where the form has one."""
    shown = False
    for name, problems in refusal.fields.items():
        field = name.split(".", 1)[0]
        if field in form.fields and field not in form.errors:
            form.add_error(field, problems)
            shown = True
    if not shown:
        form.add_error(None, refusal.message)


class ServiceWritesAdmin(admin.ModelAdmin):
    """A page whose save_model calls a service. The form checks first; should the service
    still refuse (a change by someone else in between), the page's transaction is rolled back
    and staff get the reason instead of an error page."""

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as refusal:
            details = [f"{name}: {' '.join(problems)}" for name, problems in refusal.fields.items()]
            self.message_user(
                request,
                " ".join([refusal.message, *details, "Nothing was saved."]),
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())


# --- partners -----------------------------------------------------------------------------

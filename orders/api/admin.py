"""Partners, their API keys and webhooks in the staff console. Managers manage them; Customer
service may look and resend webhooks (orders/permissions.py). Creating a partner or a key goes
through the services, and so does changing them: the forms ask the services' validation
first, so a refusal is a form error, and a refusal that only shows under the lock (someone
else got there first) is an error message with nothing saved. A new key is shown once, in a
message, and never again."""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey

from orders.admin_base import ReadOnlyAdmin, ReadOnlyInline
from orders.api import services
from orders.api.models import (
    WEBHOOK_EVENTS,
    IdempotencyRecord,
    Partner,
    PartnerAPIKey,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from orders.api.webhooks import webhook_delivery_resend
from orders.exceptions import DomainError
from payments.models import CreditAccount

# Keys that belong to no partner cannot call the API: keep the library's bare model out of
# the console so nobody makes one by mistake.
if admin.site.is_registered(APIKey):
    admin.site.unregister(APIKey)


def _link(viewname: str, pk: Any, label: Any) -> str:
    return format_html('<a href="{}">{}</a>', reverse(viewname, args=[pk]), label)


def _show_refusal(form: forms.Form, refusal: DomainError) -> None:
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


class PartnerAPIKeyInline(ReadOnlyInline):
    model = PartnerAPIKey
    fields = ["prefix", "name", "created", "expiry_date", "revoked"]
    readonly_fields = fields
    verbose_name_plural = "API keys (add one under Partner API keys)"


class WebhookEndpointInline(ReadOnlyInline):
    model = WebhookEndpoint
    fields = ["url", "events", "is_active", "created_at"]
    readonly_fields = fields


class PartnerForm(forms.ModelForm):
    class Meta:
        model = Partner
        fields = ["name", "is_active", "throttle_rate"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if "name" in cleaned and "throttle_rate" in cleaned:
            try:
                cleaned["name"] = services.partner_validate(
                    name=cleaned["name"],
                    throttle_rate=cleaned["throttle_rate"],
                    partner_id=self.instance.pk,
                )
            except DomainError as refusal:
                _show_refusal(self, refusal)
        return cleaned


class PartnerAddForm(PartnerForm):
    billing_email = forms.EmailField(
        required=False,
        help_text="Who is invoiced. Empty: a placeholder address to change later.",
    )
    terms_days = forms.TypedChoiceField(
        label="Invoice terms",
        choices=CreditAccount.Terms.choices,
        coerce=int,
        initial=CreditAccount.Terms.NET_30,
    )
    credit_limit = forms.DecimalField(
        min_value=0, max_digits=12, decimal_places=2, required=False, help_text="Empty: default."
    )

    class Meta:
        model = Partner
        fields = ["name", "throttle_rate"]


@admin.register(Partner)
class PartnerAdmin(ServiceWritesAdmin):
    form = PartnerForm
    list_display = ["name", "billing_customer", "terms", "is_active", "rate", "keys", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "billing_customer__email"]
    list_select_related = ["billing_customer__credit_account"]
    readonly_fields = ["billing_customer_link", "terms", "new_key", "created_at"]
    fields = [
        "name",
        "is_active",
        "throttle_rate",
        "billing_customer_link",
        "terms",
        "new_key",
        "created_at",
    ]
    inlines = [PartnerAPIKeyInline, WebhookEndpointInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(
                usable_keys=Count("api_keys", filter=Q(api_keys__revoked=False), distinct=True)
            )
        )

    def get_form(self, request: HttpRequest, obj: Partner | None = None, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = PartnerAddForm
            kwargs["fields"] = None
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Partner | None = None) -> list[str]:
        if obj is None:
            return ["name", "billing_email", "terms_days", "credit_limit", "throttle_rate"]
        return self.fields

    def get_inlines(self, request: HttpRequest, obj: Partner | None) -> list:
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # switch it off instead (Is active): its orders and history stay

    def save_model(self, request: HttpRequest, obj: Partner, form: Any, change: bool) -> None:
        if change:
            services.partner_update(
                partner_id=obj.pk,
                actor=request.user,
                name=form.cleaned_data["name"],
                is_active=form.cleaned_data["is_active"],
                throttle_rate=form.cleaned_data["throttle_rate"],
            )
            return
        partner = services.partner_create(
            name=form.cleaned_data["name"],
            billing_email=form.cleaned_data.get("billing_email") or "",
            terms_days=form.cleaned_data["terms_days"],
            credit_limit=form.cleaned_data.get("credit_limit"),
            throttle_rate=form.cleaned_data.get("throttle_rate") or "",
        )
        obj.pk = partner.pk
        obj.billing_customer = partner.billing_customer
        obj.created_at = partner.created_at
        self.message_user(
            request,
            f"{partner.name} created on net {form.cleaned_data['terms_days']} invoice terms. "
            "Now add its API key under Partner API keys.",
            messages.SUCCESS,
        )

    @admin.display(description="billing customer")
    def billing_customer_link(self, partner: Partner) -> str:
        return _link(
            "admin:orders_customer_change", partner.billing_customer_id, partner.billing_customer
        )

    @admin.display(description="invoice terms")
    def terms(self, partner: Partner) -> str:
        account = getattr(partner.billing_customer, "credit_account", None)
        if account is None:
            return "none"
        label = f"{account.get_terms_days_display()}, limit {account.credit_limit}"
        if not account.is_active:
            label += " (inactive)"
        return _link("admin:payments_creditaccount_change", account.pk, label)

    @admin.display(description="API keys")
    def new_key(self, partner: Partner) -> str:
        url = reverse("admin:partner_api_partnerapikey_add") + f"?partner={partner.pk}"
        return format_html('<a class="addlink" href="{}">Create an API key</a>', url)

    @admin.display(description="rate limit")
    def rate(self, partner: Partner) -> str:
        return partner.throttle_rate or "default"

    @admin.display(description="usable keys", ordering="usable_keys")
    def keys(self, partner: Partner) -> int:
        return getattr(partner, "usable_keys", 0)


# --- API keys -----------------------------------------------------------------------------


class PartnerAPIKeyForm(forms.ModelForm):
    class Meta:
        model = PartnerAPIKey
        fields = ["partner", "name", "expiry_date"]

    def clean_expiry_date(self) -> Any:
        from django.utils import timezone

        value = self.cleaned_data.get("expiry_date")
        if value is not None and value <= timezone.now() and not self.instance.pk:
            raise forms.ValidationError("Choose a moment in the future.")
        return value


@admin.register(PartnerAPIKey)
class PartnerAPIKeyAdmin(ServiceWritesAdmin, APIKeyModelAdmin):
    form = PartnerAPIKeyForm
    list_display = [
        "prefix",
        "name",
        "partner",
        "created",
        "expiry_date",
        "_has_expired",
        "revoked",
    ]
    list_filter = ["revoked", "partner"]
    search_fields = ["name", "prefix", "partner__name"]
    list_select_related = ["partner"]
    actions = ["revoke_selected"]

    def get_fields(self, request: HttpRequest, obj: PartnerAPIKey | None = None) -> list[str]:
        if obj is None:
            return ["partner", "name", "expiry_date"]
        return ["prefix", "partner", "name", "expiry_date", "revoked", "created"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: PartnerAPIKey | None = None
    ) -> tuple[str, ...]:
        if obj is None:
            return ()
        if obj.revoked:
            return ("prefix", "partner", "name", "expiry_date", "revoked", "created")
        # Revoke with the action, which goes through the service; it cannot be undone.
        return ("prefix", "partner", "revoked", "created")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # revoke instead: the key's row stays as the record

    def save_model(self, request: HttpRequest, obj: PartnerAPIKey, form: Any, change: bool) -> None:
        if change:
            if not form.changed_data:
                return  # e.g. a revoked key, whose page is read-only
            services.partner_api_key_update(
                api_key_id=obj.pk,
                actor=request.user,
                name=form.cleaned_data["name"],
                expires_at=form.cleaned_data["expiry_date"],
            )
            return
        api_key, key = services.partner_api_key_create(
            partner=obj.partner, name=obj.name, expires_at=obj.expiry_date
        )
        obj.pk, obj.prefix, obj.hashed_key, obj.created = (
            api_key.pk,
            api_key.prefix,
            api_key.hashed_key,
            api_key.created,
        )
        self.message_user(
            request,
            f"The API key for {api_key.partner} is: {key} — give it to the partner now and "
            "store it safely: it is not shown again.",
            messages.WARNING,
        )

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("partner_api.change_partnerapikey")

    @admin.action(description="Revoke selected keys (cannot be undone)", permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        for api_key in queryset:
            services.partner_api_key_revoke(api_key_id=api_key.pk, actor=request.user)
        self.message_user(request, f"{queryset.count()} key(s) revoked.", messages.SUCCESS)


# --- webhooks -----------------------------------------------------------------------------


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        choices=[(name, f"{name}: {text}") for name, text in WEBHOOK_EVENTS.items()],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["partner", "url", "events", "description", "is_active"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # On a change page the partner is read-only (an endpoint stays with its partner).
        partner = cleaned.get("partner") if self.instance.pk is None else self.instance.partner
        if partner is None or "url" not in cleaned or "events" not in cleaned:
            return cleaned
        # The instance still holds the saved values here: the form copies onto it later.
        was_active = self.instance.pk is not None and self.instance.is_active
        try:
            cleaned["events"] = services.webhook_endpoint_validate(
                partner=partner,
                url=cleaned["url"],
                events=cleaned["events"],
                activating=bool(cleaned.get("is_active")) and not was_active,
            )
        except DomainError as refusal:
            _show_refusal(self, refusal)
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ServiceWritesAdmin):
    form = WebhookEndpointForm
    list_display = ["url", "partner", "event_list", "is_active", "created_at"]
    list_filter = ["is_active", "partner"]
    search_fields = ["url", "partner__name"]
    list_select_related = ["partner"]

    def get_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> list[str]:
        fields = ["partner", "url", "events", "description", "is_active"]
        return fields if obj is None else [*fields, "secret", "created_at", "updated_at"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: WebhookEndpoint | None = None
    ) -> list[str]:
        # An endpoint stays with its partner: that partner holds its signing secret and its
        # delivery log. Another partner registers its own endpoint.
        readonly = ["secret", "created_at", "updated_at"]
        return readonly if obj is None else ["partner", *readonly]

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            endpoint = services.webhook_endpoint_update(
                endpoint_id=obj.pk,
                actor=request.user,
                url=data["url"],
                events=data["events"],
                description=data["description"],
                is_active=data["is_active"],
            )
            obj.updated_at = endpoint.updated_at
            return
        endpoint = services.webhook_endpoint_create(
            partner=data["partner"],
            url=data["url"],
            events=data["events"],
            description=data["description"],
            is_active=data["is_active"],
        )
        obj.pk, obj.secret, obj.created_at = endpoint.pk, endpoint.secret, endpoint.created_at

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # untick Is active instead: its delivery log stays

    @admin.display(description="events")
    def event_list(self, endpoint: WebhookEndpoint) -> str:
        return ", ".join(endpoint.events or [])


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ["number", "started_at", "duration_ms", "status_code", "error", "response_excerpt"]
    readonly_fields = fields
    show_change_link = False
    verbose_name_plural = "attempts"


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "event",
        "endpoint",
        "partner",
        "order_link",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "event", "endpoint__partner"]
    search_fields = ["=order__number", "endpoint__url"]
    list_select_related = ["endpoint__partner", "order"]
    date_hierarchy = "created_at"
    actions = ["resend_selected"]
    inlines = [WebhookAttemptInline]
    fields = [
        "id",
        "event",
        "event_id",
        "endpoint",
        "order_link",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "created_at",
        "next_attempt_at",
        "retry_until",
        "delivered_at",
        "payload_pretty",
    ]
    readonly_fields = fields

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("partner_api.resend_webhookdelivery")

    @admin.display(description="partner", ordering="endpoint__partner__name")
    def partner(self, delivery: WebhookDelivery) -> str:
        return str(delivery.endpoint.partner)

    @admin.display(description="order")
    def order_link(self, delivery: WebhookDelivery) -> str:
        if delivery.order_id is None:
            return "–"
        return _link("admin:orders_order_change", delivery.order_id, delivery.order)

    @admin.display(description="payload")
    def payload_pretty(self, delivery: WebhookDelivery) -> str:
        return format_html(
            '<pre style="white-space:pre-wrap;max-width:60em;">{}</pre>',
            json.dumps(delivery.payload, indent=2, sort_keys=True),
        )

    @admin.action(description="Resend selected deliveries", permissions=["resend"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        queued = 0
        for delivery_id in queryset.values_list("pk", flat=True):
            try:
                webhook_delivery_resend(delivery_id=delivery_id, actor=request.user)
            except DomainError as refusal:
                self.message_user(request, refusal.message, messages.WARNING)
            else:
                queued += 1
        self.message_user(request, f"{queued} deliver(ies) queued to resend.", messages.SUCCESS)


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "partner",
        "key",
        "method",
        "path",
        "response_status",
        "order_link",
    ]
    list_filter = ["partner"]
    search_fields = ["=key", "=order__number"]
    list_select_related = ["partner", "order"]
    fields = [
        "created_at",
        "partner",
        "key",
        "method",
        "path",
        "request_hash",
        "response_status",
        "order_link",
        "response_pretty",
    ]
    readonly_fields = fields

    @admin.display(description="order")
    def order_link(self, record: IdempotencyRecord) -> str:
        if record.order_id is None:
            return "–"
        return _link("admin:orders_order_change", record.order_id, record.order)

    @admin.display(description="response")
    def response_pretty(self, record: IdempotencyRecord) -> str:
        return format_html(
            '<pre style="white-space:pre-wrap;max-width:60em;">{}</pre>',
            json.dumps(record.response_body, indent=2, sort_keys=True),
        )

"""Partners and their API keys in the staff console. A new key is shown once, in a message,
and never again."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.html import format_html
from rest_framework_api_key.admin import APIKeyModelAdmin

from orders.admin_base import ReadOnlyInline
from orders.api import services
from orders.api.admin.base import ServiceWritesAdmin, admin_link, show_refusal
from orders.api.models import (
    Partner,
    PartnerAPIKey,
    WebhookEndpoint,
)
from orders.exceptions import DomainError
from orders.numbers import DecimalNumberField
from payments.models import CreditAccount


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
                show_refusal(self, refusal)
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
    credit_limit = DecimalNumberField(
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
        return admin_link(
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
        return admin_link("admin:payments_creditaccount_change", account.pk, label)

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
        revoked = 0
        for api_key in queryset:
            services.partner_api_key_revoke(api_key_id=api_key.pk, actor=request.user)
            revoked += 1
        self.message_user(request, f"{revoked} key{pluralize(revoked)} revoked.", messages.SUCCESS)


# --- webhooks -----------------------------------------------------------------------------

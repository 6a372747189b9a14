"""Partners' webhook endpoints, the deliveries sent to them with every attempt, and the
idempotency records of their requests."""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from orders.admin_base import ReadOnlyAdmin, ReadOnlyInline
from orders.api import services
from orders.api.admin.base import ServiceWritesAdmin, admin_link, show_refusal
from orders.api.models import (
    WEBHOOK_EVENTS,
    IdempotencyRecord,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from orders.api.webhooks import webhook_delivery_resend
from orders.exceptions import DomainError


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
            show_refusal(self, refusal)
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
        return admin_link("admin:orders_order_change", delivery.order_id, delivery.order)

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
        return admin_link("admin:orders_order_change", record.order_id, record.order)

    @admin.display(description="response")
    def response_pretty(self, record: IdempotencyRecord) -> str:
        return format_html(
            '<pre style="white-space:pre-wrap;max-width:60em;">{}</pre>',
            json.dumps(record.response_body, indent=2, sort_keys=True),
        )

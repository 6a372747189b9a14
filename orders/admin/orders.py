"""The staff console for orders. Every state change goes through a service (DESIGN.md rule 5);
the admin only collects input and reports the outcome."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from orders import lifecycle, services
from orders.admin.buttons import ORDER_ACTIONS, available_actions
from orders.admin_base import ReadOnlyAdmin, ReadOnlyInline
from orders.exceptions import DomainError
from orders.models import (
    STAFF_CHANNELS,
    Address,
    Customer,
    HeldOrder,
    HoldReason,
    Notification,
    NotificationStatus,
    Order,
    OrderEvent,
    OrderHold,
    OrderLine,
    OrderStatus,
    TaxRate,
)
from orders.notifications import notification_resend, render_notification

STATUS_COLOURS = {
    OrderStatus.DRAFT: "#71717a",
    OrderStatus.RECEIVED: "#2563eb",
    OrderStatus.ON_HOLD: "#dc2626",
    OrderStatus.CONFIRMED: "#0891b2",
    OrderStatus.READY: "#7c3aed",
    OrderStatus.PICKING: "#c2410c",
    OrderStatus.PACKED: "#a16207",
    OrderStatus.PARTIALLY_SHIPPED: "#4d7c0f",
    OrderStatus.SHIPPED: "#15803d",
    OrderStatus.DELIVERED: "#166534",
    OrderStatus.COMPLETED: "#3f3f46",
    OrderStatus.CANCELLED: "#52525b",
}


def status_badge(order: Order) -> str:
    return format_html(
        '<span style="background:{};color:#fff;padding:2px 8px;border-radius:10px;'
        'white-space:nowrap;">{}</span>',
        STATUS_COLOURS.get(order.status, "#52525b"),
        order.get_status_display(),
    )


class HoldReasonFilter(admin.SimpleListFilter):
    title = "hold reason"
    parameter_name = "hold_reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(HoldReason.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in HoldReason.values:
            held = OrderHold.objects.filter(reason=self.value(), released_at__isnull=True)
            return queryset.filter(pk__in=held.values("order_id"))
        return queryset


# --- inlines ------------------------------------------------------------------------------


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    autocomplete_fields = ["product"]
    fields = ["product", "quantity", "sku", "name", "unit_price", "line_total", "reserved"]
    readonly_fields = ["sku", "name", "unit_price", "line_total", "reserved"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("product")
            .prefetch_related("reservations__stock_item__warehouse")
        )

    @admin.display(description="reserved")
    def reserved(self, line: OrderLine) -> str:
        if not line.pk or line.product_kind != "physical":
            return "–"
        parts = [f"{r.quantity} @ {r.stock_item.warehouse.code}" for r in line.reservations.all()]
        return ", ".join(parts) or "none"

    def _draft(self, obj: Order | None) -> bool:
        return obj is None or obj.status == OrderStatus.DRAFT

    def get_extra(self, request: HttpRequest, obj: Order | None = None, **kwargs: Any) -> int:
        return 3 if self._draft(obj) and not (obj and obj.lines.exists()) else 0

    def get_readonly_fields(self, request: HttpRequest, obj: Order | None = None) -> list[str]:
        if self._draft(obj):
            return list(self.readonly_fields)
        return list(self.fields)

    def has_add_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return self._draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return self._draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        return self._draft(obj) and super().has_delete_permission(request, obj)


class OrderHoldInline(ReadOnlyInline):
    model = OrderHold
    verbose_name_plural = "holds"
    fields = ["reason", "message", "created_at", "created_by", "released_at", "released_by"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("created_by", "released_by")


class OrderEventInline(ReadOnlyInline):
    model = OrderEvent
    verbose_name_plural = "timeline"
    fields = ["created_at", "type", "who", "message", "customer_visible"]
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("actor")

    @admin.display(description="who")
    def who(self, event: OrderEvent) -> str:
        return event.who


class NotificationInline(ReadOnlyInline):
    model = Notification
    verbose_name_plural = "notifications"
    fields = ["kind", "channel", "recipient", "status", "attempts", "sent_at", "open"]
    readonly_fields = fields

    @admin.display(description="")
    def open(self, notification: Notification) -> str:
        url = reverse("admin:orders_notification_change", args=[notification.pk])
        return format_html('<a href="{}">View</a>', url)


# --- the draft form -----------------------------------------------------------------------

ADDRESS_FIELDS = ["name", "company", "line1", "line2", "postal_code", "city", "region", "country"]


def _address_fields(prefix: str, required: bool) -> dict[str, forms.Field]:
    labels = {
        "name": "Name",
        "company": "Company",
        "line1": "Address line 1",
        "line2": "Address line 2",
        "postal_code": "Postal code",
        "city": "City",
        "region": "Region / state",
        "country": "Country (ISO code)",
    }
    must = {"name", "line1", "city", "country"}
    return {
        f"{prefix}_{name}": forms.CharField(
            label=labels[name],
            required=required and name in must,
            max_length=2 if name == "country" else 200,
        )
        for name in ADDRESS_FIELDS
    }


# The address inputs are declared on a form class so that the admin's fieldsets may name them.
_DraftAddressFields = type(
    "_DraftAddressFields",
    (forms.Form,),
    {**_address_fields("shipping", required=False), **_address_fields("billing", required=False)},
)


class DraftOrderForm(_DraftAddressFields, forms.ModelForm):
    billing_same = forms.BooleanField(
        label="Billing address is the shipping address", required=False, initial=True
    )

    class Meta:
        model = Order
        fields = [
            "channel",
            "customer",
            "email",
            "phone",
            "shipping_method",
            "customer_note",
            "staff_note",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["channel"].choices = [(c.value, c.label) for c in STAFF_CHANNELS]
        order = self.instance
        for prefix in ("shipping", "billing"):
            address = getattr(order, f"{prefix}_address", None) if order.pk else None
            if address is not None:
                for name in ADDRESS_FIELDS:
                    self.initial[f"{prefix}_{name}"] = getattr(address, name)
        if order.pk and order.billing_address_id and order.shipping_address_id:
            self.initial["billing_same"] = False

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("customer") and not data.get("email"):
            self.add_error("email", "Choose a customer or enter the caller's email address.")
        for prefix in ("shipping", "billing"):
            if prefix == "billing" and data.get("billing_same"):
                continue
            values = {name: (data.get(f"{prefix}_{name}") or "").strip() for name in ADDRESS_FIELDS}
            if not any(values.values()):
                continue
            address = Address(**values)
            address.country = address.country.upper()
            for problem in services.address_problems(address):
                self.add_error(f"{prefix}_line1", problem)
        return data

    def address(self, prefix: str) -> Address | None:
        values = {
            name: (self.cleaned_data.get(f"{prefix}_{name}") or "").strip()
            for name in ADDRESS_FIELDS
        }
        if not any(values.values()):
            return None
        values["country"] = values["country"].upper()
        return Address(**values)


ADDRESS_FIELDSETS = [
    (
        "Shipping address",
        {"fields": [f"shipping_{n}" for n in ADDRESS_FIELDS]},
    ),
    ("Billing address", {"fields": ["billing_same", *[f"billing_{n}" for n in ADDRESS_FIELDS]]}),
]


# --- orders -------------------------------------------------------------------------------


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    change_form_template = "admin/orders/order/change_form.html"
    list_display = [
        "order_number",
        "status_display",
        "channel",
        "customer_display",
        "total_display",
        "placed_at",
        "promised_ship_by",
        "hold_reasons_display",
    ]
    list_filter = ["status", "channel", HoldReasonFilter, ("placed_at", admin.DateFieldListFilter)]
    search_fields = [
        "=number",
        "email",
        "customer__email",
        "customer__name",
        "=lines__sku",
        "external_reference",
    ]
    search_help_text = "Order number, customer email or name, SKU, or partner reference."
    date_hierarchy = "placed_at"
    list_per_page = 50
    show_full_result_count = False
    autocomplete_fields = ["customer"]
    form = DraftOrderForm
    inlines = [OrderLineInline, OrderHoldInline, OrderEventInline, NotificationInline]
    ordering = ["-placed_at", "-pk"]

    summary_fields = [
        "order_number",
        "status_display",
        "channel",
        "customer",
        "email",
        "phone",
        "external_reference",
        "created_at",
        "placed_at",
        "confirmed_at",
        "promised_ship_by",
        "fraud_score",
    ]
    totals_fields = ["lines_total", "shipping_total", "tax_display", "grand_total", "currency"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        open_holds = Prefetch(
            "holds",
            queryset=OrderHold.objects.filter(released_at__isnull=True),
            to_attr="open_holds",
        )
        return (
            super()
            .get_queryset(request)
            .select_related("customer", "shipping_method", "shipping_address", "billing_address")
            .prefetch_related(open_holds)
        )

    # --- list columns ---

    @admin.display(description="order", ordering="number")
    def order_number(self, order: Order) -> str:
        return order.number or f"draft #{order.pk}"

    @admin.display(description="status", ordering="status")
    def status_display(self, order: Order) -> str:
        return status_badge(order)

    @admin.display(description="customer", ordering="customer__email")
    def customer_display(self, order: Order) -> str:
        if order.customer is None:
            return order.email or "–"
        return str(order.customer)

    @admin.display(description="total", ordering="grand_total")
    def total_display(self, order: Order) -> str:
        return f"{order.grand_total:,.2f} {order.currency}"

    @admin.display(description="hold reasons")
    def hold_reasons_display(self, order: Order) -> str:
        holds = getattr(order, "open_holds", None)
        if holds is None:
            holds = [h for h in order.holds.all() if h.released_at is None]
        return ", ".join(h.get_reason_display() for h in holds) or ""

    @admin.display(description="tax")
    def tax_display(self, order: Order) -> str:
        kind = "included" if order.prices_include_tax else "added"
        return f"{order.tax_total} ({order.tax_rate}% {kind})"

    @admin.display(description="shipping address")
    def shipping_address_display(self, order: Order) -> str:
        return self._address_html(order.shipping_address)

    @admin.display(description="billing address")
    def billing_address_display(self, order: Order) -> str:
        return self._address_html(order.billing_address)

    @staticmethod
    def _address_html(address: Address | None) -> str:
        if address is None:
            return "–"
        return format_html_join("", "{}<br>", ((line,) for line in address.as_lines()))

    def get_inlines(self, request: HttpRequest, obj: Order | None) -> list:
        if obj is None:  # a new draft has no holds, timeline or messages yet
            return [OrderLineInline]
        return self.inlines

    # --- forms: editable only while draft ---

    def _is_draft(self, obj: Order | None) -> bool:
        return obj is None or obj.status == OrderStatus.DRAFT

    def get_form(self, request: HttpRequest, obj: Order | None = None, **kwargs: Any) -> Any:
        if not self._is_draft(obj):
            kwargs["form"] = forms.ModelForm
            kwargs["fields"] = []
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Order | None = None) -> list:
        if self._is_draft(obj):
            main = ["channel", "customer", "email", "phone", "shipping_method"]
            notes = ["customer_note", "staff_note"]
            return [
                (None, {"fields": main}),
                *ADDRESS_FIELDSETS,
                ("Notes", {"fields": notes}),
            ]
        return [
            (None, {"fields": self.summary_fields}),
            ("Totals", {"fields": self.totals_fields}),
            (
                "Delivery",
                {
                    "fields": [
                        "shipping_method",
                        "shipping_address_display",
                        "billing_address_display",
                    ]
                },
            ),
            (
                "Notes",
                {"fields": ["customer_note", "staff_note", "cancellation_reason"]},
            ),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Order | None = None) -> list[str]:
        if self._is_draft(obj):
            return []
        return [
            *self.summary_fields,
            *self.totals_fields,
            "shipping_method",
            "shipping_address_display",
            "billing_address_display",
            "customer_note",
            "staff_note",
            "cancellation_reason",
        ]

    def get_autocomplete_fields(self, request: HttpRequest) -> list[str]:
        return ["customer"]

    def has_delete_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        # Orders are never deleted; drafts are cancelled so the timeline stays.
        return False

    def save_model(self, request: HttpRequest, obj: Order, form: Any, change: bool) -> None:
        if not self._is_draft(obj if change else None):
            return
        shipping = form.address("shipping")
        billing = None if form.cleaned_data.get("billing_same") else form.address("billing")
        services.order_save_draft(
            order=obj, shipping_address=shipping, billing_address=billing, actor=request.user
        )

    def response_add(self, request: HttpRequest, obj: Order, post_url_continue: Any = None) -> Any:
        # After creating a draft, stay on it so staff can add lines and press "Place order".
        if "_addanother" not in request.POST and "_continue" not in request.POST:
            request.POST = request.POST.copy()
            request.POST["_continue"] = "1"
        return super().response_add(request, obj, post_url_continue)

    # --- transition buttons ---

    def get_urls(self) -> list:
        return [
            path(
                "<int:object_id>/action/<str:action>/",
                self.admin_site.admin_view(self.order_action_view),
                name="orders_order_action",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        extra_context = extra_context or {}
        order = self.get_object(request, object_id)
        if order is not None:
            extra_context["order_actions"] = available_actions(order, request.user)
            # Later phases add theirs (payments: what is paid, refunded and due).
            extra_context["order_panels"] = lifecycle.staff_panels(order=order, request=request)
            extra_context["order_status_badge"] = status_badge(order)
            if order.status != OrderStatus.DRAFT:
                extra_context.update(
                    show_save=False,
                    show_save_and_continue=False,
                    show_save_and_add_another=False,
                )
        return super().change_view(request, object_id, form_url, extra_context)

    def order_action_view(self, request: HttpRequest, object_id: int, action: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        order = self.get_object(request, str(object_id))
        if order is None or not self.has_view_or_change_permission(request, order):
            raise PermissionDenied
        change_url = reverse("admin:orders_order_change", args=[order.pk])
        spec = ORDER_ACTIONS.get(action)
        if spec is None or spec not in available_actions(order, request.user):
            self.message_user(
                request,
                f"“{action}” is not possible for {order} now ({order.get_status_display()}), "
                "or you are not allowed to do it. Nothing was changed.",
                messages.ERROR,
            )
            return HttpResponseRedirect(change_url)
        note = request.POST.get("note", "").strip()
        reason = request.POST.get("reason", "").strip()
        if spec.note_required and not note:
            self.message_user(
                request, f"{spec.label}: {spec.note_label} is required.", messages.ERROR
            )
            return HttpResponseRedirect(change_url)
        try:
            spec.run(order_id=order.pk, actor=request.user, note=note, reason=reason)
        except DomainError as exc:
            self.message_user(request, f"{spec.label}: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(change_url)
        order = Order.objects.prefetch_related("holds").get(pk=order.pk)
        outcome = f"{order} is now {order.get_status_display().lower()}"
        reasons = order.active_hold_reasons()
        if order.status == OrderStatus.ON_HOLD and reasons:
            outcome += " (" + ", ".join(HoldReason(r).label for r in reasons) + ")"
        self.message_user(request, f"{spec.label}: done. {outcome}.", messages.SUCCESS)
        return HttpResponseRedirect(change_url)


@admin.register(HeldOrder)
class HeldOrderAdmin(admin.ModelAdmin):
    """The queue of held orders, oldest first, released or cancelled with a note."""

    list_display = [
        "order_link",
        "customer_display",
        "total_display",
        "hold_reasons_display",
        "held_since",
        "held_from",
        "status",
        "placed_at",
    ]
    list_filter = [HoldReasonFilter, "channel"]
    search_fields = ["=number", "email", "customer__name"]
    actions = ["release_selected", "cancel_selected"]
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        open_holds = Prefetch(
            "holds",
            queryset=OrderHold.objects.filter(released_at__isnull=True),
            to_attr="open_holds",
        )
        # Held orders, and shipped ones the carrier reports a delivery exception for.
        held = Q(status=OrderStatus.ON_HOLD) | Q(shipments__status="exception")
        return (
            super()
            .get_queryset(request)
            .filter(held)
            .distinct()
            .select_related("customer")
            .prefetch_related(open_holds)
            .order_by("updated_at")
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("orders.view_order")

    def has_release_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.release_order")

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.cancel_order")

    @admin.display(description="order", ordering="number")
    def order_link(self, order: Order) -> str:
        url = reverse("admin:orders_order_change", args=[order.pk])
        return format_html('<a href="{}">{}</a>', url, order.number)

    customer_display = OrderAdmin.customer_display
    total_display = OrderAdmin.total_display
    hold_reasons_display = OrderAdmin.hold_reasons_display

    @admin.display(description="held since")
    def held_since(self, order: Order) -> str:
        holds = getattr(order, "open_holds", [])
        if not holds:
            return "–"
        since = min(h.created_at for h in holds)
        return f"{timezone.localtime(since):%Y-%m-%d %H:%M}"

    def _bulk(self, request: HttpRequest, queryset: QuerySet, *, verb: str, run: Any) -> Any:
        if "apply" not in request.POST:
            return TemplateResponse(
                request,
                "admin/orders/heldorder/bulk_action.html",
                {
                    **self.admin_site.each_context(request),
                    "title": f"{verb.capitalize()} {queryset.count()} held orders",
                    "orders": queryset,
                    "verb": verb,
                    "action": request.POST.get("action"),
                    "opts": self.model._meta,
                    "note_required": verb == "cancel",
                },
            )
        note = request.POST.get("note", "").strip()
        if verb == "cancel" and not note:
            self.message_user(request, "A reason is required to cancel orders.", messages.ERROR)
            return None
        done, refused = [], []
        for order in queryset:
            try:
                run(order_id=order.pk, actor=request.user, note=note)
                done.append(order.number)
            except DomainError as exc:
                refused.append(f"{order.number}: {exc.message}")
        if done:
            past = {"release": "Released", "cancel": "Cancelled"}[verb]
            self.message_user(request, f"{past}: {', '.join(done)}.", messages.SUCCESS)
        for message in refused:
            self.message_user(request, message, messages.ERROR)
        return None

    @admin.action(description="Release selected orders (with a note)", permissions=["release"])
    def release_selected(self, request: HttpRequest, queryset: QuerySet) -> Any:
        return self._bulk(
            request,
            queryset,
            verb="release",
            run=lambda **kw: services.order_release(**kw),
        )

    @admin.action(description="Cancel selected orders (with a reason)", permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet) -> Any:
        return self._bulk(
            request,
            queryset,
            verb="cancel",
            run=lambda *, order_id, actor, note: services.order_cancel(
                order_id=order_id, actor=actor, reason=note
            ),
        )


# --- notifications ------------------------------------------------------------------------


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "kind",
        "channel",
        "recipient",
        "order_link",
        "status",
        "attempts",
        "sent_at",
    ]
    list_filter = ["status", "kind", "channel"]
    search_fields = ["recipient", "=order__number", "subject"]
    list_select_related = ["order"]
    actions = ["resend_selected"]
    readonly_fields = [
        "order_link",
        "kind",
        "reference",
        "channel",
        "recipient",
        "status",
        "attempts",
        "last_error",
        "created_at",
        "next_attempt_at",
        "sent_at",
        "provider_message_id",
        "rendered_subject",
        "rendered_text",
        "rendered_html",
    ]
    fields = readonly_fields

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("orders.resend_notification")

    @admin.display(description="order")
    def order_link(self, notification: Notification) -> str:
        if notification.order is None:
            return "–"
        url = reverse("admin:orders_order_change", args=[notification.order_id])
        return format_html('<a href="{}">{}</a>', url, notification.order)

    def _rendered(self, notification: Notification) -> tuple[str, str, str]:
        cache = getattr(notification, "_rendered_cache", None)
        if cache is None:
            if notification.status == NotificationStatus.SENT:
                cache = (notification.subject, notification.body_text, notification.body_html)
            else:
                try:
                    cache = render_notification(notification)
                except Exception as exc:  # a broken template must not break the console
                    cache = ("", f"(cannot render: {exc})", "")
            notification._rendered_cache = cache
        return cache

    @admin.display(description="subject")
    def rendered_subject(self, notification: Notification) -> str:
        return self._rendered(notification)[0]

    @admin.display(description="plain text")
    def rendered_text(self, notification: Notification) -> str:
        return format_html(
            '<pre style="white-space:pre-wrap;max-width:60em;">{}</pre>',
            self._rendered(notification)[1],
        )

    @admin.display(description="HTML")
    def rendered_html(self, notification: Notification) -> str:
        html = self._rendered(notification)[2]
        if not html:
            return "–"
        return format_html(
            '<iframe sandbox="" srcdoc="{}" style="width:100%;max-width:680px;height:480px;'
            'border:1px solid #ddd;" title="Email preview"></iframe>',
            html,
        )

    @admin.action(description="Resend selected notifications", permissions=["resend"])
    def resend_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        for notification in queryset:
            notification_resend(notification_id=notification.pk, actor=request.user)
        self.message_user(request, f"{queryset.count()} notification(s) queued to resend.")


# --- customers and tax --------------------------------------------------------------------


class AddressInline(admin.StackedInline):
    model = Address
    extra = 0
    fields = [*ADDRESS_FIELDS, "phone"]


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "company", "phone", "user", "created_at"]
    search_fields = ["email", "name", "company", "phone"]
    list_select_related = ["user"]
    inlines = [AddressInline]
    raw_id_fields = ["user"]


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin):
    list_display = ["country", "name", "rate"]
    search_fields = ["country", "name"]

"""Payments in the staff console. Finance captures, voids, refunds and records invoice
payments; every other group sees payments read-only. All changes go through services."""

import secrets
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.defaultfilters import pluralize
from django.urls import path, reverse
from django.utils.html import format_html

from orders.admin_base import ReadOnlyAdmin, ReadOnlyInline
from orders.exceptions import DomainError
from payments import services
from payments.invoices import invoice_pdf
from payments.models import (
    CheckoutSession,
    CreditAccount,
    Invoice,
    InvoicePayment,
    Payment,
    PaymentOperation,
    ProviderEvent,
    Refund,
)
from payments.selectors import credit_accounts_with_open_balance, payment_staff_actions


class OperationInline(ReadOnlyInline):
    model = PaymentOperation
    fields = [
        "created_at",
        "kind",
        "amount",
        "status",
        "attempts",
        "provider_reference",
        "error_code",
        "error_message",
        "idempotency_key",
    ]
    readonly_fields = fields


class CheckoutInline(ReadOnlyInline):
    """The card provider's payment page the customer paid (or did not pay) on."""

    model = CheckoutSession
    verbose_name = "payment page"
    fields = [
        "created_at",
        "status",
        "session_id",
        "expires_at",
        "opened_at",
        "checked_at",
        "closed_at",
    ]
    readonly_fields = fields


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = ["created_at", "amount", "reason", "status", "created_by", "provider_reference"]
    readonly_fields = fields


def _invoice_pdf_link(invoice: Invoice) -> str:
    url = reverse("admin:payments_invoice_pdf", args=[invoice.pk])
    return format_html('<a href="{}">{}.pdf</a>', url, invoice.number)


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    change_form_template = "admin/payments/payment/change_form.html"
    list_display = [
        "created_at",
        "order_link",
        "method",
        "provider",
        "status",
        "amount",
        "amount_captured",
        "amount_refunded",
        "card",
        "provider_reference",
    ]
    list_filter = ["status", "provider", "method", ("created_at", admin.DateFieldListFilter)]
    search_fields = [
        "=order__number",
        "provider_reference",
        "=invoice_record__number",
        "=checkout__session_id",
    ]
    search_help_text = "Order number, provider reference, invoice number or Stripe session id."
    list_select_related = ["order"]
    date_hierarchy = "created_at"
    inlines = [CheckoutInline, OperationInline, RefundInline]
    fields = [
        "order_link",
        "method",
        "provider",
        "status",
        "amount",
        "currency",
        "amount_captured",
        "amount_refunded",
        "card",
        "provider_reference",
        "failure_code",
        "failure_message",
        "invoice_link",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the buttons below are the only way to change a payment

    @admin.display(description="order", ordering="order__number")
    def order_link(self, payment: Payment) -> str:
        url = reverse("admin:orders_order_change", args=[payment.order_id])
        return format_html('<a href="{}">{}</a>', url, payment.order)

    @admin.display(description="card")
    def card(self, payment: Payment) -> str:
        if not payment.card_last4:
            return "–"
        return f"{payment.card_brand} •••• {payment.card_last4}"

    @admin.display(description="invoice")
    def invoice_link(self, payment: Payment) -> str:
        invoice = Invoice.objects.filter(payment=payment).first()
        if invoice is None:
            return "–"
        if invoice.due_date is None:
            return format_html(
                "{} (paid by card, {} {})",
                _invoice_pdf_link(invoice),
                invoice.paid_amount,
                invoice.currency,
            )
        return format_html(
            "{} (due {}, paid {} of {})",
            _invoice_pdf_link(invoice),
            invoice.due_date,
            invoice.paid_amount,
            invoice.amount,
        )

    # --- the Finance buttons ---

    def get_urls(self) -> list:
        return [
            path(
                "<int:object_id>/action/<str:action>/",
                self.admin_site.admin_view(self.payment_action_view),
                name="payments_payment_action",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        payment = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if payment is not None:
            extra_context["payment_actions"] = payment_staff_actions(payment, request.user)
            extra_context["refund_key"] = secrets.token_urlsafe(16)
            extra_context["refundable"] = payment.refundable
            extra_context["invoice"] = Invoice.objects.filter(payment=payment).first()
        return super().change_view(request, object_id, form_url, extra_context)

    def payment_action_view(
        self, request: HttpRequest, object_id: int, action: str
    ) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        payment = self.get_object(request, str(object_id))
        if payment is None or not self.has_view_permission(request, payment):
            raise PermissionDenied
        back = reverse("admin:payments_payment_change", args=[payment.pk])
        if action not in payment_staff_actions(payment, request.user):
            self.message_user(
                request,
                f"“{action}” is not possible for this payment now "
                f"({payment.get_status_display()}), or you may not do it. Nothing was changed.",
                messages.ERROR,
            )
            return HttpResponseRedirect(back)
        run = {
            "capture": self._capture,
            "void": self._void,
            "refund": self._refund,
            "record_invoice_payment": self._record_invoice_payment,
        }[action]
        try:
            result = run(payment, request)
        except DomainError as exc:
            details = " ".join(" ".join(v) for v in exc.fields.values())
            self.message_user(request, f"{exc.message} {details}".strip(), messages.ERROR)
            return HttpResponseRedirect(back)
        self.message_user(request, result, messages.SUCCESS)
        return HttpResponseRedirect(back)

    # Each button: read the form, call one service, say what happened.

    def _capture(self, payment: Payment, request: HttpRequest) -> str:
        payment = services.payment_capture_and_secure(payment_id=payment.pk, actor=request.user)
        return f"Payment is {payment.get_status_display().lower()}."

    def _void(self, payment: Payment, request: HttpRequest) -> str:
        payment = services.payment_void(payment_id=payment.pk, actor=request.user)
        return f"Payment is {payment.get_status_display().lower()}."

    def _refund(self, payment: Payment, request: HttpRequest) -> str:
        refund = services.refund_create(
            payment_id=payment.pk,
            amount=request.POST.get("amount", ""),
            reason=request.POST.get("reason", ""),
            actor=request.user,
            idempotency_key=request.POST.get("idempotency_key", ""),
        )
        refund.refresh_from_db()
        return {
            "succeeded": f"Refund of {refund.amount} {payment.currency} issued.",
            "pending": f"Refund of {refund.amount} {payment.currency} requested; it is "
            "complete when the provider confirms (retried if it does not answer).",
        }.get(refund.status, f"The provider refused the refund of {refund.amount}.")

    def _record_invoice_payment(self, payment: Payment, request: HttpRequest) -> str:
        invoice = services.invoice_record_payment(
            invoice_id=payment.invoice_record.pk,
            amount=request.POST.get("amount", ""),
            reference=request.POST.get("reference", ""),
            actor=request.user,
        )
        return f"Recorded. {invoice.balance} {invoice.currency} still due."


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "order_link",
        "amount",
        "paid_amount",
        "balance_display",
        "issued_at",
        "due_date",
        "payment_status",
        "pdf",
    ]
    list_filter = ["payment__status", "due_date"]
    search_fields = ["=number", "=payment__order__number", "payment__order__email"]
    list_select_related = ["payment__order"]
    readonly_fields = [
        "number",
        "order_link",
        "amount",
        "currency",
        "paid_amount",
        "issued_at",
        "due_date",
        "reminder_sent_at",
        "pdf",
    ]
    fields = readonly_fields

    @admin.display(description="order")
    def order_link(self, invoice: Invoice) -> str:
        url = reverse("admin:payments_payment_change", args=[invoice.payment_id])
        return format_html('<a href="{}">{}</a>', url, invoice.payment.order)

    @admin.display(description="balance")
    def balance_display(self, invoice: Invoice) -> Any:
        return invoice.balance

    @admin.display(description="status", ordering="payment__status")
    def payment_status(self, invoice: Invoice) -> str:
        return invoice.payment.get_status_display()

    @admin.display(description="PDF")
    def pdf(self, invoice: Invoice) -> str:
        return _invoice_pdf_link(invoice)

    def get_urls(self) -> list:
        return [
            path(
                "<int:object_id>/pdf/",
                self.admin_site.admin_view(self.pdf_view),
                name="payments_invoice_pdf",
            ),
            *super().get_urls(),
        ]

    def pdf_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        invoice = Invoice.objects.select_related("payment__order").filter(pk=object_id).first()
        if invoice is None or not self.has_view_permission(request, invoice):
            raise PermissionDenied
        response = HttpResponse(invoice_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="{invoice.number}.pdf"'
        return response


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    """Refunds, with Finance's two answers for one the provider never confirmed (the order's
    timeline says which): after checking with the provider, paid out or not."""

    list_display = ["created_at", "payment", "amount", "reason", "status", "provider_reference"]
    list_filter = ["status"]
    search_fields = ["=payment__order__number", "provider_reference"]
    list_select_related = ["payment"]
    actions = ["settle_paid_out", "settle_not_paid_out"]

    def has_settle_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.refund_payment")

    @admin.action(description="Checked with the provider: paid out", permissions=["settle"])
    def settle_paid_out(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._settle(request, queryset, paid_out=True)

    @admin.action(description="Checked with the provider: not paid out", permissions=["settle"])
    def settle_not_paid_out(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._settle(request, queryset, paid_out=False)

    def _settle(self, request: HttpRequest, queryset: QuerySet, *, paid_out: bool) -> None:
        settled = 0
        for refund_id in queryset.values_list("pk", flat=True):
            try:
                services.refund_settle_by_hand(
                    refund_id=refund_id, paid_out=paid_out, actor=request.user
                )
            except DomainError as refusal:
                self.message_user(request, f"Refund {refund_id}: {refusal.message}", messages.ERROR)
            else:
                settled += 1
        if settled:
            self.message_user(
                request, f"{settled} refund{pluralize(settled)} settled.", messages.SUCCESS
            )


@admin.register(InvoicePayment)
class InvoicePaymentAdmin(ReadOnlyAdmin):
    list_display = ["invoice", "amount", "received_on", "reference", "recorded_by", "created_at"]
    search_fields = ["=invoice__number", "reference"]
    list_select_related = ["invoice", "recorded_by"]


@admin.register(CreditAccount)
class CreditAccountAdmin(admin.ModelAdmin):
    list_display = ["customer", "terms_days", "credit_limit", "currency", "is_active", "open"]
    list_filter = ["terms_days", "is_active"]
    search_fields = ["customer__email", "customer__name", "customer__company"]
    autocomplete_fields = ["customer"]
    list_select_related = ["customer"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[CreditAccount]:
        return credit_accounts_with_open_balance(super().get_queryset(request))

    @admin.display(description="open on invoice", ordering="open_balance")
    def open(self, account: CreditAccount) -> Any:
        return account.open_balance


@admin.register(ProviderEvent)
class ProviderEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "provider", "type", "event_id", "result", "processed_at"]
    list_filter = ["provider", "type"]
    search_fields = ["event_id"]
    readonly_fields = [
        "provider",
        "event_id",
        "type",
        "payload",
        "received_at",
        "processed_at",
        "result",
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

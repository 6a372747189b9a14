"""The notification log in the staff console: every email and SMS the outbox holds, shown
as the recipient gets it, and resent on request. (Partner webhooks have their own log, in
orders/api/admin/webhooks.py.)"""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils.html import format_html

from orders.admin_base import ReadOnlyAdmin
from orders.exceptions import DomainError
from orders.models import Notification, NotificationStatus
from orders.notifications import notification_resend, render_notification


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
        queued = 0
        for notification in queryset:
            try:
                notification_resend(notification_id=notification.pk, actor=request.user)
            except DomainError as refusal:
                self.message_user(request, refusal.message, messages.WARNING)
            else:
                queued += 1
        self.message_user(request, f"{queued} notification{pluralize(queued)} queued to resend.")

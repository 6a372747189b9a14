"""Customer messages (email and SMS) through the outbox (DESIGN.md rule 3).

`queue_*` writes the Notification row inside the caller's transaction and hands it to Celery
after the commit; `notification_send` renders the row, then sends it through the outbox engine
(orders.outbox: claim, commit, send outside any transaction, record), so running it twice sends
once; the relay task resends rows still pending after OUTBOX_RELAY_AFTER.
"""

import logging
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.module_loading import import_string

from orders import events, sms
from orders.broker import enqueue
from orders.models import (
    EventType,
    Notification,
    NotificationChannel,
    NotificationStatus,
    Order,
    OrderEvent,
)
from orders.outbox import OutboxKind, SendOutcome, outbox_requeue, outbox_send

logger = logging.getLogger(__name__)

# What each kind is called in the timeline, and whether the customer sees it there.
KIND_LABELS = {
    "order_confirmation": "Order confirmation",
    "order_cancelled": "Cancellation notice",
    "payment_receipt": "Payment receipt",
    "payment_failed": "Payment failed notice",
    "payment_requested": "Payment request",
    "invoice_issued": "Invoice",
    "invoice_reminder": "Invoice reminder",
    "refund_issued": "Refund notice",
    "order_shipped": "Shipping notice",
    "order_delivered": "Delivery notice",
    "delivery_exception": "Delivery problem notice",
    "download_links": "Download links",
    "appointment_scheduled": "Appointment confirmation",
}


def enqueue_send(notification_id: int) -> None:
    """Hand a row to Celery. A broker outage is logged, not raised: the relay sends it later."""
    from orders.tasks import send_notification

    enqueue(send_notification, notification_id, later_by="the outbox relay", row=notification_id)


def queue_notification(
    *,
    order: Order | None,
    kind: str,
    recipient: str,
    channel: str = NotificationChannel.EMAIL,
    reference: str = "",
    context: dict[str, Any] | None = None,
) -> Notification | None:
    """Write one outbox row (once per order + kind + reference + recipient) and send it after
    the commit. Returns None when the row already existed."""
    if not recipient:
        return None
    now = timezone.now()
    notification, created = Notification.objects.get_or_create(
        order=order,
        kind=kind,
        reference=reference,
        recipient=recipient,
        defaults={
            "channel": channel,
            "context": context or {},
            "created_at": now,
            "next_attempt_at": now + settings.OUTBOX_RELAY_AFTER,
        },
    )
    if not created:
        return None
    transaction.on_commit(partial(enqueue_send, notification.pk))
    return notification


def queue_order_notification(
    order: Order, kind: str, *, reference: str = "", **context: Any
) -> None:
    """The customer's email for an order event, plus an SMS where SMS is set up."""
    queue_notification(
        order=order, kind=kind, recipient=order.email, reference=reference, context=context
    )
    if sms.sms_enabled() and order.phone:
        queue_notification(
            order=order,
            kind=kind,
            recipient=order.phone,
            channel=NotificationChannel.SMS,
            reference=reference,
            context=context,
        )


# --- rendering and delivery ---------------------------------------------------------------


def order_page_url(order: Order) -> str:
    """Where the customer follows an order: the account's order page when the order is in an
    account (Order.account), otherwise the signed guest link (revocable, expires after
    ORDER_LINK_MAX_AGE_DAYS), even when an account has the order's email."""
    from django.urls import reverse

    from orders.selectors import order_link_token

    site = settings.SITE_URL.rstrip("/")
    if order.account_id:
        return site + reverse("orders:account-order", args=[order.number])
    return site + reverse("orders:order-link", args=[order_link_token(order)])


def order_invoice_url(order: Order) -> str:
    """The order's invoice PDF, behind the same door as its page (order_page_url): the
    account's invoice link (the customer logs in), or the signed guest link's."""
    from django.urls import reverse

    from orders.selectors import order_link_token

    site = settings.SITE_URL.rstrip("/")
    if order.account_id:
        return site + reverse("orders:account-order-invoice", args=[order.number])
    return site + reverse("orders:order-link-invoice", args=[order_link_token(order)])


def render_notification(notification: Notification) -> tuple[str, str, str]:
    """(subject, plain text, HTML) for a row, from templates/emails/<kind>.* or
    templates/sms/<kind>.txt."""
    order = notification.order
    context = {
        "order": order,
        "lines": list(order.lines.all()) if order else [],
        "site_url": settings.SITE_URL.rstrip("/"),
        "order_url": order_page_url(order) if order is not None and order.number else "",
        "notification": notification,
        **notification.context,
    }
    if order is not None and order.number and notification.context.get("invoice_number"):
        # A message about an invoice (the card receipt) links to its PDF.
        context["invoice_url"] = order_invoice_url(order)
    if notification.channel == NotificationChannel.SMS:
        body = render_to_string(f"sms/{notification.kind}.txt", context).strip()
        return "", body, ""
    subject = " ".join(render_to_string(f"emails/{notification.kind}.subject.txt", context).split())
    text = render_to_string(f"emails/{notification.kind}.txt", context)
    html = render_to_string(f"emails/{notification.kind}.html", context)
    return subject, text, html


def _deliver(notification: Notification, subject: str, text: str, html: str) -> str:
    if notification.channel == NotificationChannel.SMS:
        return sms.get_backend().send(notification.recipient, text)
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notification.recipient],
        headers={
            # One Message-ID per outbox row: should a resend ever slip through, mail systems
            # see the same message, not a new one.
            "Message-ID": f"<notification-{notification.pk}@{_mail_domain()}>",
            "X-Orderflow-Notification": str(notification.pk),
        },
    )
    message.attach_alternative(html, "text/html")
    for spec in notification.context.get("attachments", []):
        # Built at send time from a dotted path, so the outbox row stays small.
        builder = import_string(spec["builder"])
        filename, content, mimetype = builder(
            **{key: value for key, value in spec.items() if key != "builder"}
        )
        message.attach(filename, content, mimetype)
    message.send(fail_silently=False)
    status = getattr(message, "anymail_status", None)
    return str(getattr(status, "message_id", "") or "")


def _mail_domain() -> str:
    address = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1]
    return address.strip(" >") or "localhost"


class NotificationOutbox(OutboxKind):
    """Email and SMS rows. Asking to send one is an attempt, due or not (staff tools and the
    task after the commit); retries come from the relay when the schedule says so."""

    model = Notification
    done_status = NotificationStatus.SENT
    retries_wait_for_schedule = False
    label = "notification"

    def lock_query(self) -> Any:
        return super().lock_query().select_related("order")

    def prepare(self, row: Notification) -> tuple[str, str, str]:
        return render_notification(row)

    def send(self, row: Notification, prepared: tuple[str, str, str]) -> SendOutcome:
        subject, text, html = prepared
        return SendOutcome(delivered=True, provider_id=_deliver(row, subject, text, html))

    def record(
        self, row: Notification, outcome: SendOutcome, prepared: Any, started_at: Any
    ) -> list[str]:
        if not outcome.delivered:
            logger.warning(
                "notification failed",
                extra={
                    "notification": row.pk,
                    "order": row.order.number if row.order else None,
                    "attempt": row.attempts,
                    "error": outcome.error,
                },
            )
            return []
        row.sent_at = timezone.now()
        row.subject, row.body_text, row.body_html = prepared
        row.provider_message_id = outcome.provider_id
        if row.order_id:
            OrderEvent.objects.create(
                order_id=row.order_id,
                type=EventType.NOTIFICATION_SENT,
                actor_label="system",
                message=f"{_label(row)} sent to {row.recipient} "
                f"by {row.get_channel_display().lower()}.",
                data={"notification": row.pk, "kind": row.kind},
                customer_visible=True,
            )
        logger.info(
            "notification sent",
            extra={
                "notification": row.pk,
                "kind": row.kind,
                "order": row.order.number if row.order else None,
            },
        )
        return ["sent_at", "subject", "body_text", "body_html", "provider_message_id"]

    def failed(self, row: Notification, reason: str) -> None:
        if row.order_id:
            OrderEvent.objects.create(
                order_id=row.order_id,
                type=EventType.NOTIFICATION_FAILED,
                actor_label="system",
                message=f"{_label(row)} to {row.recipient} failed: {reason}",
                data={"notification": row.pk},
            )

    def enqueue(self, row_ids: list[Any]) -> None:
        for notification_id in row_ids:
            enqueue_send(notification_id)


NOTIFICATIONS = NotificationOutbox()


def notification_send(*, notification_id: int) -> str:
    """Render and deliver one outbox row: claim, commit, send, record (orders.outbox).
    Returns its status afterwards ("sent", "pending" when it will be retried, "failed" when
    it has run out of attempts; "sending" while another worker has it)."""
    row, why_not = outbox_send(NOTIFICATIONS, notification_id)
    return row.status if row is not None else why_not


def _label(notification: Notification) -> str:
    return KIND_LABELS.get(notification.kind, notification.kind.replace("_", " ").capitalize())


def notification_resend(*, notification_id: int, actor: Any) -> Notification:
    """Staff resend: a sent or failed row goes back to pending and out again (a row being
    sent right now is refused with OutboxRowBusy)."""
    with transaction.atomic():
        notification = outbox_requeue(NOTIFICATIONS, notification_id)
        if notification.order_id:
            events.record(
                notification.order,
                EventType.NOTE,
                actor=actor,
                message=f"{_label(notification)} to {notification.recipient} queued to resend.",
            )
    return notification

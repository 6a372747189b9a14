"""Customer messages through the outbox (DESIGN.md rule 3).

`queue_*` writes the Notification row inside the caller's transaction and sends it after the
commit; `notification_send` renders and delivers one row under a row lock, so running it twice
sends once; the relay task resends rows still pending after OUTBOX_RELAY_AFTER.
"""

import logging
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.module_loading import import_string

from orders import sms
from orders.models import (
    EventType,
    Notification,
    NotificationChannel,
    NotificationStatus,
    Order,
    OrderEvent,
)

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

    try:
        send_notification.delay(notification_id)
    except Exception:
        logger.warning(
            "notification not enqueued; the outbox relay will send it",
            extra={"notification": notification_id},
            exc_info=True,
        )


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
    """Where the customer follows an order: their account's order page when they have an
    account, otherwise the signed guest link (revocable, expires after
    ORDER_LINK_MAX_AGE_DAYS)."""
    from django.urls import reverse

    from orders.selectors import order_link_token

    site = settings.SITE_URL.rstrip("/")
    if order.customer_id and order.customer.user_id:
        return site + reverse("orders:account-order", args=[order.number])
    return site + reverse("orders:order-link", args=[order_link_token(order)])


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


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff: 1, 2, 4, ... minutes, at most 6 hours."""
    return timedelta(minutes=min(2 ** max(attempts - 1, 0), 360))


def notification_send(*, notification_id: int) -> str:
    """Render and deliver one outbox row. Returns its status afterwards ("sent", "pending"
    when it will be retried, "failed" when it has run out of attempts)."""
    with transaction.atomic():
        notification = (
            Notification.objects.select_for_update(of=("self",), no_key=True)
            .select_related("order")
            .filter(pk=notification_id)
            .first()
        )
        if notification is None or notification.status != NotificationStatus.PENDING:
            return notification.status if notification else "missing"
        now = timezone.now()
        notification.attempts += 1
        try:
            subject, text, html = render_notification(notification)
            message_id = _deliver(notification, subject, text, html)
        except Exception as exc:
            notification.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            notification.next_attempt_at = now + retry_delay(notification.attempts)
            if notification.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
                notification.status = NotificationStatus.FAILED
                if notification.order_id:
                    OrderEvent.objects.create(
                        order_id=notification.order_id,
                        type=EventType.NOTIFICATION_FAILED,
                        actor_label="system",
                        message=f"{_label(notification)} to {notification.recipient} failed: "
                        f"{notification.last_error}",
                        data={"notification": notification.pk},
                    )
            notification.save(update_fields=["attempts", "last_error", "next_attempt_at", "status"])
            logger.warning(
                "notification failed",
                extra={
                    "notification": notification.pk,
                    "order": notification.order.number if notification.order else None,
                    "attempt": notification.attempts,
                    "error": notification.last_error,
                },
            )
            return notification.status
        notification.status = NotificationStatus.SENT
        notification.sent_at = now
        notification.subject, notification.body_text, notification.body_html = subject, text, html
        notification.provider_message_id = message_id
        notification.last_error = ""
        notification.save()
        if notification.order_id:
            OrderEvent.objects.create(
                order_id=notification.order_id,
                type=EventType.NOTIFICATION_SENT,
                actor_label="system",
                message=f"{_label(notification)} sent to {notification.recipient} "
                f"by {notification.get_channel_display().lower()}.",
                data={"notification": notification.pk, "kind": notification.kind},
                customer_visible=True,
            )
        logger.info(
            "notification sent",
            extra={
                "notification": notification.pk,
                "kind": notification.kind,
                "order": notification.order.number if notification.order else None,
            },
        )
        return notification.status


def _label(notification: Notification) -> str:
    return KIND_LABELS.get(notification.kind, notification.kind.replace("_", " ").capitalize())


def notification_resend(*, notification_id: int, actor: Any) -> Notification:
    """Staff resend: a sent or failed row goes back to pending and out again."""
    with transaction.atomic():
        notification = Notification.objects.select_for_update(no_key=True).get(pk=notification_id)
        notification.status = NotificationStatus.PENDING
        notification.attempts = 0
        notification.last_error = ""
        notification.next_attempt_at = timezone.now() + settings.OUTBOX_RELAY_AFTER
        notification.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])
        if notification.order_id:
            OrderEvent.objects.create(
                order_id=notification.order_id,
                type=EventType.NOTE,
                actor=actor,
                message=f"{_label(notification)} to {notification.recipient} queued to resend.",
            )
        transaction.on_commit(partial(enqueue_send, notification.pk))
    return notification


def notifications_due(*, limit: int = 500) -> list[int]:
    """Pending rows whose first send (or last retry) is overdue: the relay's work list."""
    return list(
        Notification.objects.filter(
            status=NotificationStatus.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )

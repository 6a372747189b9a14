"""Paying on the provider's own page (Stripe Checkout), so that no card number ever reaches
this server:

1. `hosted_payment_create` writes a pending card payment and its CheckoutSession row (in the
   placement's transaction, or when the customer pays again: `payment_checkout_start`);
2. `checkout_open` opens the page at the provider, after the commit, and returns its address,
   where the customer is sent;
3. what happened on the page is recorded by `checkout_record`, called by whichever comes
   first: the provider's webhook, the customer's return (`checkout_sync`, which asks the
   provider), or the reconcile task (`checkout_reconcile`). Each locks the order, then the
   payment, then the row: the first records the outcome, the others find nothing to change.

A complete page is an authorised card (manual capture): the payment is authorised and an order
held only for payment is released, so review, capture and the warehouse go on as with any
card; the order's other pages are closed. A page that expired unpaid (or that the provider
does not know, well past its closing time) is a decline: the payment fails, the order is held
for payment, and the customer is emailed the link to pay again; but a page closed because a
fresh one replaced it fails quietly while the customer pays on the fresh one. A page paid on
for a payment that no longer waits for it (closed, failed, or for another amount) has its
authorisation given back.

Opening a page and asking about one are not PaymentOperations: neither moves money, and an
open that was not answered cannot usefully be repeated without the customer, who pays again
by link instead.
"""

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from orders import events
from orders.exceptions import DomainError
from orders.models import EventType, Order, OrderStatus
from orders.services import lock_order
from payments.models import (
    PAID_OR_PROMISED,
    CheckoutSession,
    CheckoutStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from payments.providers import HOSTED_CHECKOUT, card_provider_name, get_provider
from payments.providers.base import (
    HostedCheckoutState,
    InvalidPaymentDetails,
    ProviderUnavailable,
    minor_units,
)
from payments.selectors import order_needs_payment
from payments.services.authorisation import release_payment_hold
from payments.services.capture_void import void_queue
from payments.services.declines import order_hold_for_payment, payment_record_decline
from payments.services.inputs import PaymentRefused
from payments.services.operations import call_after_commit

logger = logging.getLogger(__name__)

P = PaymentStatus
C = CheckoutStatus
# A page about to close is not offered again: the customer gets a fresh one.
NEAR_EXPIRY = timedelta(minutes=10)
# A page not opened yet is opened (with the same idempotency key) within this long; an older
# one was never opened and is given up.
OPEN_WINDOW = timedelta(minutes=5)
# A page the provider does not know (a 404: its keys were switched, say) counts as expired
# once its closing time is this long past: nobody can pay on it any more, and the provider
# has had time to report it.
UNKNOWN_PAGE_GRACE = timedelta(hours=1)
EXPIRED_MESSAGE = "The payment page closed before you paid."
NOT_OPENED_MESSAGE = "The payment page could not be opened."
AMOUNT_DIFFERS_MESSAGE = (
    "The payment on the payment page was not for your order's total, so we did not take it; "
    "the hold on your card is released."
)


class CheckoutUnavailable(DomainError):
    """The provider did not open the payment page: the order stays as it is, unpaid."""

    code = "payment_page_unavailable"
    http_status = 503


def hosted_payment_create(order: Order) -> Payment:
    """A pending card payment for the order's total, to be paid on the card provider's page.
    The caller holds the order locked, in its transaction."""
    provider_name = card_provider_name()
    if provider_name not in HOSTED_CHECKOUT:
        raise InvalidPaymentDetails(
            f"The card provider {provider_name!r} has no payment page: send the card.",
            fields={"payment": ["Enter the card details."]},
        )
    payment = Payment.objects.create(
        order=order,
        method=PaymentMethod.CARD,
        provider=provider_name,
        amount=order.grand_total,
        currency=order.currency,
    )
    now = timezone.now()
    CheckoutSession.objects.create(
        payment=payment,
        return_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(minutes=settings.STRIPE_CHECKOUT_EXPIRES_MINUTES),
    )
    return payment


def payment_checkout_start(*, order_id: int, actor: Any) -> Payment:
    """The customer asks to pay (again) for an order that needs paying: the payment whose page
    they go to. A page still open (or being opened) for the order is offered again rather
    than a second one; a page that was never opened is given up."""
    with transaction.atomic():
        order = lock_order(order_id)
        if not order_needs_payment(order):
            raise PaymentRefused(
                f"Order {order.number} needs no payment now.", fields={"card": ["Nothing to pay."]}
            )
        now = timezone.now()
        waiting = (
            CheckoutSession.objects.filter(payment__order=order, payment__status=P.PENDING)
            .filter(
                Q(status=C.OPEN, expires_at__gt=now + NEAR_EXPIRY)
                | Q(status=C.NEW, created_at__gt=now - OPEN_WINDOW)
            )
            .select_related("payment")
            .order_by("-created_at", "-pk")
            .first()
        )
        if waiting is not None:
            return waiting.payment
        # Pages still open are about to close: each is closed at the provider once the fresh
        # one is written, so that the customer pays on one page only. Their payments stay
        # pending until the provider reports the page closed (or paid: a payment made on
        # one meanwhile is taken, and the fresh page closed in turn).
        superseded = list(
            CheckoutSession.objects.filter(
                payment__order=order, payment__status=P.PENDING, status=C.OPEN
            ).values_list("pk", flat=True)
        )
        for stale in Payment.objects.select_for_update(of=("self",), no_key=True).filter(
            order=order, status=P.PENDING, checkout__status=C.NEW
        ):
            stale.void_unsent()
            stale.save(update_fields=["status", "updated_at"])
            CheckoutSession.objects.filter(payment=stale).update(status=C.NOT_OPENED, closed_at=now)
        payment = hosted_payment_create(order)
        events.record(
            order,
            EventType.NOTE,
            actor=actor,
            message="The customer went to the payment page to pay again.",
            data={"payment": payment.pk},
        )
        for checkout_id in superseded:
            call_after_commit(checkout_close, checkout_id=checkout_id)
    return payment


def checkout_return_urls(checkout: CheckoutSession) -> tuple[str, str]:
    """Where the provider sends the customer back: after paying (the provider fills in the
    session's id) and after leaving the page without paying. On the site's own address
    (SITE_URL), never the host a request came in on: the page is opened with a fixed
    idempotency key, and a retry from another host must send the provider the same request."""
    base = settings.SITE_URL.rstrip("/")
    success = base + reverse("orders:checkout-return", args=[checkout.return_token])
    cancel = base + reverse("orders:checkout-cancelled", args=[checkout.return_token])
    return f"{success}?session_id={{CHECKOUT_SESSION_ID}}", cancel


def checkout_open(*, payment_id: int) -> str:
    """The address of the payment's page, opened at the provider now if it is not open yet.
    CheckoutUnavailable when the provider does not open it; PaymentRefused when the page is
    closed, or the order no longer waits for this payment."""
    checkout = CheckoutSession.objects.select_related("payment__order").get(payment_id=payment_id)
    if checkout.status == C.OPEN:
        return checkout.url
    if checkout.status != C.NEW:
        raise PaymentRefused("This payment page is closed. Please start the payment again.")
    payment = checkout.payment
    order = payment.order
    success_url, cancel_url = checkout_return_urls(checkout)
    metadata = {"order": str(order.number), "payment": str(payment.pk)}
    try:
        state = get_provider(payment.provider).checkout_open(
            amount=payment.amount,
            currency=payment.currency,
            description=f"Order {order.number}",
            customer_email=order.email,
            client_reference_id=f"payment-{payment.pk}",
            metadata=metadata,
            success_url=success_url,
            cancel_url=cancel_url,
            expires_at=checkout.expires_at,
            idempotency_key=f"payment-{payment.pk}-checkout",
        )
    except (ProviderUnavailable, InvalidPaymentDetails) as exc:
        logger.warning(
            "payment page not opened", extra={"payment": payment.pk, "error": str(exc)[:200]}
        )
        raise CheckoutUnavailable(
            "We could not open the payment page just now. Your order is saved and nothing "
            "was charged: please try again in a minute."
        ) from exc
    with transaction.atomic():
        order = lock_order(order.pk)
        payment = _lock_payment(payment.pk, order)
        checkout = CheckoutSession.objects.select_for_update(no_key=True).get(pk=checkout.pk)
        if checkout.status == C.NEW:
            checkout.status = C.OPEN
            checkout.session_id = state.session_id
            checkout.url = state.url
            checkout.opened_at = timezone.now()
            checkout.save(update_fields=["status", "session_id", "url", "opened_at"])
        if state.status != "open":
            # The same key gave back a page already paid or closed: record that.
            _record(order, payment, checkout, state, actor="payments", event_id="")
        still_wanted = payment.status == P.PENDING and checkout.status == C.OPEN
    if not still_wanted:
        # Cancelled, or paid another way, while the page was opening: close it.
        checkout_close(checkout_id=checkout.pk)
        raise PaymentRefused(f"Order {order.number} no longer waits for this payment.")
    return checkout.url


def checkout_close(*, checkout_id: int) -> None:
    """Close an open page nobody should pay on any more (its order was cancelled or paid on
    another page, or a fresh page replaces it). If the provider does not answer, the page
    closes by itself when it expires; a payment made on it meanwhile is recorded as any
    (given back when its payment was closed here)."""
    checkout = CheckoutSession.objects.select_related("payment").get(pk=checkout_id)
    if checkout.status != C.OPEN:
        return
    try:
        state = get_provider(checkout.payment.provider).checkout_expire(
            checkout.session_id, idempotency_key=f"checkout-{checkout.pk}-expire"
        )
    except ProviderUnavailable:
        logger.warning("payment page not closed", extra={"checkout": checkout.pk})
        return
    checkout_record(state, actor="payments")


def checkout_sync(*, checkout_id: int) -> CheckoutSession:
    """Ask the provider what happened on an open page, and record it (the customer's return,
    and the reconcile task). ProviderUnavailable when the provider does not answer."""
    checkout = CheckoutSession.objects.select_related("payment").get(pk=checkout_id)
    if checkout.status != C.OPEN:
        return checkout
    # Stamped first: a provider that does not answer is not asked again at every sweep.
    CheckoutSession.objects.filter(pk=checkout.pk).update(checked_at=timezone.now())
    state = get_provider(checkout.payment.provider).checkout_retrieve(checkout.session_id)
    if state is not None and state.session_id == checkout.session_id:
        checkout_record(state, actor="payments")
    elif timezone.now() < checkout.expires_at + UNKNOWN_PAGE_GRACE:
        # Asked again at a later sweep: until its closing time it could still be paid on.
        logger.warning("payment page unknown at the provider", extra={"checkout": checkout.pk})
    else:
        _record_unknown_page(checkout)
    checkout.refresh_from_db()
    return checkout


def _record_unknown_page(checkout: CheckoutSession) -> None:
    """A page the provider does not know, well past its closing time: nobody can pay on it,
    so it counts as expired (a decline: the customer is sent the link to pay again), rather
    than being asked about at every sweep with its order held for good. Should the provider
    report it paid after all, that payment is given back when it is recorded."""
    logger.warning("payment page unknown at the provider: expired", extra={"checkout": checkout.pk})
    with transaction.atomic():
        order = lock_order(checkout.payment.order_id)
        payment = _lock_payment(checkout.payment_id, order)
        checkout = CheckoutSession.objects.select_for_update(no_key=True).get(pk=checkout.pk)
        if checkout.status != C.OPEN:
            return
        _record_expired(
            order,
            payment,
            checkout,
            actor="payments",
            event_id="",
            why=f"The card provider does not know the payment page ({checkout.session_id}) "
            "and its closing time is past: it counts as expired.",
        )


def checkout_reconcile(*, checkout_id: int) -> None:
    """The reconcile task's look at a page left open (or never opened) for a while: a page
    never opened cannot be paid on, so it counts as a decline (the customer is emailed the
    link to pay again); an open one is asked about."""
    checkout = CheckoutSession.objects.select_related("payment").get(pk=checkout_id)
    if checkout.status == C.OPEN:
        checkout_sync(checkout_id=checkout_id)
    elif checkout.status == C.NEW:
        _give_up_unopened(checkout)


def _give_up_unopened(checkout: CheckoutSession) -> None:
    with transaction.atomic():
        order = lock_order(checkout.payment.order_id)
        payment = _lock_payment(checkout.payment_id, order)
        checkout = CheckoutSession.objects.select_for_update(no_key=True).get(pk=checkout.pk)
        if checkout.status != C.NEW:
            return
        checkout.status = C.NOT_OPENED
        checkout.closed_at = timezone.now()
        checkout.save(update_fields=["status", "closed_at"])
        if payment.status != P.PENDING:
            return
        then = (
            "The customer was sent a link to pay."
            if order_needs_payment(order)
            else "Another payment covers the order."
        )
        payment_record_decline(
            payment,
            code="checkout_not_opened",
            message=NOT_OPENED_MESSAGE,
            actor="payments",
            timeline=f"{NOT_OPENED_MESSAGE} {then}",
            data={"payment": payment.pk},
            customer_visible=True,
        )
        order_hold_for_payment(
            order, note="The payment page could not be opened; the customer was sent a link."
        )


def checkout_record(state: HostedCheckoutState, *, actor: Any, event_id: str = "") -> str:
    """Record what the provider reports about a page (a webhook's session, or the session as
    the provider answered for it). Safe to repeat, and whichever report comes first wins.
    Returns what happened, for the webhook's record."""
    with transaction.atomic():
        found = (
            CheckoutSession.objects.filter(session_id=state.session_id)
            .values_list("pk", "payment_id", "payment__order_id")
            .first()
        )
        if found is None:
            return "ignored: no checkout with this session"
        checkout_id, payment_id, order_id = found
        order = lock_order(order_id)
        payment = _lock_payment(payment_id, order)
        checkout = CheckoutSession.objects.select_for_update(no_key=True).get(pk=checkout_id)
        return _record(order, payment, checkout, state, actor=actor, event_id=event_id)


def _lock_payment(payment_id: int, order: Order) -> Payment:
    """The payment, locked after its order (the order services' lock order)."""
    payment = Payment.objects.select_for_update(of=("self",), no_key=True).get(pk=payment_id)
    payment.order = order
    return payment


def _record(
    order: Order,
    payment: Payment,
    checkout: CheckoutSession,
    state: HostedCheckoutState,
    *,
    actor: Any,
    event_id: str,
) -> str:
    if state.status == "complete":
        return _record_complete(order, payment, checkout, state, actor=actor, event_id=event_id)
    if state.status == "expired":
        return _record_expired(order, payment, checkout, actor=actor, event_id=event_id)
    return "ignored: the customer has not paid yet"


def _close(checkout: CheckoutSession, status: str) -> None:
    checkout.status = status
    checkout.closed_at = timezone.now()
    checkout.save(update_fields=["status", "closed_at"])


def _record_complete(
    order: Order,
    payment: Payment,
    checkout: CheckoutSession,
    state: HostedCheckoutState,
    *,
    actor: Any,
    event_id: str,
) -> str:
    if checkout.status == C.COMPLETE:
        return "already recorded"
    data = {"payment": payment.pk, "session": state.session_id, "reference": state.payment_intent}
    if event_id:
        data["event"] = event_id
    if not state.payment_intent:
        return "ignored: the session names no payment"
    if state.amount_total is None or not state.currency:
        # Not a session as the provider sends it: asking the provider about the page (the
        # return, the reconcile task) gets it whole.
        return "ignored: the session has no amount"
    # Recorded once, whatever happens below: the webhook, the return and the reconcile task
    # find it closed and change nothing.
    _close(checkout, C.COMPLETE)
    if payment.status != P.PENDING:
        if payment.provider_reference == state.payment_intent:
            return "already recorded"
        return _give_back(order, payment, state, actor=actor, data=data)
    if state.amount_total != minor_units(payment.amount) or (
        state.currency.upper() != payment.currency.upper()
    ):
        return _refuse_other_amount(order, payment, state, actor=actor, data=data)
    payment.authorize()
    payment.provider_reference = state.payment_intent
    payment.save(update_fields=["status", "provider_reference", "updated_at"])
    if order.payments.exclude(pk=payment.pk).filter(status__in=PAID_OR_PROMISED).exists():
        # Paid twice (two pages, two tabs): give this hold back.
        void_queue(payment)
        return "given back: another payment covers the order"
    events.record(
        order,
        EventType.PAYMENT_AUTHORIZED,
        actor=actor,
        message=f"{payment.amount} {payment.currency} authorised on the card on the "
        "provider's payment page.",
        data=data,
    )
    _close_other_pages(order, payment, actor=actor)
    _release_held_for_payment(order)
    return "authorised"


def _give_back(
    order: Order,
    payment: Payment,
    state: HostedCheckoutState,
    *,
    actor: Any,
    data: dict[str, Any],
) -> str:
    """A page paid on for a payment that no longer waits for it: the authorisation is given
    back to the card at once (a void, sent after the commit and by reconcile until it goes
    through), and the timeline says why."""
    if payment.status not in (P.VOIDED, P.FAILED):
        # Authorised or captured by another authorisation: nothing here makes that happen.
        events.record(
            order,
            EventType.PAYMENT_FAILED,
            actor=actor,
            message=f"The provider reports a card authorised ({state.payment_intent}) for a "
            f"payment that is {payment.get_status_display().lower()}. Finance must cancel "
            "that authorisation with the provider.",
            data=data,
        )
        return f"ignored: the payment is {payment.status}"
    if order.status == OrderStatus.CANCELLED:
        reason = "the order was cancelled"
    elif payment.status == P.FAILED:
        reason = "the payment had failed"
    elif order.payments.filter(status__in=PAID_OR_PROMISED).exists():
        reason = "another payment covers the order"
    else:
        reason = "the payment page was closed"
    void_queue(payment, reference=state.payment_intent)
    events.record(
        order,
        EventType.PAYMENT_VOIDED,
        actor=actor,
        message=f"The customer paid {payment.amount} {payment.currency} on the payment page "
        f"({state.payment_intent}), but {reason}: the authorisation is given back to the card.",
        data=data,
    )
    return f"given back: {reason}"


def _refuse_other_amount(
    order: Order,
    payment: Payment,
    state: HostedCheckoutState,
    *,
    actor: Any,
    data: dict[str, Any],
) -> str:
    """A page paid for another amount or currency than its payment's: not taken as payment.
    The authorisation is given back, and the payment fails as a declined card does (the
    customer is sent the link to pay again)."""
    logger.error("checkout amount differs", extra=data)
    asks = order_needs_payment(order)
    payment_record_decline(
        payment,
        code="checkout_amount_differs",
        message=AMOUNT_DIFFERS_MESSAGE,
        actor=actor,
        timeline=f"The provider reports a payment of {state.amount_total} (cents) "
        f"{state.currency.upper()} on the page for {payment.amount} {payment.currency}: not "
        f"taken as payment, and the authorisation {state.payment_intent} is given back. "
        + ("The customer was sent a link to pay again." if asks else ""),
        data=data,
        customer_visible=False,
    )
    void_queue(payment, reference=state.payment_intent)
    order_hold_for_payment(
        order, note="The payment page was paid for another amount; the customer was sent a link."
    )
    return "given back: the amount differs from the payment's"


def _close_other_pages(order: Order, paid: Payment, *, actor: Any) -> None:
    """The order is paid on one page: its other pages (a fresh one opened beside one about to
    close) must not take a second payment. Their payments are closed now and their pages
    closed at the provider after the commit; one paid on meanwhile is given back when
    recorded (`_give_back`)."""
    others = (
        Payment.objects.select_for_update(of=("self",), no_key=True)
        .filter(order=order, status=P.PENDING, checkout__isnull=False)
        .exclude(pk=paid.pk)
        .order_by("pk")
    )
    for other in others:
        other.void_unsent()
        other.save(update_fields=["status", "updated_at"])
        events.record(
            order,
            EventType.NOTE,
            actor=actor,
            message="The order is paid on another payment page: this one is closed.",
            data={"payment": other.pk, "paid_with": paid.pk},
        )
        open_pages = CheckoutSession.objects.filter(payment=other, status=C.OPEN)
        for checkout_id in open_pages.values_list("pk", flat=True):
            call_after_commit(checkout_close, checkout_id=checkout_id)


def _release_held_for_payment(order: Order) -> None:
    """An order held only for payment goes on now, in this transaction. A release refused
    (the stock is gone meanwhile) leaves it held, with the reason on its timeline for staff:
    the payment is recorded all the same."""
    try:
        with transaction.atomic():
            release_payment_hold(order.pk)
    except DomainError as refusal:
        events.record(
            order,
            EventType.NOTE,
            actor="payments",
            message=f"Paid, but the order stays on hold: {refusal.message}",
        )


def _record_expired(
    order: Order,
    payment: Payment,
    checkout: CheckoutSession,
    *,
    actor: Any,
    event_id: str,
    why: str = EXPIRED_MESSAGE,
) -> str:
    if checkout.status in (C.EXPIRED, C.COMPLETE):
        return "already recorded"
    _close(checkout, C.EXPIRED)
    if payment.status != P.PENDING:
        return "expired"
    data = {"payment": payment.pk, "session": checkout.session_id}
    if event_id:
        data["event"] = event_id
    if _paying_on_another_page(order, payment):
        # Closed as a fresh page was opened beside it: no "did not go through" email while
        # the customer pays there, and the order is left as it is.
        payment_record_decline(
            payment,
            code="checkout_expired",
            message=EXPIRED_MESSAGE,
            actor=actor,
            timeline=f"{why} The customer is paying on another payment page for this order, "
            "so no link was sent.",
            data=data,
            ask_to_pay_again=False,
        )
        return "expired: the customer is paying on another page"
    asks = order_needs_payment(order)
    payment_record_decline(
        payment,
        code="checkout_expired",
        message=EXPIRED_MESSAGE,
        actor=actor,
        timeline=f"{why} "
        + (
            "The customer was sent a link to pay again."
            if asks
            else "Another payment covers the order."
        ),
        data=data,
        customer_visible=True,
    )
    if not asks:
        return "expired: another payment covers the order"
    order_hold_for_payment(
        order, note="The payment page expired unpaid; the customer was sent a link to pay again."
    )
    return "expired: the customer was sent a link to pay again"


def _paying_on_another_page(order: Order, payment: Payment) -> bool:
    """Whether another of the order's payments waits on a page that can still be paid on
    (open, or being opened)."""
    now = timezone.now()
    return (
        CheckoutSession.objects.filter(payment__order=order, payment__status=P.PENDING)
        .exclude(payment=payment)
        .filter(
            Q(status=C.OPEN, expires_at__gt=now) | Q(status=C.NEW, created_at__gt=now - OPEN_WINDOW)
        )
        .exists()
    )


def checkouts_to_check(now: datetime, limit: int) -> list[int]:
    """Pages still open (or never opened) a while after they were opened or last asked about,
    oldest first: their webhook may have been lost."""
    wait = now - timedelta(minutes=settings.STRIPE_CHECKOUT_CHECK_MINUTES)
    return list(
        CheckoutSession.objects.filter(status__in=[C.NEW, C.OPEN], created_at__lte=wait)
        .filter(Q(checked_at__isnull=True) | Q(checked_at__lte=wait))
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )

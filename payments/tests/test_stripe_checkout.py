"""The shop with Stripe as the card provider: customers pay on Stripe Checkout's hosted page,
played here by the local fake Stripe server, so no card number ever reaches us. The round trip
(out with a 303, pay, webhook, return) in each order the webhook and the customer can arrive
in, the customer who leaves the page, the page that expires, and the safety net."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse
from django.utils import timezone

from orders.models import EventType, HoldReason, Order, OrderStatus
from orders.permissions import CUSTOMER_SERVICE
from orders.services import order_cancel
from orders.tests.factories import CHECKOUT_FORM, checkout_form, staff_user
from payments import services
from payments.models import (
    CheckoutSession,
    CheckoutStatus,
    Payment,
    PaymentStatus,
    ProviderEvent,
)
from payments.selectors import order_needs_payment
from payments.services import pay_link_token
from payments.services.hosted_checkout import UNKNOWN_PAGE_GRACE

pytestmark = pytest.mark.django_db
P = PaymentStatus
CARD_FIELDS = ("card_number", "exp_month", "exp_year", "cvc")
CARD_NUMBER = "4242 4242 4242 4242"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def _without_card(data: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in data.items() if key not in CARD_FIELDS}


def _place(client, capture, fake_stripe, **fields):
    """A guest checks out (two mugs to Berlin) and is sent to Stripe's page: the order, its
    page's session id, and the checkout's answer."""
    data = _without_card(checkout_form(client, (("MUG-001", 2),), **fields))
    with capture(execute=True):
        response = client.post(reverse("orders:checkout"), data)
    order = Order.objects.get()
    checkout = CheckoutSession.objects.get(payment__order=order)
    return order, checkout.session_id, response


def _deliver(client, capture, fake_stripe, event):
    with capture(execute=True):
        return fake_stripe.deliver(client, event)


def _return(client, capture, url):
    with capture(execute=True):
        return client.get(url)


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def _payment(order: Order) -> Payment:
    return Payment.objects.filter(order=order).order_by("-pk").first()


def _assert_paid_and_ready(order: Order, fake_stripe) -> Payment:
    """Authorised on the page, confirmed by review, captured (manual capture, with our key),
    released to the warehouse."""
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.READY
    assert order.active_hold_reasons() == []
    payment = _payment(order)
    assert (payment.status, payment.amount_captured) == (P.CAPTURED, order.grand_total)
    assert payment.provider_reference.startswith("pi_")
    captures = fake_stripe.calls(f"/v1/payment_intents/{payment.provider_reference}/capture")
    assert [c["key"] for c in captures] == [f"payment-{payment.pk}-capture"]
    assert fake_stripe.intents[payment.provider_reference]["status"] == "succeeded"
    assert order.events.filter(type=EventType.PAYMENT_AUTHORIZED).count() == 1
    assert order.events.filter(type=EventType.PAYMENT_CAPTURED).count() == 1
    return payment


def _no_card_number_sent(fake_stripe) -> None:
    sent = repr(fake_stripe.requests)
    assert "4242" not in sent and "card_number" not in sent and "cvc" not in sent


# --- the forms have no card fields ---------------------------------------------------------


def _field_names(html: str) -> set[str]:
    return set(re.findall(r'name="([^"]+)"', html))


def test_the_checkout_and_pay_again_forms_have_no_card_number_field_with_stripe(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    client.post(reverse("orders:cart-add"), {"sku": "MUG-001", "quantity": 1})
    page = client.get(reverse("orders:checkout")).content.decode()
    assert _field_names(page).isdisjoint(CARD_FIELDS)
    assert 'autocomplete="cc-' not in page
    assert "Stripe's secure payment page" in page
    order, _, _ = _place(client, django_capture_on_commit_callbacks, fake_stripe)
    pay = client.get(reverse("orders:pay-again", args=[pay_link_token(order)])).content.decode()
    assert _field_names(pay).isdisjoint(CARD_FIELDS)
    assert "on Stripe's page" in pay


def test_the_test_gateway_keeps_its_card_form(client, catalogue):
    client.post(reverse("orders:cart-add"), {"sku": "MUG-001", "quantity": 1})
    page = client.get(reverse("orders:checkout")).content.decode()
    assert set(CARD_FIELDS) <= _field_names(page)


def test_card_fields_posted_anyway_are_never_read(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    # given: a client that posts a card number to the checkout all the same
    data = checkout_form(client, (("MUG-001", 2),))
    assert data["card_number"] == CHECKOUT_FORM["card_number"] == CARD_NUMBER
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("orders:checkout"), data)
    # then: the order is placed and the customer sent to Stripe; the card went nowhere
    assert response.status_code == 303
    order = Order.objects.get()
    payment = _payment(order)
    assert (payment.payment_token, payment.card_last4, payment.card_brand) == ("", "", "")
    # and the same on the pay-again page
    pay = reverse("orders:pay-again", args=[pay_link_token(order)])
    again = client.post(pay, {"card_number": CARD_NUMBER, "exp_month": "1", "cvc": "123"})
    assert again.status_code == 303
    assert Payment.objects.filter(order=order).count() == 1  # the open page, offered again
    _no_card_number_sent(fake_stripe)


# --- the round trip, in the three orders it can happen in ---------------------------------


def test_out_to_stripe_with_a_303_to_a_page_for_the_total_with_manual_capture(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://shop.example.com/"
    order, session_id, response = _place(client, django_capture_on_commit_callbacks, fake_stripe)
    assert response.status_code == 303
    assert response["Location"] == fake_stripe.sessions[session_id]["url"]
    created = fake_stripe.calls("/v1/checkout/sessions")[0]["form"]
    payment = _payment(order)
    assert created["mode"] == "payment"
    assert created["payment_intent_data[capture_method]"] == "manual"
    assert created["payment_method_types[0]"] == "card"
    assert created["line_items[0][price_data][unit_amount]"] == str(int(order.grand_total * 100))
    assert created["line_items[0][price_data][currency]"] == "eur"
    assert created["client_reference_id"] == f"payment-{payment.pk}"
    assert created["metadata[order]"] == order.number
    assert created["metadata[payment]"] == str(payment.pk)
    assert created["customer_email"] == "guest@example.com"
    checkout = CheckoutSession.objects.get(payment=payment)
    assert created["success_url"] == (
        f"https://shop.example.com/checkout/return/{checkout.return_token}/"
        "?session_id={CHECKOUT_SESSION_ID}"
    )
    assert created["cancel_url"] == (
        f"https://shop.example.com/checkout/return/{checkout.return_token}/cancelled/"
    )
    assert fake_stripe.calls("/v1/checkout/sessions")[0]["key"] == f"payment-{payment.pk}-checkout"
    # while the customer is on Stripe's page, the order waits for payment: nothing is
    # authorised by us, and no "payment failed" email goes out
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert (payment.status, checkout.status) == (P.PENDING, CheckoutStatus.OPEN)
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    assert not fake_stripe.calls("/v1/payment_intents")
    assert not [m for m in mail.outbox if "did not go through" in m.subject]


def test_webhook_first_then_the_customer_returns(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    # when: the customer pays; Stripe's webhook arrives before the customer is back
    event = fake_stripe.pay(session_id)
    answer = _deliver(client, capture, fake_stripe, event)
    assert answer.json()["result"] == "authorised"
    _assert_paid_and_ready(order, fake_stripe)
    # then: the return finds it recorded, asks Stripe nothing, and changes nothing
    asked = len(fake_stripe.requests)
    back = _return(client, capture, fake_stripe.success_url(session_id))
    assert back["Location"] == reverse("orders:order-received", args=[order.number])
    assert len(fake_stripe.requests) == asked
    page = client.get(back["Location"]).content.decode()
    assert "We will email you when it ships." in page
    assert "not paid yet" not in page and "did not go through" not in page
    _assert_paid_and_ready(order, fake_stripe)
    assert any(m.subject.endswith("is confirmed") for m in mail.outbox)


def test_the_customer_returns_first_then_the_webhook(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    event = fake_stripe.pay(session_id)
    # when: the customer is back before the webhook: the return fetches the session
    back = _return(client, capture, fake_stripe.success_url(session_id))
    assert fake_stripe.calls(f"/v1/checkout/sessions/{session_id}")[-1]["method"] == "GET"
    assert back["Location"] == reverse("orders:order-received", args=[order.number])
    _assert_paid_and_ready(order, fake_stripe)
    # then: the webhook, arriving late, finds it recorded
    answer = _deliver(client, capture, fake_stripe, event)
    assert answer.json()["result"] == "already recorded"
    _assert_paid_and_ready(order, fake_stripe)


def test_the_webhook_alone_finishes_the_order_when_the_tab_is_closed(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    event = fake_stripe.pay(session_id)
    # when: only the webhook arrives (the customer closed the tab on Stripe's page)
    _deliver(client, capture, fake_stripe, event)
    # then: the order is confirmed, captured, released to the warehouse, and emailed
    _assert_paid_and_ready(order, fake_stripe)
    subjects = [m.subject for m in mail.outbox]
    assert any(s.endswith("is confirmed") for s in subjects)
    assert not any("did not go through" in s for s in subjects)
    assert CheckoutSession.objects.get(session_id=session_id).status == CheckoutStatus.COMPLETE


def test_the_same_webhook_twice_or_two_events_for_one_page_record_it_once(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    event = fake_stripe.pay(session_id)
    # an event of one type carrying the other's state is not taken
    mislabelled = fake_stripe.event("checkout.session.expired", fake_stripe.sessions[session_id])
    answer = _deliver(client, capture, fake_stripe, mislabelled)
    assert answer.json()["result"] == "ignored: the session is complete"
    answers = [_deliver(client, capture, fake_stripe, event) for _ in range(2)]
    resent = fake_stripe.event("checkout.session.completed", fake_stripe.sessions[session_id])
    answers.append(_deliver(client, capture, fake_stripe, resent))
    assert [a.json()["result"] for a in answers] == ["authorised", "duplicate", "already recorded"]
    assert ProviderEvent.objects.count() == 3
    _assert_paid_and_ready(order, fake_stripe)


def test_a_declined_card_on_stripes_page_leaves_the_page_open_for_another_card(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    declined = fake_stripe.pay(session_id, card="pm_card_chargeDeclined")
    answer = _deliver(client, capture, fake_stripe, declined)
    assert answer.json()["result"] == "ignored: no payment with this reference"
    assert _payment(order).status == P.PENDING
    assert not [m for m in mail.outbox if "did not go through" in m.subject]
    _deliver(client, capture, fake_stripe, fake_stripe.pay(session_id))
    _assert_paid_and_ready(order, fake_stripe)


# --- leaving the page, or letting it expire -------------------------------------------------


def test_a_customer_who_leaves_stripes_page_is_told_the_order_is_not_paid_and_can_pay(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    # when: the customer presses "back" on Stripe's page
    back = client.get(fake_stripe.cancel_url(session_id))
    pay = reverse("orders:pay-again", args=[pay_link_token(order)])
    assert back.status_code == 302 and back["Location"].startswith("/orders/pay/")
    page = client.get(back["Location"])
    html = page.content.decode()
    # then: nothing was charged, the order is not paid, and a button pays for it
    assert page.status_code == 200
    assert "nothing was charged" in html and f"order {order.number} is not paid yet" in html
    assert f"Pay {order.grand_total} EUR on Stripe" in html
    assert not fake_stripe.intents
    assert _payment(order).status == P.PENDING
    assert Order.objects.get(pk=order.pk).status == OrderStatus.ON_HOLD
    # and paying from there goes back to the same page, still open
    with capture(execute=True):
        again = client.post(pay)
    assert again.status_code == 303
    assert again["Location"] == fake_stripe.sessions[session_id]["url"]
    assert len(fake_stripe.calls("/v1/checkout/sessions")) == 1
    _deliver(client, capture, fake_stripe, fake_stripe.pay(session_id))
    _assert_paid_and_ready(order, fake_stripe)


def test_an_expired_page_holds_the_order_for_payment_and_emails_the_pay_again_link(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    answer = _deliver(client, capture, fake_stripe, fake_stripe.expire(session_id))
    assert answer.json()["result"] == "expired: the customer was sent a link to pay again"
    # then: as after a declined card
    first = _payment(order)
    assert (first.status, first.failure_code) == (P.FAILED, "checkout_expired")
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    failed = [m for m in mail.outbox if "did not go through" in m.subject]
    assert len(failed) == 1 and "The payment page closed before you paid." in failed[0].body
    pay = _path(re.search(r"https?://\S+/orders/pay/\S+/", failed[0].body).group(0))
    # the order page says so
    received = client.get(reverse("orders:order-received", args=[order.number])).content
    assert f"Your payment for order {order.number} did not go through" in received.decode()
    assert "The payment page closed before you paid." in received.decode()
    # when: the customer follows the link and pays on a new page
    visitor = client.__class__()
    with capture(execute=True):
        out = visitor.post(pay)
    assert out.status_code == 303
    new_session = CheckoutSession.objects.exclude(session_id=session_id).get().session_id
    assert out["Location"] == fake_stripe.sessions[new_session]["url"]
    _deliver(client, capture, fake_stripe, fake_stripe.pay(new_session))
    back = _return(visitor, capture, fake_stripe.success_url(new_session))
    # then: the order goes on; the guest lands on the order's page
    assert "/orders/track/" in back["Location"]
    assert "went through" in visitor.get(back["Location"]).content.decode()
    _assert_paid_and_ready(order, fake_stripe)
    # and a second expiry report of the first page changes nothing
    late = fake_stripe.event("checkout.session.expired", fake_stripe.sessions[session_id])
    assert _deliver(client, capture, fake_stripe, late).json()["result"] == "already recorded"


def _pay_again(client, capture, order: Order):
    with capture(execute=True):
        return client.post(reverse("orders:pay-again", args=[pay_link_token(order)]))


def _no_pay_again_email() -> bool:
    return not [m for m in mail.outbox if "did not go through" in m.subject]


def test_a_page_about_to_expire_is_closed_at_stripe_when_a_fresh_one_is_opened(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    CheckoutSession.objects.update(expires_at=timezone.now() + timedelta(minutes=5))
    # when: the customer asks to pay again with minutes left on the first page
    out = _pay_again(client, capture, order)
    # then: a fresh page; the old one is closed at Stripe, so nobody can pay on it any more,
    # and its payment fails quietly: no "did not go through" email while they pay
    fresh = CheckoutSession.objects.exclude(session_id=session_id).get().session_id
    assert out["Location"] == fake_stripe.sessions[fresh]["url"]
    assert fake_stripe.sessions[session_id]["status"] == "expired"
    old = CheckoutSession.objects.select_related("payment").get(session_id=session_id)
    assert (old.status, old.payment.status) == (CheckoutStatus.EXPIRED, P.FAILED)
    assert _no_pay_again_email()
    closed = order.events.get(type=EventType.PAYMENT_FAILED)
    assert "paying on another payment page" in closed.message
    assert not closed.customer_visible
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    # and Stripe's expiry event for the old page changes nothing
    late = fake_stripe.event("checkout.session.expired", fake_stripe.sessions[session_id])
    assert _deliver(client, capture, fake_stripe, late).json()["result"] == "already recorded"
    _deliver(client, capture, fake_stripe, fake_stripe.pay(fresh))
    _assert_paid_and_ready(order, fake_stripe)
    assert _no_pay_again_email()


def test_paying_on_the_older_of_two_open_pages_releases_the_order(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, settings
):
    capture = django_capture_on_commit_callbacks
    order, first, _ = _place(client, capture, fake_stripe)
    CheckoutSession.objects.update(expires_at=timezone.now() + timedelta(minutes=5))
    fake_stripe.fail_paths["/expire"] = 2  # Stripe closes neither page we ask it to close
    _pay_again(client, capture, order)
    fresh = CheckoutSession.objects.exclude(session_id=first).get().session_id
    assert fake_stripe.sessions[first]["status"] == "open"
    # when: the customer pays in the old tab; the fresh page expires unpaid, its webhook lost
    answer = _deliver(client, capture, fake_stripe, fake_stripe.pay(first))
    assert answer.json()["result"] == "authorised"
    fake_stripe.expire(fresh)
    wait = timedelta(minutes=settings.STRIPE_CHECKOUT_CHECK_MINUTES)
    CheckoutSession.objects.update(created_at=timezone.now() - wait)
    with capture(execute=True):
        services.reconcile()
    # then: the order went on with the old page's payment; the fresh page's is closed
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.READY
    assert order.active_hold_reasons() == []
    kept = Payment.objects.get(checkout__session_id=first)
    closed = Payment.objects.get(checkout__session_id=fresh)
    assert (kept.status, kept.amount_captured) == (P.CAPTURED, order.grand_total)
    assert fake_stripe.intents[kept.provider_reference]["status"] == "succeeded"
    assert closed.status == P.VOIDED
    assert CheckoutSession.objects.get(session_id=fresh).status == CheckoutStatus.EXPIRED
    assert order.events.filter(type=EventType.PAYMENT_AUTHORIZED).count() == 1
    assert order.events.filter(type=EventType.PAYMENT_CAPTURED).count() == 1
    assert _no_pay_again_email()


@pytest.mark.parametrize("paid_first", ["old", "fresh"])
def test_paid_on_both_pages_one_payment_is_kept_and_the_other_given_back(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, paid_first
):
    capture = django_capture_on_commit_callbacks
    order, old, _ = _place(client, capture, fake_stripe)
    CheckoutSession.objects.update(expires_at=timezone.now() + timedelta(minutes=5))
    fake_stripe.fail_paths["/expire"] = 1  # the old page stays open at Stripe
    _pay_again(client, capture, order)
    fresh = CheckoutSession.objects.exclude(session_id=old).get().session_id
    pages = {"old": old, "fresh": fresh}
    paid_second = "fresh" if paid_first == "old" else "old"
    # when: the customer pays in both tabs before either webhook arrives
    events_ = [fake_stripe.pay(pages[paid_first]), fake_stripe.pay(pages[paid_second])]
    answers = [_deliver(client, capture, fake_stripe, e).json()["result"] for e in events_]
    # then: the first recorded is kept and captured; closing the other page finds it paid,
    # so its authorisation is given back at once, and its own webhook changes nothing
    assert answers == ["authorised", "already recorded"]
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.READY
    kept = Payment.objects.get(checkout__session_id=pages[paid_first])
    given_back = Payment.objects.get(checkout__session_id=pages[paid_second])
    assert (kept.status, kept.amount_captured) == (P.CAPTURED, order.grand_total)
    assert given_back.status == P.VOIDED
    assert fake_stripe.intents[given_back.provider_reference]["status"] == "canceled"
    assert order.events.filter(type=EventType.PAYMENT_AUTHORIZED).count() == 1
    assert _no_pay_again_email()
    # and a customer back from the page whose payment was given back is told the truth
    visitor = client.__class__()
    back = _return(visitor, capture, fake_stripe.success_url(pages[paid_second]))
    page = visitor.get(back["Location"]).content.decode()
    assert f"Order {order.number} is already paid" in page
    assert "did not go through" not in page


def test_a_page_expiring_when_another_payment_covers_the_order_sends_no_link(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    # given: meanwhile the order is paid another way (Finance put it on invoice terms)
    Payment.objects.create(
        order=order,
        method="invoice",
        provider="invoice",
        status=P.INVOICED,
        amount=order.grand_total,
        currency=order.currency,
    )
    # when: the page expires unpaid
    answer = _deliver(client, capture, fake_stripe, fake_stripe.expire(session_id))
    # then: no link is sent, and the timeline does not claim one was
    assert answer.json()["result"] == "expired: another payment covers the order"
    assert _no_pay_again_email()
    expired = order.events.get(type=EventType.PAYMENT_FAILED)
    assert "link" not in expired.message
    assert "Another payment covers the order." in expired.message


# --- return addresses that are not ours -----------------------------------------------------


def test_a_tampered_or_unknown_return_address_shows_a_clear_page_and_no_order(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    fake_stripe.pay(session_id)
    token = CheckoutSession.objects.get(session_id=session_id).return_token
    # another customer's page, paid too
    other = client.__class__()
    data = _without_card(checkout_form(other, (("TEE-001", 1),), email="other@example.com"))
    with capture(execute=True):
        other.post(reverse("orders:checkout"), data)
    other_order = Order.objects.get(email="other@example.com")
    other_session = CheckoutSession.objects.get(payment__order=other_order).session_id
    fake_stripe.pay(other_session)
    asked = len(fake_stripe.requests)
    for path in (
        f"/checkout/return/{token}/?session_id={other_session}",  # someone else's session
        f"/checkout/return/{token}/?session_id=cs_test_unknown",
        f"/checkout/return/{token}/",
        f"/checkout/return/{token[:-2]}xx/?session_id={session_id}",
        f"/checkout/return/{'x' * 500}/?session_id={session_id}",
        f"/checkout/return/{token}/?session_id=%C3%A9",
        f"/checkout/return/{token}%00/?session_id={session_id}",
        "/checkout/return/%F0%9F%92%B3/cancelled/",
        "/checkout/return/%00/cancelled/",
    ):
        response = _return(client, capture, path)
        html = response.content.decode()
        if "%00" in path:  # refused before any view, as everywhere on the site
            assert response.status_code == 400, path
        else:
            assert response.status_code == 404, path
            assert "does not belong to any of our payment pages" in html
        assert order.number not in html and other_order.number not in html
    # nothing was asked of Stripe, and nothing recorded
    assert len(fake_stripe.requests) == asked
    assert set(Payment.objects.values_list("status", flat=True)) == {P.PENDING}


# --- cancelling, a return while Stripe is down, the safety net ------------------------------


def test_cancelling_the_order_closes_the_page_and_gives_back_a_late_payment(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    # an order cancelled while its page is open: the page is closed at Stripe
    order, session_id, _ = _place(client, capture, fake_stripe)
    with capture(execute=True):
        order_cancel(order_id=order.pk, actor="support")
    assert fake_stripe.sessions[session_id]["status"] == "expired"
    assert _payment(order).status == P.VOIDED
    assert CheckoutSession.objects.get(session_id=session_id).status == CheckoutStatus.EXPIRED


def test_a_payment_made_as_the_order_is_cancelled_is_given_back(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    event = fake_stripe.pay(session_id)  # paid, webhook not yet here
    with capture(execute=True):
        order_cancel(order_id=order.pk, actor="support")
    payment = _payment(order)
    assert payment.status == P.VOIDED
    assert fake_stripe.intents[payment.provider_reference]["status"] == "canceled"
    answer = _deliver(client, capture, fake_stripe, event)
    assert answer.json()["result"] == "already recorded"
    assert len(fake_stripe.calls(f"/v1/payment_intents/{payment.provider_reference}/cancel")) == 1


def test_a_return_while_stripe_is_down_says_so_and_the_webhook_finishes(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    event = fake_stripe.pay(session_id)
    fake_stripe.fail_next = 1
    back = _return(client, capture, fake_stripe.success_url(session_id))
    page = client.get(back["Location"]).content.decode()
    assert "Stripe has not confirmed your payment" in page
    assert f"Your payment for order {order.number} is not complete yet" in page
    assert "did not go through" not in page
    assert _payment(order).status == P.PENDING
    _deliver(client, capture, fake_stripe, event)
    _assert_paid_and_ready(order, fake_stripe)


def test_a_return_in_another_browser_while_stripe_is_down_lands_on_the_order_page(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    fake_stripe.pay(session_id)
    fake_stripe.fail_next = 1
    assert _payment(order).status == P.PENDING
    visitor = client.__class__()  # paid from the emailed link, on another device
    back = _return(visitor, capture, fake_stripe.success_url(session_id))
    assert "/orders/track/" in back["Location"]
    page = visitor.get(back["Location"]).content.decode()
    assert "Payment not complete yet" in page
    assert "We could not take the payment" not in page
    assert "Stripe has not confirmed your payment" in page


def test_reconcile_asks_stripe_about_a_page_whose_webhook_was_lost(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, settings
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    fake_stripe.pay(session_id)  # the tab closed, and the webhook never came
    # a page just opened is left alone; card authorisations are not started for it
    with capture(execute=True):
        young = services.reconcile()
    assert (young["checkouts"], young["authorisations"]) == (0, 0)
    assert not fake_stripe.calls(f"/v1/checkout/sessions/{session_id}")
    # once it has been open a while, reconcile asks Stripe, and the order goes on
    wait = timedelta(minutes=settings.STRIPE_CHECKOUT_CHECK_MINUTES)
    CheckoutSession.objects.update(created_at=timezone.now() - wait)
    Payment.objects.update(created_at=timezone.now() - wait)
    with capture(execute=True):
        due = services.reconcile()
    assert (due["checkouts"], due["authorisations"]) == (1, 0)
    _assert_paid_and_ready(order, fake_stripe)
    assert not [r for r in fake_stripe.requests if r["path"] == "/v1/payment_intents"]


def test_reconcile_asks_again_only_after_a_while_and_records_an_expiry(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, settings
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    wait = timedelta(minutes=settings.STRIPE_CHECKOUT_CHECK_MINUTES)
    CheckoutSession.objects.update(created_at=timezone.now() - 3 * wait)
    with capture(execute=True):
        assert services.reconcile()["checkouts"] == 1  # still open: asked, nothing changes
        assert services.reconcile()["checkouts"] == 0  # asked a moment ago
    assert _payment(order).status == P.PENDING
    fake_stripe.expire(session_id)  # the webhook is lost
    CheckoutSession.objects.update(checked_at=timezone.now() - wait)
    with capture(execute=True):
        services.reconcile()
    assert _payment(order).failure_code == "checkout_expired"
    assert [m for m in mail.outbox if "did not go through" in m.subject]


def test_a_page_stripe_would_not_open_leaves_the_order_placed_and_payable(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, settings
):
    capture = django_capture_on_commit_callbacks
    fake_stripe.fail_next = 1
    data = _without_card(checkout_form(client, (("MUG-001", 2),)))
    with capture(execute=True):
        response = client.post(reverse("orders:checkout"), data)
    order = Order.objects.get()
    # then: to the page after checkout, which says so and offers to pay; no 500
    assert response["Location"] == reverse("orders:order-received", args=[order.number])
    page = client.get(response["Location"]).content.decode()
    assert "could not open the payment page" in page
    assert f"Your payment for order {order.number} is not complete yet" in page
    assert "did not go through" not in page
    # a reconcile after a while gives the unopened page up, and emails the pay link
    wait = timedelta(minutes=settings.STRIPE_CHECKOUT_CHECK_MINUTES)
    CheckoutSession.objects.update(created_at=timezone.now() - wait)
    with capture(execute=True):
        services.reconcile()
    assert _payment(order).failure_code == "checkout_not_opened"
    failed = [m for m in mail.outbox if "did not go through" in m.subject]
    assert len(failed) == 1
    # paying from the link opens a new page
    pay = _path(re.search(r"https?://\S+/orders/pay/\S+/", failed[0].body).group(0))
    with capture(execute=True):
        out = client.post(pay)
    assert out.status_code == 303
    new_session = CheckoutSession.objects.get(status=CheckoutStatus.OPEN).session_id
    _deliver(client, capture, fake_stripe, fake_stripe.pay(new_session))
    _assert_paid_and_ready(order, fake_stripe)


def test_a_paid_page_for_another_amount_is_given_back_once_and_the_customer_asked_again(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, settings
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    event = fake_stripe.pay(session_id)
    event["data"]["object"]["amount_total"] = 1
    intent = event["data"]["object"]["payment_intent"]
    # when: Stripe reports a payment of another amount than the order's
    answer = _deliver(client, capture, fake_stripe, event)
    # then: it is not taken as payment, and the money is not left held on the card
    assert answer.json()["result"] == "given back: the amount differs from the payment's"
    payment = _payment(order)
    assert (payment.status, payment.provider_reference) == (P.FAILED, intent)
    assert fake_stripe.intents[intent]["status"] == "canceled"
    assert CheckoutSession.objects.get().status == CheckoutStatus.COMPLETE
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    assert len([m for m in mail.outbox if "did not go through" in m.subject]) == 1
    # and reported again (a resent event), and swept by reconcile, it is recorded once
    again = dict(event, id="evt_resent")
    assert _deliver(client, capture, fake_stripe, again).json()["result"] == "already recorded"
    wait = timedelta(minutes=settings.STRIPE_CHECKOUT_CHECK_MINUTES)
    CheckoutSession.objects.update(created_at=timezone.now() - wait)
    with capture(execute=True):
        assert services.reconcile()["checkouts"] == 0
    failed = order.events.filter(type=EventType.PAYMENT_FAILED)
    assert failed.count() == 1
    assert "1 (cents) EUR" in failed.get().message
    assert len(fake_stripe.calls(f"/v1/payment_intents/{intent}/cancel")) == 1
    assert len([m for m in mail.outbox if "did not go through" in m.subject]) == 1


def _forget_the_page(fake_stripe, session_id: str, settings, capture) -> dict:
    """Stripe answers 404 for the page (its keys were switched, say), and the page's closing
    time and the grace period are over: the reconcile task's next look. The forgotten
    session, as Stripe had it."""
    forgotten = fake_stripe.sessions.pop(session_id)
    wait = timedelta(minutes=settings.STRIPE_CHECKOUT_CHECK_MINUTES)
    CheckoutSession.objects.update(created_at=timezone.now() - wait)
    # while the page could still be paid on, it is only asked about again later
    with capture(execute=True):
        assert services.reconcile()["checkouts"] == 1
    assert CheckoutSession.objects.get().status == CheckoutStatus.OPEN
    past = timezone.now() - UNKNOWN_PAGE_GRACE - timedelta(minutes=1)
    CheckoutSession.objects.update(expires_at=past, checked_at=timezone.now() - wait)
    with capture(execute=True):
        assert services.reconcile()["checkouts"] == 1
    return forgotten


def test_a_page_stripe_does_not_know_counts_as_expired_once_past_its_closing_time(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, settings
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    assert _payment(order).status == P.PENDING
    _forget_the_page(fake_stripe, session_id, settings, capture)
    # then: as an expired page: the payment fails, the order is held, the customer emailed
    payment = _payment(order)
    assert (payment.status, payment.failure_code) == (P.FAILED, "checkout_expired")
    assert CheckoutSession.objects.get().status == CheckoutStatus.EXPIRED
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    failed = [m for m in mail.outbox if "did not go through" in m.subject]
    assert len(failed) == 1 and "/orders/pay/" in failed[0].body
    assert (
        "does not know the payment page" in order.events.get(type=EventType.PAYMENT_FAILED).message
    )
    # and it is not asked about again
    wait = timedelta(minutes=settings.STRIPE_CHECKOUT_CHECK_MINUTES)
    CheckoutSession.objects.update(checked_at=timezone.now() - wait)
    with capture(execute=True):
        assert services.reconcile()["checkouts"] == 0


def test_a_page_paid_after_its_payment_failed_is_given_back(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, settings
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    forgotten = _forget_the_page(fake_stripe, session_id, settings, capture)
    assert _payment(order).status == P.FAILED
    # when: Stripe knows the page after all (the old keys are back), and it was paid on
    fake_stripe.sessions[session_id] = forgotten
    event = fake_stripe.pay(session_id)
    intent = event["data"]["object"]["payment_intent"]
    answer = _deliver(client, capture, fake_stripe, event)
    # then: the authorisation is given back at once, with a word on the timeline
    assert answer.json()["result"] == "given back: the payment had failed"
    payment = _payment(order)
    assert (payment.status, payment.provider_reference) == (P.FAILED, intent)
    assert fake_stripe.intents[intent]["status"] == "canceled"
    given_back = order.events.filter(type=EventType.PAYMENT_VOIDED)
    assert given_back.count() == 2  # the page's record, and the void's
    assert intent in given_back.order_by("pk").first().message
    # and the customer may still pay for the order
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    assert order_needs_payment(order)


def test_a_customer_back_from_a_page_paid_as_the_order_was_cancelled_is_told_so(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    order, session_id, _ = _place(client, capture, fake_stripe)
    fake_stripe.pay(session_id)  # paid; the webhook is not here yet
    with capture(execute=True):
        order_cancel(order_id=order.pk, actor="support")
    for browser in (client, client.__class__()):  # the one that placed it, and another
        back = _return(browser, capture, fake_stripe.success_url(session_id))
        page = browser.get(back["Location"]).content.decode()
        assert f"Order {order.number} was cancelled" in page
        assert "did not go through" not in page and "pay again" not in page
        assert "We will email you when it ships" not in page


def test_return_addresses_come_from_site_url_so_a_retry_from_another_host_opens_the_page(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, settings
):
    capture = django_capture_on_commit_callbacks
    settings.SITE_URL = "https://shop.example.com"
    # given: Stripe opened the page, but its answer was lost on the way back
    fake_stripe.lose_next = 1
    data = _without_card(checkout_form(client, (("MUG-001", 2),)))
    with capture(execute=True):
        client.post(reverse("orders:checkout"), data, HTTP_HOST="shop.example.com")
    order = Order.objects.get()
    assert CheckoutSession.objects.get().status == CheckoutStatus.NEW
    # when: the customer tries again from the shop's other address
    with capture(execute=True):
        out = client.post(
            reverse("orders:pay-again", args=[pay_link_token(order)]),
            HTTP_HOST="www.shop.example.com",
        )
    # then: the same request, so Stripe gives back the page it opened: no idempotency error
    assert out.status_code == 303
    assert len(fake_stripe.sessions) == 1
    session = next(iter(fake_stripe.sessions.values()))
    assert out["Location"] == session["url"]
    assert session["success_url"].startswith("https://shop.example.com/checkout/return/")
    assert CheckoutSession.objects.get().status == CheckoutStatus.OPEN


@pytest.mark.parametrize(
    "session",
    [
        {},
        {"id": "pi_1", "status": "complete"},
        {"id": "cs_test_x", "status": "paid"},
        {"id": "cs_test_x", "status": "complete", "payment_intent": ["pi_1"]},
        {"id": "cs_test_x", "status": "complete", "payment_intent": "pi_1", "amount_total": "9"},
        {"id": "cs_test_x", "status": "open"},
        {"id": ["cs_test_x"], "status": "expired"},
    ],
    ids=repr,
)
@pytest.mark.parametrize("type_", ["checkout.session.completed", "checkout.session.expired"])
def test_odd_checkout_events_are_recorded_as_ignored(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks, type_, session
):
    order, session_id, _ = _place(client, django_capture_on_commit_callbacks, fake_stripe)
    if session.get("id") == "cs_test_x":
        session = {**session, "id": session_id}
    answer = fake_stripe.deliver(client, fake_stripe.event(type_, session))
    assert answer.status_code == 200, answer.content
    assert answer.json()["result"].startswith("ignored: ")
    assert _payment(order).status == P.PENDING


def test_staff_find_a_payment_by_its_stripe_session_and_see_its_page(
    client, catalogue, fake_stripe, django_capture_on_commit_callbacks
):
    order, session_id, _ = _place(client, django_capture_on_commit_callbacks, fake_stripe)
    staff = client.__class__()
    staff.force_login(staff_user(CUSTOMER_SERVICE, "agent"))
    found = staff.get(reverse("admin:payments_payment_changelist"), {"q": session_id})
    payment = _payment(order)
    assert found.status_code == 200
    assert list(found.context["cl"].result_list) == [payment]
    page = staff.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert session_id in html and "Open: the customer is paying" in html


# --- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value", "error", "deploy"),
    [
        # missing secrets: `check --deploy` (payments/checks.py, with the test gateway's check)
        ("STRIPE_SECRET_KEY", "", "payments.E002", True),
        ("STRIPE_WEBHOOK_SECRET", "", "payments.E002", True),
        # timings Stripe refuses: every command
        ("STRIPE_CHECKOUT_EXPIRES_MINUTES", 30, "payments.E004", False),
        ("STRIPE_CHECKOUT_EXPIRES_MINUTES", 2000, "payments.E004", False),
        ("STRIPE_CHECKOUT_CHECK_MINUTES", 0, "payments.E005", False),
    ],
)
def test_stripe_settings_that_cannot_work_stop_the_start(
    settings, fake_stripe, setting, value, error, deploy
):
    call_command("check")  # the fixture's settings are fine
    setattr(settings, setting, value)
    with pytest.raises(SystemCheckError, match=error):
        call_command("check", deploy=deploy, fail_level="ERROR")

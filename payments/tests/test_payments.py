"""Capture, void, refund, cancellation, pay-again and reconcile."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail, signing
from django.db import OperationalError
from django.utils import timezone

from orders import services as order_services
from orders.models import EventType, HoldReason, Order, OrderStatus
from orders.permissions import FINANCE
from orders.tests.factories import place_order, staff_user
from payments import services
from payments.models import (
    OperationStatus,
    Payment,
    PaymentOperation,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from payments.providers.base import CardDetails, ProviderUnavailable
from payments.providers.test import TestGateway
from payments.selectors import order_payment_summary
from payments.services import PaymentInput, PaymentRefused, authorisation, operations

pytestmark = pytest.mark.django_db
P = PaymentStatus


def _paid_order(capture, lines=None, **kwargs) -> Order:
    with capture(execute=True):
        order = place_order(lines or [("MUG-001", 2)], **kwargs).order
    return Order.objects.get(pk=order.pk)


def _payment(order: Order) -> Payment:
    return Payment.objects.get(order=order)


def test_a_card_order_is_authorised_captured_and_released(
    catalogue, django_capture_on_commit_callbacks
):
    order = _paid_order(django_capture_on_commit_callbacks)
    assert order.status == OrderStatus.READY
    payment = _payment(order)
    assert payment.status == P.CAPTURED
    types = list(order.events.values_list("type", flat=True))
    for expected in (
        EventType.PAYMENT_AUTHORIZED,
        EventType.CONFIRMED,
        EventType.PAYMENT_CAPTURED,
        EventType.PAYMENT_SECURED,
    ):
        assert expected in types
    check = order.events.get(type=EventType.REVIEW_CHECK, data__check="payment")
    assert check.data["passed"]
    summary = order_payment_summary(order)
    assert summary["paid"] == order.grand_total
    assert summary["balance_due"] == Decimal("0.00")


def test_a_connection_lost_while_authorising_after_the_commit_leaves_the_order_placed(
    catalogue, django_capture_on_commit_callbacks, caplog
):
    # given: the database connection is cut while the card's authorisation is recorded
    dropped = OperationalError("terminating connection due to administrator command")
    cut = mock.patch("payments.services.operations.lock_order", side_effect=dropped)
    # when: an order is placed and its after-commit work runs
    with cut, django_capture_on_commit_callbacks(execute=True):
        order = place_order([("MUG-001", 1)], authorise_card=False).order

    # then: the placement stands; the authorisation is logged and left for reconcile
    assert Order.objects.filter(pk=order.pk).exists()
    assert _payment(order).status == P.PENDING
    assert "Error calling payment_authorize in on_commit()" in caplog.text


@pytest.mark.parametrize("step", ["_begin", "lock_order"])  # step 1, and step 3's first query
def test_a_connection_lost_as_a_card_is_authorised_is_retried_at_once(
    catalogue, django_capture_on_commit_callbacks, step
):
    # given: the first try of a step loses the database connection
    order = place_order([("MUG-001", 1)], authorise_card=False).order
    real = getattr(operations, step)
    tries = []

    def cut_once(*args, **kwargs):
        tries.append(args)
        if len(tries) == 1:
            raise OperationalError("terminating connection due to administrator command")
        return real(*args, **kwargs)

    cut = mock.patch.object(operations, step, cut_once)
    spy = mock.patch.object(
        TestGateway, "authorize", autospec=True, side_effect=TestGateway.authorize
    )

    # when
    with cut, spy as authorize, django_capture_on_commit_callbacks(execute=True):
        services.payment_authorize(payment_id=_payment(order).pk)

    # then: done on the second try, not minutes later by reconcile; the card asked once
    assert len(tries) == 2
    assert authorize.call_count == 1
    assert _payment(order).status == P.AUTHORIZED
    assert _payment(order).operations.get(kind="authorize").status == OperationStatus.SUCCEEDED


def test_the_card_is_authorised_without_a_database_query_between_begin_and_record(
    catalogue, django_assert_num_queries
):
    # a connection lost between the operation's start and the provider's answer would leave
    # the authorisation to the retry schedule, minutes away
    order = place_order([("MUG-001", 1)], authorise_card=False).order
    send = authorisation._send_authorisation

    def send_without_queries(*args):
        with django_assert_num_queries(0):
            return send(*args)

    with mock.patch.object(authorisation, "_send_authorisation", send_without_queries):
        services.payment_authorize(payment_id=_payment(order).pk)

    assert _payment(order).status == P.AUTHORIZED


def test_capture_twice_charges_once(catalogue, django_capture_on_commit_callbacks):
    with mock.patch("payments.tasks.secure_order_payment.delay"):
        order = _paid_order(django_capture_on_commit_callbacks)
    payment = _payment(order)
    assert payment.status == P.AUTHORIZED
    spy = mock.patch.object(TestGateway, "capture", autospec=True, side_effect=TestGateway.capture)
    with spy as capture:
        first = services.payment_capture(payment_id=payment.pk, actor="test")
        second = services.payment_capture(payment_id=payment.pk, actor="test")
    assert first.status == second.status == P.CAPTURED
    assert capture.call_count == 1
    assert Payment.objects.get(pk=payment.pk).amount_captured == order.grand_total
    assert PaymentOperation.objects.filter(payment=payment, kind="capture").count() == 1


def test_refund_twice_with_one_key_refunds_once(catalogue, django_capture_on_commit_callbacks):
    order = _paid_order(django_capture_on_commit_callbacks)
    payment = _payment(order)
    finance = staff_user(FINANCE)
    with django_capture_on_commit_callbacks(execute=True):
        first = services.refund_create(
            payment_id=payment.pk,
            amount="5.00",
            reason="Scratched",
            actor=finance,
            idempotency_key="form-1",
        )
    with django_capture_on_commit_callbacks(execute=True):
        second = services.refund_create(
            payment_id=payment.pk,
            amount="5.00",
            reason="Scratched",
            actor=finance,
            idempotency_key="form-1",
        )
    assert first.pk == second.pk
    payment.refresh_from_db()
    assert payment.amount_refunded == Decimal("5.00")
    assert payment.status == P.PARTIALLY_REFUNDED
    assert Refund.objects.get().status == RefundStatus.SUCCEEDED
    refund_mails = [m for m in mail.outbox if m.subject.startswith("Refund of 5.00")]
    assert len(refund_mails) == 1
    assert order.events.filter(type=EventType.REFUND_ISSUED, actor=finance).count() == 1


def test_refunds_cannot_exceed_what_was_captured(catalogue, django_capture_on_commit_callbacks):
    order = _paid_order(django_capture_on_commit_callbacks)  # 2 x 10 + 5 shipping = 25
    payment = _payment(order)
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_create(
            payment_id=payment.pk, amount="20", reason="Part", actor="t", idempotency_key="a"
        )
    with pytest.raises(PaymentRefused, match=r"At most 5\.00"):
        services.refund_create(
            payment_id=payment.pk, amount="5.01", reason="More", actor="t", idempotency_key="b"
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.refund_create(
            payment_id=payment.pk, amount="5", reason="Rest", actor="t", idempotency_key="c"
        )
    payment.refresh_from_db()
    assert payment.status == P.REFUNDED
    assert payment.amount_refunded == payment.amount_captured == Decimal("25.00")
    with pytest.raises(PaymentRefused):
        services.refund_create(
            payment_id=payment.pk, amount="1", reason="Again", actor="t", idempotency_key="d"
        )


@pytest.mark.parametrize(
    ("amount", "reason", "field"),
    [("0", "x", "amount"), ("-3", "x", "amount"), ("abc", "x", "amount"), ("1", " ", "reason")],
)
def test_bad_refund_input_is_refused_with_field_messages(
    catalogue, django_capture_on_commit_callbacks, amount, reason, field
):
    payment = _payment(_paid_order(django_capture_on_commit_callbacks))
    with pytest.raises(PaymentRefused) as error:
        services.refund_create(
            payment_id=payment.pk, amount=amount, reason=reason, actor="t", idempotency_key="k"
        )
    assert field in error.value.fields
    assert not Refund.objects.exists()


def test_cancel_after_capture_refunds(catalogue, django_capture_on_commit_callbacks):
    order = _paid_order(django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        order_services.order_cancel(order_id=order.pk, actor="customer", reason="Changed mind")
    payment = _payment(order)
    assert payment.status == P.REFUNDED
    assert payment.amount_refunded == order.grand_total
    assert Refund.objects.get().reason == "Order cancelled"
    assert order_payment_summary(Order.objects.get(pk=order.pk))["balance_due"] == 0


def test_cancel_after_authorise_voids(catalogue, django_capture_on_commit_callbacks):
    with mock.patch("payments.tasks.secure_order_payment.delay"):
        order = _paid_order(django_capture_on_commit_callbacks)
    assert _payment(order).status == P.AUTHORIZED
    spy = mock.patch.object(TestGateway, "void", autospec=True, side_effect=TestGateway.void)
    with spy as void, django_capture_on_commit_callbacks(execute=True):
        order_services.order_cancel(order_id=order.pk, actor="customer", reason="Too slow")
    assert void.call_count == 1
    assert _payment(order).status == P.VOIDED
    assert order.events.filter(type=EventType.PAYMENT_VOIDED).count() == 1


def test_cancel_before_authorisation_voids_without_calling_the_provider(catalogue):
    # given: a card payment still pending, as before the placement's after-commit
    # authorisation has run
    order = place_order(authorise_card=False).order
    order_services.order_cancel(order_id=order.pk, actor="customer")
    assert _payment(order).status == P.VOIDED


@pytest.mark.parametrize(
    ("method", "status"),
    [("card", P.CAPTURED), ("invoice", P.INVOICED), ("invoice", P.OVERDUE)],
)
def test_a_late_authorisation_of_an_order_paid_another_way_is_voided(
    catalogue, django_capture_on_commit_callbacks, method, status
):
    # given: a card authorisation still on its way, and meanwhile another payment that
    # covers the order (an overdue invoice still does: it is owed, not to be paid twice)
    order = place_order(authorise_card=False).order
    late = _payment(order)
    Payment.objects.create(
        order=order,
        method=method,
        provider="test" if method == "card" else "invoice",
        status=status,
        amount=order.grand_total,
        currency=order.currency,
    )
    # when the authorisation comes back
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_authorize(payment_id=late.pk)
    # then the hold on the card is given back
    late.refresh_from_db()
    assert late.status == P.VOIDED
    assert not order.events.filter(type=EventType.PAYMENT_AUTHORIZED).exists()


def test_a_provider_outage_at_capture_is_reconciled_later(
    catalogue, django_capture_on_commit_callbacks, settings
):
    down = mock.patch.object(TestGateway, "capture", side_effect=ProviderUnavailable("timeout"))
    with down:
        order = _paid_order(django_capture_on_commit_callbacks)
    # the order waits, confirmed, with the capture pending; nothing half-done
    assert order.status == OrderStatus.CONFIRMED
    payment = _payment(order)
    assert payment.status == P.AUTHORIZED
    operation = payment.operations.get(kind="capture")
    assert (operation.status, operation.error_code) == (OperationStatus.PENDING, "unavailable")
    # when the reconcile task runs after the retry delay, it captures with the same key
    PaymentOperation.objects.filter(pk=operation.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    Order.objects.filter(pk=order.pk).update(confirmed_at=timezone.now() - timedelta(hours=1))
    spy = mock.patch.object(TestGateway, "capture", autospec=True, side_effect=TestGateway.capture)
    with spy as capture, django_capture_on_commit_callbacks(execute=True):
        result = services.reconcile()
    assert result["operations"] == 1
    assert capture.call_args.kwargs["idempotency_key"] == operation.idempotency_key
    assert _payment(order).status == P.CAPTURED
    assert Order.objects.get(pk=order.pk).status == OrderStatus.READY


class _ProcessDied(BaseException):
    """The worker killed while the provider call was under way."""


def test_a_capture_whose_process_died_is_repeated_after_its_lease_not_the_retry_schedule(
    catalogue, django_capture_on_commit_callbacks
):
    # given: the capture began (its operation committed), then the process died mid-call
    died = mock.patch.object(TestGateway, "capture", side_effect=_ProcessDied)
    with died, pytest.raises(_ProcessDied):
        _paid_order(django_capture_on_commit_callbacks)
    operation = PaymentOperation.objects.get(kind="capture")
    assert (operation.status, operation.attempts, operation.error_code) == (
        OperationStatus.PENDING,
        1,
        "",
    )
    # then: it is due once its lease is over (45 s), not after the five-minute retry wait
    lease = operation.next_attempt_at - operation.created_at
    assert lease == pytest.approx(operations.call_lease(), abs=timedelta(seconds=2))
    assert operations.call_lease() == timedelta(seconds=45) < settings.PAYMENT_RETRY_FIRST
    with django_capture_on_commit_callbacks(execute=True):
        assert services.reconcile()["operations"] == 0  # still under way as far as anyone knows
    PaymentOperation.objects.filter(pk=operation.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    spy = mock.patch.object(TestGateway, "capture", autospec=True, side_effect=TestGateway.capture)
    with spy as capture, django_capture_on_commit_callbacks(execute=True):
        assert services.reconcile()["operations"] == 1
    assert capture.call_args.kwargs["idempotency_key"] == operation.idempotency_key
    order = Order.objects.get(pk=operation.payment.order_id)
    assert (order.status, _payment(order).status) == (OrderStatus.READY, P.CAPTURED)


def test_a_lease_outlasts_the_longest_provider_call(settings):
    # 5 s to connect, the timeout to answer, 10 s to spare
    settings.PAYMENT_PROVIDER_TIMEOUT_SECONDS = 20
    assert operations.call_lease() == timedelta(seconds=35)


def test_an_unexpected_provider_error_follows_the_retry_schedule_and_is_given_up(
    catalogue, django_capture_on_commit_callbacks, settings
):
    # given: the provider answers every capture with something we do not understand
    settings.PAYMENT_MAX_ATTEMPTS = 3
    broken = mock.patch.object(TestGateway, "capture", side_effect=RuntimeError("bad key"))
    with broken:
        _paid_order(django_capture_on_commit_callbacks)
        operation = PaymentOperation.objects.get(kind="capture")
        # then: it waits the retry schedule (not the lease), like an unanswered call
        wait = operation.next_attempt_at - timezone.now()
        assert wait > settings.PAYMENT_RETRY_FIRST - timedelta(seconds=5)
        assert operation.error_code == "error"
        # and reconcile stops after PAYMENT_MAX_ATTEMPTS tries, telling Finance
        for _ in range(5):
            PaymentOperation.objects.filter(pk=operation.pk).update(
                next_attempt_at=timezone.now() - timedelta(seconds=1)
            )
            with django_capture_on_commit_callbacks(execute=True):
                services.reconcile()
    operation.refresh_from_db()
    assert (operation.status, operation.attempts) == (OperationStatus.FAILED, 3)
    order = Order.objects.get(pk=operation.payment.order_id)
    assert order.events.filter(type=EventType.PAYMENT_FAILED, message__contains="gave up").exists()


def test_an_unanswered_call_waits_for_the_retry_schedule(
    catalogue, django_capture_on_commit_callbacks
):
    down = mock.patch.object(TestGateway, "capture", side_effect=ProviderUnavailable("timeout"))
    with down:
        _paid_order(django_capture_on_commit_callbacks)
    operation = PaymentOperation.objects.get(kind="capture")
    wait = operation.next_attempt_at - timezone.now()
    assert (
        settings.PAYMENT_RETRY_FIRST - timedelta(seconds=5) < wait <= settings.PAYMENT_RETRY_FIRST
    )


def test_an_outage_at_authorisation_is_reconciled_and_the_order_released(
    catalogue, django_capture_on_commit_callbacks
):
    down = mock.patch.object(TestGateway, "authorize", side_effect=ProviderUnavailable("down"))
    with down:
        order = _paid_order(django_capture_on_commit_callbacks)
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    PaymentOperation.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        services.reconcile()
    assert _payment(order).status == P.CAPTURED
    assert Order.objects.get(pk=order.pk).status == OrderStatus.READY


def test_an_older_card_authorised_after_a_newer_one_was_tried_is_the_one_kept(
    catalogue, django_capture_on_commit_callbacks
):
    # given: the card's authorisation got no answer, and the customer paid again with
    # another card, which got none either: both wait for the reconcile task
    down = mock.patch.object(TestGateway, "authorize", side_effect=ProviderUnavailable("down"))
    with down:
        order = _paid_order(django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            services.payment_pay_again(
                order_id=order.pk, card=CardDetails(token="tok_visa"), actor="customer"
            )
    first, second = Payment.objects.filter(order=order).order_by("pk")
    assert (first.status, second.status) == (P.PENDING, P.PENDING)
    # when: the provider answers again, the older card's authorisation first
    now = timezone.now()
    for seconds, payment in ((2, first), (1, second)):
        PaymentOperation.objects.filter(payment=payment).update(
            next_attempt_at=now - timedelta(seconds=seconds)
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.reconcile()
    # then: the older card covers the order, which goes on and is captured on it; the
    # newer one, authorised after it, is given back
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.amount_captured) == (P.CAPTURED, order.grand_total)
    assert second.status == P.VOIDED
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.READY
    assert order.active_hold_reasons() == []
    assert order.events.filter(type=EventType.PAYMENT_AUTHORIZED).count() == 1


def test_the_review_and_the_release_count_an_older_authorised_card_beside_a_newer_try(
    catalogue, django_capture_on_commit_callbacks
):
    # given: a held order whose older card is authorised while a newer one is still pending
    declined = PaymentInput(method="card", card=CardDetails(token="tok_chargeDeclined"))
    order = _paid_order(django_capture_on_commit_callbacks, payment=declined)
    Payment.objects.filter(order=order).update(status=P.AUTHORIZED, provider_reference="ch_1")
    Payment.objects.create(
        order=order,
        method="card",
        provider="test",
        amount=order.grand_total,
        currency=order.currency,
        payment_token="tok_visa",
    )
    # when: staff release its hold
    with django_capture_on_commit_callbacks(execute=True):
        order_services.order_release(order_id=order.pk, actor="finance", note="Paid.")
    # then: it is released, and the authorised card is the one captured
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.READY
    older = Payment.objects.filter(order=order).order_by("pk").first()
    assert (older.status, older.amount_captured) == (P.CAPTURED, order.grand_total)


def test_an_authorisation_that_never_started_is_started_by_reconcile(
    catalogue, django_capture_on_commit_callbacks, settings
):
    # given: the order committed, but its after-commit authorisation never ran (the database
    # connection dropped first, or the web process died); review held it for payment
    order = place_order([("MUG-001", 1)], authorise_card=False).order
    with django_capture_on_commit_callbacks(execute=True):
        order_services.order_review(order_id=order.pk)
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]

    # when: reconcile runs while the payment is young, and again once it is not
    with django_capture_on_commit_callbacks(execute=True):
        young = services.reconcile()
    Payment.objects.filter(order=order).update(
        created_at=timezone.now() - settings.PAYMENT_RECONCILE_AFTER
    )
    with django_capture_on_commit_callbacks(execute=True):
        due = services.reconcile()

    # then: a young one may still be under way, so only the due one is authorised; the
    # order is released and paid
    assert (young["authorisations"], due["authorisations"]) == (0, 1)
    assert _payment(order).status == P.CAPTURED
    assert _payment(order).operations.filter(kind="authorize").count() == 1
    assert Order.objects.get(pk=order.pk).status == OrderStatus.READY


def test_pay_again_after_a_decline(catalogue, django_capture_on_commit_callbacks):
    declined = PaymentInput(method="card", card=CardDetails(token="tok_chargeDeclined"))
    order = _paid_order(django_capture_on_commit_callbacks, payment=declined)
    assert order.status == OrderStatus.ON_HOLD
    token = services.pay_link_token(order)
    assert services.order_for_pay_link(token) == order
    with django_capture_on_commit_callbacks(execute=True):
        payment = services.payment_pay_again(
            order_id=order.pk,
            card=CardDetails(number="4242424242424242", exp_month=1, exp_year=2030, cvc="999"),
            actor="customer",
        )
    assert payment.status == P.AUTHORIZED  # at once; the capture follows the release
    payment.refresh_from_db()
    assert payment.status == P.CAPTURED
    order = Order.objects.get(pk=order.pk)
    assert order.status == OrderStatus.READY
    assert list(order.payments.values_list("status", flat=True).order_by("pk")) == [
        P.FAILED,
        P.CAPTURED,
    ]
    # and once paid, the link takes no second payment
    with pytest.raises(PaymentRefused, match="needs no payment"):
        services.payment_pay_again(
            order_id=order.pk, card=CardDetails(token="tok_visa"), actor="customer"
        )


def test_pay_again_keeps_other_holds(catalogue, django_capture_on_commit_callbacks, settings):
    settings.ORDER_REVIEW_MAX_TOTAL = Decimal("10")
    declined = PaymentInput(method="card", card=CardDetails(token="tok_chargeDeclined"))
    order = _paid_order(django_capture_on_commit_callbacks, payment=declined)
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_pay_again(
            order_id=order.pk, card=CardDetails(token="tok_visa"), actor="customer"
        )
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.status == OrderStatus.ON_HOLD
    assert HoldReason.MANUAL in order.active_hold_reasons()


def test_pay_links_that_are_tampered_with_or_expired_are_refused(catalogue, settings):
    order = place_order().order
    token = services.pay_link_token(order)
    with pytest.raises(PaymentRefused, match="not valid"):
        services.order_for_pay_link(token[:-2] + "xx")
    with pytest.raises(PaymentRefused, match="not valid"):
        services.order_for_pay_link("garbage")
    settings.PAY_LINK_MAX_AGE_DAYS = 0
    later = mock.patch("django.core.signing.time.time", return_value=10**10)
    with later, pytest.raises(PaymentRefused, match="expired"):
        services.order_for_pay_link(token)
    forged = signing.dumps({"order": order.pk, "token": "guess"}, salt="other")
    with pytest.raises(PaymentRefused):
        services.order_for_pay_link(forged)


def test_an_order_without_payment_asks_for_it(catalogue, django_capture_on_commit_callbacks):
    order = _paid_order(django_capture_on_commit_callbacks, payment=None)
    order = Order.objects.prefetch_related("holds").get(pk=order.pk)
    assert order.active_hold_reasons() == [HoldReason.PAYMENT_FAILED]
    request = [m for m in mail.outbox if m.subject == f"Please pay for order {order.number}"]
    assert len(request) == 1
    assert "/orders/pay/" in request[0].body


def test_confirmed_orders_waiting_for_the_customer_never_starve_the_reconcile_batch(
    catalogue, django_capture_on_commit_callbacks
):
    # given two confirmed orders with nothing to collect (the card voided, the customer not
    # yet paid again), older than one whose capture was lost
    waiting = []
    for _ in range(2):
        order = place_order([("MUG-001", 1)]).order
        Order.objects.filter(pk=order.pk).update(
            status=OrderStatus.CONFIRMED, confirmed_at=timezone.now() - timedelta(hours=2)
        )
        Payment.objects.filter(order=order).update(status=P.VOIDED)
        waiting.append(order)
    lost = place_order([("MUG-001", 1)]).order
    Order.objects.filter(pk=lost.pk).update(
        status=OrderStatus.CONFIRMED, confirmed_at=timezone.now() - timedelta(hours=1)
    )

    # when reconcile runs with a batch of two
    with django_capture_on_commit_callbacks(execute=True):
        result = services.reconcile(limit=2)

    # then the order with something to collect is reached, and secured
    assert result["orders"] == 1
    assert Order.objects.get(pk=lost.pk).status == OrderStatus.READY
    assert {Order.objects.get(pk=o.pk).status for o in waiting} == {OrderStatus.CONFIRMED}


def test_a_second_run_of_the_same_authorisation_never_voids_the_first(catalogue):
    # given a card payment whose authorisation is started twice at once (the after-commit
    # call and a reconcile sweep, say): the second run happens while the first waits for
    # the provider
    order = place_order([("MUG-001", 1)], authorise_card=False).order
    payment = _payment(order)
    real = TestGateway.authorize
    nested = []

    def provider_answers_slowly(self, *args, **kwargs):
        if not nested:
            nested.append(True)
            authorisation.payment_authorize(payment_id=payment.pk)
        return real(self, *args, **kwargs)

    with mock.patch.object(TestGateway, "authorize", provider_answers_slowly):
        authorisation.payment_authorize(payment_id=payment.pk)

    # then the card stays authorised once: no void, one authorisation on record
    payment.refresh_from_db()
    assert payment.status == P.AUTHORIZED
    assert not payment.operations.filter(kind="void").exists()


def test_reconcile_retries_a_capture_on_its_schedule_not_every_sweep(
    catalogue, django_capture_on_commit_callbacks
):
    # given a capture the provider did not answer, its retry minutes away
    down = mock.patch.object(TestGateway, "capture", side_effect=ProviderUnavailable("timeout"))
    with down:
        order = _paid_order(django_capture_on_commit_callbacks)
    Order.objects.filter(pk=order.pk).update(confirmed_at=timezone.now() - timedelta(hours=1))
    operation = _payment(order).operations.get(kind="capture")

    # when the sweep runs again and again before the retry is due
    with down, django_capture_on_commit_callbacks(execute=True):
        for _ in range(5):
            services.reconcile()

    # then the provider was not asked again: one attempt, still pending
    operation.refresh_from_db()
    assert (operation.status, operation.attempts) == (OperationStatus.PENDING, 1)

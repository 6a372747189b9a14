"""The staff console (Django admin) driven through HTTP: buttons per group, transitions posted
by hand, the phone-order flow, the held-orders queue, list filters and search, the query
budget of the order list, the notification log and the timeline."""

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.messages import constants as message_levels
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from orders import services
from orders.exceptions import TransitionRefused
from orders.models import (
    Address,
    EventType,
    HoldReason,
    Notification,
    NotificationStatus,
    Order,
    OrderEvent,
    OrderHold,
    OrderStatus,
)
from orders.permissions import CUSTOMER_SERVICE, FINANCE, MANAGERS, WAREHOUSE
from orders.tests.factories import (
    BERLIN,
    CustomerFactory,
    payment_securing_deferred,
    place_order,
    staff_user,
)
from payments.models import CreditAccount
from warehouse.models import StockItem

pytestmark = pytest.mark.django_db

BUTTON = re.compile(
    r'<form method="post" action="(?P<url>[^"]+)">.*?'
    r'<button type="submit" name="action" value="(?P<name>[^"]+)"',
    re.S,
)


# --- helpers ------------------------------------------------------------------------------


def _confirmed_order(capture, **kwargs):
    """An order placed with the automatic review run, so it ends up confirmed: paid by card,
    authorised, the capture not run yet."""
    with payment_securing_deferred(), capture(execute=True):
        order = place_order(**kwargs).order
    order.refresh_from_db()
    assert order.status == OrderStatus.CONFIRMED
    return order


def _held_order(capture, reason=HoldReason.MANUAL, **kwargs):
    order = _confirmed_order(capture, **kwargs)
    services.order_hold(order_id=order.pk, actor="test", reason=reason, note="check this")
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD
    return order


def _held_order_for_stock(capture):
    """A phone order for more lamps than there are: staff channels accept the shortage and the
    review holds the order as out of stock."""
    with capture(execute=True):
        order = place_order([("LAMP-001", 5)], email="short@example.com", channel="phone").order
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD
    assert order.active_hold_reasons() == [HoldReason.OUT_OF_STOCK]
    return order


def _buttons(response, order):
    """The action buttons on an order page, each checked to post to its own action URL."""
    html = response.content.decode()
    found = BUTTON.findall(html)
    for url, name in found:
        assert url == reverse("admin:orders_order_action", args=[order.pk, name])
    names = [name for _, name in found]
    # The page shows no stray action buttons outside the forms.
    assert html.count('name="action" value=') == len(names)
    return set(names)


def _messages(response):
    return [(m.level, str(m)) for m in response.context["messages"]]


def _errors(response):
    return [text for level, text in _messages(response) if level == message_levels.ERROR]


def _successes(response):
    return [text for level, text in _messages(response) if level == message_levels.SUCCESS]


def _reserved():
    return dict(StockItem.objects.values_list("pk", "reserved"))


def _snapshot(order):
    order.refresh_from_db()
    return {
        "status": order.status,
        "events": OrderEvent.objects.filter(order=order).count(),
        "reserved": _reserved(),
        "holds": OrderHold.objects.filter(order=order, released_at__isnull=True).count(),
        "notifications": Notification.objects.filter(order=order).count(),
    }


def _action_url(order, action):
    return reverse("admin:orders_order_action", args=[order.pk, action])


def _change_url(order):
    return reverse("admin:orders_order_change", args=[order.pk])


def _result_pks(response):
    return {order.pk for order in response.context["cl"].result_list}


def _inline_management_data(response, *, lines=0):
    """Management-form data for every inline on an add/change page, with `lines` line forms."""
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for key in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS"):
            data[f"{formset.prefix}-{key}"] = management[key].value()
        if formset.prefix == "lines":
            data["lines-TOTAL_FORMS"] = str(lines)
    return data


def _draft_data(catalogue, customer, **overrides):
    data = {
        "channel": "phone",
        "customer": str(customer.pk),
        "email": "",
        "phone": "",
        "shipping_method": str(catalogue["standard"].pk),
        "shipping_name": "Ada Lovelace",
        "shipping_line1": "Torstraße 1",
        "shipping_city": "Berlin",
        "shipping_postal_code": "10119",
        "shipping_country": "DE",
        "billing_same": "on",
        "customer_note": "",
        "staff_note": "Called in at 9:10.",
    }
    data.update(overrides)
    return data


# --- 1. buttons per group -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (CUSTOMER_SERVICE, {"hold", "cancel"}),
        (WAREHOUSE, {"hold"}),
        (FINANCE, {"hold"}),
        (MANAGERS, {"hold", "cancel"}),
    ],
)
def test_buttons_on_a_confirmed_order_follow_the_staff_group(
    client, catalogue, django_capture_on_commit_callbacks, group, expected
):
    # given
    order = _confirmed_order(django_capture_on_commit_callbacks)
    client.force_login(staff_user(group))

    # when
    response = client.get(_change_url(order))

    # then
    assert response.status_code == 200
    assert _buttons(response, order) == expected
    assert {a.name for a in response.context["order_actions"]} == expected


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (CUSTOMER_SERVICE, {"release", "cancel"}),
        (WAREHOUSE, set()),
        (FINANCE, {"release"}),
        (MANAGERS, {"release", "cancel"}),
    ],
)
def test_buttons_on_a_held_order_follow_the_staff_group(
    client, catalogue, django_capture_on_commit_callbacks, group, expected
):
    # given
    order = _held_order(django_capture_on_commit_callbacks)
    client.force_login(staff_user(group))

    # when
    response = client.get(_change_url(order))

    # then
    assert response.status_code == 200
    assert _buttons(response, order) == expected


def test_a_draft_shows_place_and_cancel_to_customer_service(client, catalogue):
    # given
    customer = CustomerFactory()
    user = staff_user(CUSTOMER_SERVICE)
    draft = services.order_save_draft(order=Order(channel="phone", customer=customer), actor=user)
    client.force_login(user)

    # when
    response = client.get(_change_url(draft))

    # then
    assert _buttons(response, draft) == {"place", "cancel"}


# --- 2. forbidden transitions posted by hand ----------------------------------------------


@pytest.mark.parametrize("group", [WAREHOUSE, FINANCE])
def test_a_group_without_the_permission_cannot_cancel_by_posting(
    client, catalogue, django_capture_on_commit_callbacks, group
):
    # given
    order = _confirmed_order(django_capture_on_commit_callbacks)
    before = _snapshot(order)
    client.force_login(staff_user(group))

    # when
    response = client.post(
        _action_url(order, "cancel"), {"action": "cancel", "note": "customer asked"}, follow=True
    )

    # then
    assert response.redirect_chain == [(_change_url(order), 302)]
    errors = _errors(response)
    assert len(errors) == 1
    assert "“cancel” is not possible" in errors[0]
    assert "Nothing was changed" in errors[0]
    assert _snapshot(order) == before
    assert order.status == OrderStatus.CONFIRMED


def test_an_action_not_valid_in_the_current_state_is_refused(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given a confirmed order, which is not held, so it cannot be released
    order = _confirmed_order(django_capture_on_commit_callbacks)
    before = _snapshot(order)
    client.force_login(staff_user(MANAGERS))

    # when
    response = client.post(
        _action_url(order, "release"), {"action": "release", "note": "ok"}, follow=True
    )

    # then
    errors = _errors(response)
    assert len(errors) == 1
    assert "“release” is not possible" in errors[0]
    assert "(Confirmed)" in errors[0]
    assert _snapshot(order) == before


def test_an_unknown_action_is_refused(client, catalogue, django_capture_on_commit_callbacks):
    # given
    order = _confirmed_order(django_capture_on_commit_callbacks)
    before = _snapshot(order)
    client.force_login(staff_user(MANAGERS))

    # when
    response = client.post(_action_url(order, "explode"), {"action": "explode"}, follow=True)

    # then
    errors = _errors(response)
    assert len(errors) == 1
    assert "“explode” is not possible" in errors[0]
    assert _snapshot(order) == before


def test_the_action_url_only_accepts_post(client, catalogue, django_capture_on_commit_callbacks):
    # given
    order = _confirmed_order(django_capture_on_commit_callbacks)
    before = _snapshot(order)
    client.force_login(staff_user(MANAGERS))

    # when
    response = client.get(_action_url(order, "cancel"))

    # then
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert _snapshot(order) == before


def test_cancel_without_a_reason_is_refused(client, catalogue, django_capture_on_commit_callbacks):
    # given
    order = _confirmed_order(django_capture_on_commit_callbacks)
    before = _snapshot(order)
    client.force_login(staff_user(CUSTOMER_SERVICE))

    # when
    response = client.post(
        _action_url(order, "cancel"), {"action": "cancel", "note": "   "}, follow=True
    )

    # then
    errors = _errors(response)
    assert errors == ["Cancel order: Reason (sent to the customer) is required."]
    assert _snapshot(order) == before


def test_an_anonymous_post_to_the_action_url_goes_to_the_login_page(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given
    order = _confirmed_order(django_capture_on_commit_callbacks)
    before = _snapshot(order)

    # when
    response = client.post(_action_url(order, "cancel"), {"note": "bye"})

    # then
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    assert _snapshot(order) == before


# --- 3. allowed actions -------------------------------------------------------------------


def test_customer_service_cancels_a_confirmed_order_with_a_reason(
    client, catalogue, django_capture_on_commit_callbacks, mailoutbox
):
    # given
    order = _confirmed_order(django_capture_on_commit_callbacks, lines=[("MUG-001", 3)])
    assert sum(_reserved().values()) == 3
    client.force_login(staff_user(CUSTOMER_SERVICE))
    mailoutbox.clear()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _action_url(order, "cancel"),
            {"action": "cancel", "note": "Customer changed their mind."},
            follow=True,
        )

    # then
    assert _successes(response) == [f"Cancel order: done. {order} is now cancelled."]
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.cancellation_reason == "Customer changed their mind."
    assert sum(_reserved().values()) == 0
    notification = Notification.objects.get(order=order, kind="order_cancelled")
    assert notification.recipient == order.email
    assert notification.status == NotificationStatus.SENT
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [order.email]
    event = OrderEvent.objects.get(order=order, type=EventType.CANCELLED)
    assert "Customer changed their mind." in event.message


def test_finance_releases_a_held_order_with_a_note(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given
    order = _held_order(django_capture_on_commit_callbacks)
    user = staff_user(FINANCE)
    client.force_login(user)

    # when
    response = client.post(
        _action_url(order, "release"),
        {"action": "release", "note": "Spoke to the bank, all fine."},
        follow=True,
    )

    # then
    assert _successes(response) == [f"Release: done. {order} is now confirmed."]
    order.refresh_from_db()
    assert order.status == OrderStatus.CONFIRMED
    event = OrderEvent.objects.get(order=order, type=EventType.RELEASED)
    assert event.message == "Spoke to the bank, all fine."
    assert event.actor == user
    assert not OrderHold.objects.filter(order=order, released_at__isnull=True).exists()
    assert "Spoke to the bank, all fine." in response.content.decode()


def test_customer_service_puts_an_order_on_hold_for_fraud_risk(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given
    order = _confirmed_order(django_capture_on_commit_callbacks)
    user = staff_user(CUSTOMER_SERVICE)
    client.force_login(user)

    # when
    response = client.post(
        _action_url(order, "hold"),
        {"action": "hold", "reason": "fraud_risk", "note": "Card reported stolen."},
        follow=True,
    )

    # then
    assert _successes(response) == [f"Put on hold: done. {order} is now on hold (Fraud risk)."]
    order.refresh_from_db()
    assert order.status == OrderStatus.ON_HOLD
    assert order.held_from == OrderStatus.CONFIRMED
    hold = OrderHold.objects.get(order=order)
    assert hold.reason == HoldReason.FRAUD_RISK
    assert hold.created_by == user
    assert hold.message == "Card reported stolen."
    # The page now offers a release instead of a hold.
    assert _buttons(response, order) == {"release", "cancel"}


# --- 4. the phone-order flow --------------------------------------------------------------


def test_customer_service_takes_a_phone_order_from_draft_to_confirmed(
    client, catalogue, django_capture_on_commit_callbacks, mailoutbox
):
    # given a caller on invoice terms (the console takes no card: without terms the order
    # would wait, held, for payment by link)
    customer = CustomerFactory(email="caller@example.com", name="Carla Caller")
    CreditAccount.objects.create(customer=customer, terms_days=30, credit_limit=500)
    user = staff_user(CUSTOMER_SERVICE)
    client.force_login(user)
    add_url = reverse("admin:orders_order_add")
    page = client.get(add_url)
    assert page.status_code == 200
    prefixes = [inline.formset.prefix for inline in page.context["inline_admin_formsets"]]
    assert "lines" in prefixes

    # when the draft is saved with one line
    data = {
        **_draft_data(catalogue, customer),
        **_inline_management_data(page, lines=1),
        "lines-0-product": str(catalogue["mug"].pk),
        "lines-0-quantity": "2",
    }
    response = client.post(add_url, data, follow=True)

    # then a draft exists and staff stay on it
    order = Order.objects.get()
    assert response.redirect_chain == [(_change_url(order), 302)]
    assert _buttons(response, order) == {"place", "cancel"}
    assert order.status == OrderStatus.DRAFT
    assert order.channel == "phone"
    assert order.customer == customer
    assert order.email == "caller@example.com"
    assert order.shipping_address.city == "Berlin"
    assert order.billing_address is None
    assert order.source == f"staff:{user.pk}"
    line = order.lines.get()
    assert (line.product, line.quantity) == (catalogue["mug"], 2)
    assert OrderEvent.objects.filter(order=order, type=EventType.CREATED, actor=user).exists()

    # when the draft is placed (issuing the invoice waits for the payment worker, not run here)
    with (
        payment_securing_deferred(),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(_action_url(order, "place"), {"action": "place"}, follow=True)

    # then it is numbered, priced, reviewed and confirmed, and the caller gets an email
    assert _errors(response) == []
    order.refresh_from_db()
    assert order.status == OrderStatus.CONFIRMED
    assert order.number
    # (the review runs after the commit, so the message still says "received")
    assert _successes(response) == [f"Place order: done. Order {order.number} is now received."]
    line = order.lines.get()
    assert line.sku == "MUG-001"
    assert str(line.unit_price) == "10.00"
    assert str(line.line_total) == "20.00"
    assert str(order.lines_total) == "20.00"
    assert str(order.shipping_total) == "5.00"
    assert str(order.grand_total) == "25.00"
    assert order.billing_address is not None
    assert order.billing_address.city == "Berlin"
    assert sum(_reserved().values()) == 2
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["caller@example.com"]
    assert order.number in mailoutbox[0].subject


def test_staff_change_and_remove_draft_lines_on_the_draft_page(client, catalogue):
    # given a draft with a mug and a tee, saved through the console
    customer = CustomerFactory(email="caller@example.com")
    client.force_login(staff_user(CUSTOMER_SERVICE))
    add_url = reverse("admin:orders_order_add")
    page = client.get(add_url)
    client.post(
        add_url,
        {
            **_draft_data(catalogue, customer),
            **_inline_management_data(page, lines=2),
            "lines-0-product": str(catalogue["mug"].pk),
            "lines-0-quantity": "2",
            "lines-1-product": str(catalogue["tee"].pk),
            "lines-1-quantity": "1",
        },
    )
    order = Order.objects.get()
    mug, tee = order.lines.order_by("product__sku")

    # when staff set the mugs to 3 and delete the tee on the draft's page
    page = client.get(_change_url(order))
    data = {
        **_draft_data(catalogue, customer),
        **_inline_management_data(page, lines=2),
        "lines-INITIAL_FORMS": "2",
        "lines-0-id": str(mug.pk),
        "lines-0-order": str(order.pk),
        "lines-0-product": str(catalogue["mug"].pk),
        "lines-0-quantity": "3",
        "lines-1-id": str(tee.pk),
        "lines-1-order": str(order.pk),
        "lines-1-product": str(catalogue["tee"].pk),
        "lines-1-quantity": "1",
        "lines-1-DELETE": "on",
    }
    response = client.post(_change_url(order), data)

    # then the draft has 3 mugs and no tee
    assert response.status_code == 302
    assert list(order.lines.values_list("product__sku", "quantity")) == [("MUG-001", 3)]


def test_a_draft_placed_by_someone_else_meanwhile_is_not_saved_over(client, catalogue):
    # given a draft open in the console
    customer = CustomerFactory(email="caller@example.com")
    client.force_login(staff_user(CUSTOMER_SERVICE))
    draft = services.order_save_draft(
        order=Order(channel="phone", customer=customer), actor="support"
    )
    page = client.get(_change_url(draft))
    data = {**_draft_data(catalogue, customer), **_inline_management_data(page)}

    # when a colleague places it just as this form is saved
    placed = TransitionRefused(f"{draft} has been placed; it can no longer be edited.")
    with mock.patch.object(services, "order_save_draft", side_effect=placed):
        response = client.post(_change_url(draft), data, follow=True)

    # then the page says so, and nothing of the form was saved
    assert response.status_code == 200
    assert _errors(response) == [f"{placed.message} Your changes were not saved."]
    draft.refresh_from_db()
    assert draft.shipping_address is None


def test_a_draft_placed_before_the_form_was_posted_says_the_edits_were_not_saved(client, catalogue):
    # given a draft with a line, open in the console
    customer = CustomerFactory(email="caller@example.com")
    CreditAccount.objects.create(customer=customer, terms_days=30, credit_limit=500)
    client.force_login(staff_user(CUSTOMER_SERVICE))
    draft = services.order_save_draft(
        order=Order(channel="phone", customer=customer, shipping_method=catalogue["standard"]),
        shipping_address=BERLIN.to_model(),
        actor="support",
    )
    services.order_save_draft_lines(
        order_id=draft.pk, lines=[services.DraftLine(catalogue["mug"], 1)], actor="support"
    )
    page = client.get(_change_url(draft))
    data = {
        **_draft_data(catalogue, customer, staff_note="Call back at 5."),
        **_inline_management_data(page),
        "editing_draft": "1",
    }

    # when a colleague places it, and only then this form is posted
    services.order_place_draft(order_id=draft.pk, actor="support")
    response = client.post(_change_url(draft), data, follow=True)

    # then the page says the edits were not saved, and they were not
    assert response.status_code == 200
    draft.refresh_from_db()
    assert _errors(response) == [
        f"Order {draft.number} was placed meanwhile; your changes were not saved."
    ]
    assert draft.staff_note != "Call back at 5."


def test_a_draft_with_an_incomplete_address_shows_an_error_and_saves_nothing(client, catalogue):
    # given
    customer = CustomerFactory()
    client.force_login(staff_user(CUSTOMER_SERVICE))
    add_url = reverse("admin:orders_order_add")
    page = client.get(add_url)

    # when
    data = {
        **_draft_data(catalogue, customer, shipping_city=""),
        **_inline_management_data(page, lines=1),
        "lines-0-product": str(catalogue["mug"].pk),
        "lines-0-quantity": "1",
    }
    response = client.post(add_url, data)

    # then
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["shipping_line1"] == ["The city is missing."]
    assert "The city is missing." in response.content.decode()
    assert not Order.objects.exists()
    assert not Address.objects.exists()
    assert not OrderEvent.objects.exists()


@pytest.mark.parametrize("group", [WAREHOUSE, FINANCE])
def test_only_customer_service_and_managers_may_open_the_add_page(client, catalogue, group):
    # given
    client.force_login(staff_user(group))

    # when
    response = client.get(reverse("admin:orders_order_add"))

    # then
    assert response.status_code == 403


def test_placing_a_draft_without_lines_is_refused(client, catalogue):
    # given a draft saved through the console without any line
    customer = CustomerFactory()
    client.force_login(staff_user(CUSTOMER_SERVICE))
    add_url = reverse("admin:orders_order_add")
    page = client.get(add_url)
    response = client.post(
        add_url, {**_draft_data(catalogue, customer), **_inline_management_data(page)}
    )
    assert response.status_code == 302
    order = Order.objects.get()
    events_before = OrderEvent.objects.filter(order=order).count()

    # when
    response = client.post(_action_url(order, "place"), {"action": "place"}, follow=True)

    # then
    errors = _errors(response)
    assert len(errors) == 1
    assert errors[0].startswith("Place order: The draft is not complete")
    assert "Add at least one line" in errors[0]
    order.refresh_from_db()
    assert order.status == OrderStatus.DRAFT
    assert order.number is None
    assert OrderEvent.objects.filter(order=order).count() == events_before


# --- 5. the held-orders queue -------------------------------------------------------------


def test_the_held_queue_lists_only_held_orders(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given
    held = _held_order(django_capture_on_commit_callbacks, email="held@example.com")
    confirmed = _confirmed_order(django_capture_on_commit_callbacks, email="ok@example.com")
    received = place_order(email="new@example.com").order
    client.force_login(staff_user(CUSTOMER_SERVICE))

    # when
    response = client.get(reverse("admin:orders_heldorder_changelist"))

    # then
    assert response.status_code == 200
    assert _result_pks(response) == {held.pk}
    html = response.content.decode()
    assert held.number in html
    assert confirmed.number not in html
    assert received.number not in html


def test_the_held_queue_lists_the_order_held_longest_first(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given: three held orders, placed in one order and held in another
    first, second, third = (
        _held_order(django_capture_on_commit_callbacks, email=f"{name}@example.com")
        for name in ("first", "second", "third")
    )
    now = timezone.now()
    held_at = {third: now - timedelta(days=3), first: now - timedelta(days=2), second: now}
    for order, when in held_at.items():
        OrderHold.objects.filter(order=order).update(created_at=when)
    client.force_login(staff_user(CUSTOMER_SERVICE))

    # when
    response = client.get(reverse("admin:orders_heldorder_changelist"))

    # then: oldest hold first, whatever the placement order; "held since" says when
    listed = [order.pk for order in response.context["cl"].result_list]
    assert listed == [third.pk, first.pk, second.pk]
    html = response.content.decode()
    since = f"{timezone.localtime(held_at[third]):%Y-%m-%d %H:%M}"
    assert since in html
    assert html.index(third.number) < html.index(first.number) < html.index(second.number)


def test_a_bulk_action_on_one_held_order_says_order_not_orders(
    client, catalogue, django_capture_on_commit_callbacks
):
    order = _held_order(django_capture_on_commit_callbacks)
    client.force_login(staff_user(CUSTOMER_SERVICE))

    page = client.post(
        reverse("admin:orders_heldorder_changelist"),
        {"action": "release_selected", "_selected_action": [order.pk]},
    )

    assert page.context["title"] == "Release 1 held order"


def test_bulk_release_asks_for_a_note_then_releases(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given
    first = _held_order(django_capture_on_commit_callbacks, email="a@example.com")
    second = _held_order(django_capture_on_commit_callbacks, email="b@example.com")
    user = staff_user(FINANCE)
    client.force_login(user)
    url = reverse("admin:orders_heldorder_changelist")
    selection = {"action": "release_selected", "_selected_action": [first.pk, second.pk]}

    # when the action is chosen on the list
    response = client.post(url, selection)

    # then an intermediate page asks for a note and nothing changes yet
    assert response.status_code == 200
    assert response.templates[0].name == "admin/orders/heldorder/bulk_action.html"
    html = response.content.decode()
    assert 'name="apply" value="1"' in html
    assert 'value="release_selected"' in html
    assert first.number in html
    assert second.number in html
    for order in (first, second):
        order.refresh_from_db()
        assert order.status == OrderStatus.ON_HOLD

    # when the intermediate page is submitted
    response = client.post(url, {**selection, "apply": "1", "note": "Checked."}, follow=True)

    # then both are released with the note on their timelines
    assert response.redirect_chain[-1][1] == 302
    successes = _successes(response)
    assert len(successes) == 1
    assert first.number in successes[0]
    assert second.number in successes[0]
    assert _errors(response) == []
    for order in (first, second):
        order.refresh_from_db()
        assert order.status == OrderStatus.CONFIRMED
        event = OrderEvent.objects.get(order=order, type=EventType.RELEASED)
        assert (event.message, event.actor) == ("Checked.", user)
    assert _result_pks(response) == set()


def test_bulk_release_says_which_orders_the_review_held_again(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given an order held by hand before its review ran, with an undeliverable address, and
    # one held after its review
    unreviewed = place_order(
        email="a@example.com",
        shipping_address=services.AddressInput(
            name="A", line1="Street 1", city="Berlin", postal_code="1234", country="DE"
        ),
    ).order
    services.order_hold(order_id=unreviewed.pk, actor="test", note="caller unsure")
    reviewed = _held_order(django_capture_on_commit_callbacks, email="b@example.com")
    client.force_login(staff_user(CUSTOMER_SERVICE))

    # when both are released from the queue
    response = client.post(
        reverse("admin:orders_heldorder_changelist"),
        {
            "action": "release_selected",
            "_selected_action": [unreviewed.pk, reviewed.pk],
            "apply": "1",
            "note": "Checked.",
        },
        follow=True,
    )

    # then the reviewed one is released, and the queue says the other went through the
    # review, which held it again for its address
    assert _successes(response) == [f"Released: {reviewed.number}."]
    warnings = [text for level, text in _messages(response) if level == message_levels.WARNING]
    assert warnings == [
        f"Released to the review, which held them again: {unreviewed.number}. "
        "Their new reasons are in the queue."
    ]
    unreviewed = Order.objects.prefetch_related("holds").get(pk=unreviewed.pk)
    assert unreviewed.active_hold_reasons() == [HoldReason.ADDRESS_INVALID]
    assert _result_pks(response) == {unreviewed.pk}


def test_bulk_cancel_without_a_reason_is_refused(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given
    order = _held_order(django_capture_on_commit_callbacks)
    before = _snapshot(order)
    client.force_login(staff_user(CUSTOMER_SERVICE))
    url = reverse("admin:orders_heldorder_changelist")

    # when
    response = client.post(
        url,
        {"action": "cancel_selected", "_selected_action": [order.pk], "apply": "1", "note": ""},
        follow=True,
    )

    # then
    assert _errors(response) == ["A reason is required to cancel orders."]
    assert _snapshot(order) == before
    assert _result_pks(response) == {order.pk}


def test_bulk_cancel_with_a_reason_cancels_and_says_so(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given
    order = _held_order(django_capture_on_commit_callbacks, lines=[("MUG-001", 2)])
    client.force_login(staff_user(CUSTOMER_SERVICE))
    url = reverse("admin:orders_heldorder_changelist")
    selection = {"action": "cancel_selected", "_selected_action": [order.pk]}

    # when
    page = client.post(url, selection)
    response = client.post(
        url, {**selection, "apply": "1", "note": "Fraud confirmed."}, follow=True
    )

    # then the intermediate page insists on a reason, and the order is cancelled
    assert 'name="note" rows="3" cols="60" required' in page.content.decode()
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.cancellation_reason == "Fraud confirmed."
    assert sum(_reserved().values()) == 0
    assert _successes(response) == [f"Cancelled: {order.number}."]


def test_bulk_release_reports_orders_it_cannot_release(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given a phone order short of stock (held by the review) and an ordinary held order
    short = _held_order_for_stock(django_capture_on_commit_callbacks)
    fine = _held_order(django_capture_on_commit_callbacks, email="fine@example.com")
    client.force_login(staff_user(FINANCE))
    url = reverse("admin:orders_heldorder_changelist")

    # when
    response = client.post(
        url,
        {"action": "release_selected", "_selected_action": [short.pk, fine.pk], "apply": "1"},
        follow=True,
    )

    # then one is released, the other stays held with the reason given
    assert _successes(response) == [f"Released: {fine.number}."]
    errors = _errors(response)
    assert len(errors) == 1
    assert errors[0].startswith(f"{short.number}: ")
    short.refresh_from_db()
    fine.refresh_from_db()
    assert short.status == OrderStatus.ON_HOLD
    assert fine.status == OrderStatus.CONFIRMED
    assert _result_pks(response) == {short.pk}


def test_bulk_cancel_is_not_offered_to_finance(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given
    order = _held_order(django_capture_on_commit_callbacks)
    before = _snapshot(order)
    client.force_login(staff_user(FINANCE))
    url = reverse("admin:orders_heldorder_changelist")

    # when
    page = client.get(url)
    response = client.post(
        url,
        {"action": "cancel_selected", "_selected_action": [order.pk], "apply": "1", "note": "x"},
        follow=True,
    )

    # then
    choices = [value for value, _ in page.context["action_form"].fields["action"].choices]
    assert "release_selected" in choices
    assert "cancel_selected" not in choices
    assert _successes(response) == []
    assert _snapshot(order) == before


# --- 6. list filters and search -----------------------------------------------------------


@pytest.fixture
def order_mix(catalogue, django_capture_on_commit_callbacks):
    """A confirmed web order, a phone order held for fraud, a web order held by hand."""
    web = _confirmed_order(
        django_capture_on_commit_callbacks, lines=[("MUG-001", 1)], email="web@example.com"
    )
    phone = _held_order(
        django_capture_on_commit_callbacks,
        reason=HoldReason.FRAUD_RISK,
        lines=[("TEE-001", 1)],
        email="phone@example.com",
        channel="phone",
    )
    manual = _held_order(
        django_capture_on_commit_callbacks,
        reason=HoldReason.MANUAL,
        lines=[("LAMP-001", 1)],
        email="manual@example.com",
    )
    return {"web": web, "phone": phone, "manual": manual}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=on_hold", {"phone", "manual"}),
        ("status__exact=confirmed", {"web"}),
        ("hold_reason=fraud_risk", {"phone"}),
        ("hold_reason=manual", {"manual"}),
        ("channel=phone", {"phone"}),
        ("channel__exact=web", {"web", "manual"}),
        ("q=TEE-001", {"phone"}),
        ("q=tee-001", {"phone"}),
        ("q=manual@example.com", {"manual"}),
        ("q=nobody@example.com", set()),
    ],
)
def test_the_order_list_filters_and_searches(client, order_mix, query, expected):
    # given
    client.force_login(staff_user(CUSTOMER_SERVICE))

    # when
    response = client.get(reverse("admin:orders_order_changelist") + "?" + query)

    # then
    assert response.status_code == 200
    assert _result_pks(response) == {order_mix[key].pk for key in expected}


def test_the_order_list_finds_an_order_by_number(client, order_mix):
    # given
    client.force_login(staff_user(CUSTOMER_SERVICE))
    wanted = order_mix["manual"]

    # when
    response = client.get(reverse("admin:orders_order_changelist"), {"q": wanted.number})

    # then
    assert _result_pks(response) == {wanted.pk}


def test_a_released_hold_no_longer_matches_the_hold_reason_filter(client, order_mix):
    # given
    services.order_release(order_id=order_mix["phone"].pk, actor="test")
    client.force_login(staff_user(CUSTOMER_SERVICE))

    # when
    response = client.get(reverse("admin:orders_order_changelist"), {"hold_reason": "fraud_risk"})

    # then
    assert _result_pks(response) == set()


# --- 7. query budget ----------------------------------------------------------------------


def _place_orders(count, start):
    for n in range(start, start + count):
        order = place_order([("EBOOK-001", 1)], email=f"buyer{n}@example.com").order
        if n % 3 == 0:
            services.order_hold(order_id=order.pk, actor="test", reason=HoldReason.FRAUD_RISK)


def test_the_order_list_takes_a_constant_number_of_queries(
    client, catalogue, django_assert_max_num_queries
):
    # given
    client.force_login(staff_user(CUSTOMER_SERVICE))
    url = reverse("admin:orders_order_changelist")
    _place_orders(5, start=0)
    client.get(url)  # warm caches (content types, session) so both runs compare alike

    # when
    with CaptureQueriesContext(connection) as few:
        response = client.get(url)
    assert len(response.context["cl"].result_list) == 5
    _place_orders(45, start=5)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url)
    assert len(response.context["cl"].result_list) == 50

    # then
    assert len(many) == len(few), "\n".join(q["sql"] for q in many.captured_queries)
    with django_assert_max_num_queries(9):
        client.get(url)


# --- 8. the notification log --------------------------------------------------------------


def test_the_notification_log_shows_the_sent_confirmation(
    client, catalogue, django_capture_on_commit_callbacks, mailoutbox
):
    # given
    order = _confirmed_order(django_capture_on_commit_callbacks)
    notification = Notification.objects.get(order=order, kind="order_confirmation")
    assert notification.status == NotificationStatus.SENT
    client.force_login(staff_user(CUSTOMER_SERVICE))

    # when
    listing = client.get(reverse("admin:orders_notification_changelist"))
    page = client.get(reverse("admin:orders_notification_change", args=[notification.pk]))

    # then
    assert listing.status_code == 200
    assert _result_pks(listing) == {notification.pk}
    assert page.status_code == 200
    html = page.content.decode()
    assert f"Your order {order.number} is confirmed" in html
    assert mailoutbox[0].subject == f"Your order {order.number} is confirmed"
    assert f"We have confirmed order {order.number}" in html
    assert "<iframe" in html


def test_resend_is_offered_to_customer_service_and_not_to_the_warehouse(
    client, catalogue, django_capture_on_commit_callbacks
):
    # given
    _confirmed_order(django_capture_on_commit_callbacks)
    url = reverse("admin:orders_notification_changelist")

    # when
    client.force_login(staff_user(CUSTOMER_SERVICE))
    as_customer_service = client.get(url)
    client.force_login(staff_user(WAREHOUSE))
    as_warehouse = client.get(url)

    # then
    choices = [v for v, _ in as_customer_service.context["action_form"].fields["action"].choices]
    assert "resend_selected" in choices
    assert as_warehouse.status_code == 200
    assert as_warehouse.context["action_form"] is None
    assert "resend_selected" not in as_warehouse.content.decode()


def test_the_warehouse_cannot_resend_by_posting(
    client, catalogue, django_capture_on_commit_callbacks, mailoutbox
):
    # given
    order = _confirmed_order(django_capture_on_commit_callbacks)
    notification = Notification.objects.get(order=order)
    client.force_login(staff_user(WAREHOUSE))
    mailoutbox.clear()

    # when
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:orders_notification_changelist"),
            {"action": "resend_selected", "_selected_action": [notification.pk]},
        )

    # then
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT
    assert notification.attempts == 1
    assert mailoutbox == []


def test_resend_sets_the_row_back_to_pending_and_sends_again(
    client, catalogue, django_capture_on_commit_callbacks, mailoutbox
):
    # given
    order = _confirmed_order(django_capture_on_commit_callbacks)
    notification = Notification.objects.get(order=order, kind="order_confirmation")
    user = staff_user(CUSTOMER_SERVICE)
    client.force_login(user)
    mailoutbox.clear()

    # when the action runs (the send waits for the commit)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("admin:orders_notification_changelist"),
            {"action": "resend_selected", "_selected_action": [notification.pk]},
            follow=True,
        )

    # then the row is pending again, with a note on the order's timeline
    assert _messages(response) == [(message_levels.INFO, "1 notification queued to resend.")]
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.PENDING
    assert notification.attempts == 0
    assert OrderEvent.objects.filter(
        order=order, type=EventType.NOTE, actor=user, message__contains="queued to resend"
    ).exists()
    assert mailoutbox == []

    # when the transaction commits
    for callback in callbacks:
        callback()

    # then it goes out again
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT
    assert notification.attempts == 1
    assert len(mailoutbox) == 1
    assert mailoutbox[0].subject == f"Your order {order.number} is confirmed"


# --- 9. the timeline ----------------------------------------------------------------------


def test_the_timeline_shows_who_did_what(client, catalogue, django_capture_on_commit_callbacks):
    # given an order cancelled by one staff member
    order = _confirmed_order(django_capture_on_commit_callbacks)
    agent = staff_user(CUSTOMER_SERVICE, username="jane_agent")
    client.force_login(agent)
    client.post(_action_url(order, "cancel"), {"action": "cancel", "note": "Duplicate order."})
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED

    # when another looks at the order
    client.force_login(staff_user(MANAGERS, username="boss"))
    response = client.get(_change_url(order))

    # then the timeline names who cancelled it, and the system for the automatic steps
    html = response.content.decode()
    rows = re.findall(
        r'<td class="field-type">\s*<p>(.*?)</p>.*?<td class="field-who">\s*<p>(.*?)</p>',
        html,
        re.S,
    )
    assert ("Cancelled", "jane_agent") in rows
    assert ("Confirmed", "system") in rows
    assert ("Placed", "test") in rows
    assert "Order cancelled. Duplicate order." in html

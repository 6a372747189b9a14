"""Customer accounts and order pages through HTTP: register, log in, reset a password, My
orders, the order page (own orders only), cancel and change the address before picking,
guest links (signed, expiring, revocable), and the query budget of the pages."""

import re
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core import mail, signing
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orders import services
from orders.events import record
from orders.exceptions import InvalidOrder, TransitionRefused
from orders.models import Address, Customer, EventType, Notification, Order, OrderStatus
from orders.notifications import order_page_url, render_notification
from orders.selectors import order_link_token
from orders.services import AddressInput, OrderGrant
from orders.signed_links import ORDER_LINK, LinkRefused
from orders.tests.factories import BERLIN, CustomerFactory, UserFactory, place_order

pytestmark = pytest.mark.django_db
PASSWORD = "a-Long-secret-42"
NEW_ADDRESS = {
    "name": "Ada Lovelace",
    "line1": "Invalidenstraße 50",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def _customer_user(email="ada@example.com"):
    user = UserFactory(username=email, email=email, is_staff=False, password=PASSWORD)
    CustomerFactory(email=email, user=user)
    return user


def _order_of(user, lines=None, **kwargs):
    return place_order(lines, email=user.email, user=user, payment=None, **kwargs).order


def _set_status(order, status):
    Order.objects.filter(pk=order.pk).update(status=status)


def _snapshot(order):
    order = Order.objects.get(pk=order.pk)
    return (
        order.status,
        order.shipping_address_id,
        order.cancellation_reason,
        order.events.count(),
        order.public_token,
    )


def _link(order):
    return reverse("orders:order-link", args=[order_link_token(order)])


# --- register, log in, log out, reset ------------------------------------------------------


def test_register_creates_a_user_and_customer_and_logs_in(client):
    response = client.post(
        reverse("orders:register"),
        {
            "name": "Ada Lovelace",
            "email": "Ada@Example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("orders:account-orders")
    user = get_user_model().objects.get()
    assert (user.username, user.email, user.first_name) == (
        "ada@example.com",
        "ada@example.com",
        "Ada",
    )
    assert user.check_password(PASSWORD)
    assert Customer.objects.get().user == user
    assert client.get(reverse("orders:account-orders")).status_code == 200


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"email": "nope"}, "email", "Enter a valid email address."),
        ({"password2": "other-Password-9"}, "password2", "not the same"),
        ({"password1": "123", "password2": "123"}, "password1", "too short"),
        ({"name": ""}, "name", "This field is required."),
    ],
)
def test_bad_registrations_are_refused_on_the_field(client, data, field, message):
    form = {"name": "Ada", "email": "ada@example.com", "password1": PASSWORD}
    form["password2"] = PASSWORD
    form.update(data)
    response = client.post(reverse("orders:register"), form)
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert f'id="id_{field}_error"' in html
    assert not get_user_model().objects.exists()


def test_an_email_with_an_account_cannot_register_again(client):
    _customer_user()
    response = client.post(
        reverse("orders:register"),
        {"name": "X", "email": "ADA@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 400
    assert "An account with this email already exists" in response.content.decode()
    assert get_user_model().objects.count() == 1


def test_registering_with_a_guest_email_does_not_show_their_orders_without_proof(client, catalogue):
    # given: a guest order for victim@example.com
    order = place_order(email="victim@example.com", payment=None).order
    # when: someone registers with that email, without the link from the guest's email
    client.post(
        reverse("orders:register"),
        {
            "name": "Mallory",
            "email": "victim@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    # then: the guest's order is not theirs
    assert order.customer.user is None
    account = client.get(reverse("orders:account-orders")).content.decode()
    assert order.number not in account
    assert "To add them to your account, open the link we email you" in account
    assert client.get(reverse("orders:account-order", args=[order.number])).status_code == 404
    assert Notification.objects.filter(kind="account_claim").count() == 1


def test_the_claim_link_from_the_email_adds_the_guest_orders(
    client, catalogue, django_capture_on_commit_callbacks
):
    order = place_order(email="ada@example.com", payment=None).order
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("orders:register"),
            {
                "name": "Ada",
                "email": "ada@example.com",
                "password1": PASSWORD,
                "password2": PASSWORD,
            },
        )
    claim = [m for m in mail.outbox if "earlier orders" in m.subject]
    assert len(claim) == 1
    path = re.search(r"https?://[^/]+(/account/claim/[^\s]+/)", claim[0].body).group(1)
    assert client.get(path).status_code == 200
    client.post(path)
    order.customer.refresh_from_db()
    assert order.customer.user.username == "ada@example.com"
    assert order.number in client.get(reverse("orders:account-orders")).content.decode()


def test_a_claim_link_works_only_for_its_own_account(client, catalogue):
    place_order(email="ada@example.com", payment=None)
    other = _customer_user("eve@example.com")
    guest = Customer.objects.get(email="ada@example.com")
    token = signing.dumps({"user": other.pk + 1, "customer": guest.pk}, salt="orders.claim-orders")
    client.force_login(other)
    response = client.post(reverse("orders:account-claim", args=[token]))
    assert response.status_code == 404
    assert "another account" in response.content.decode()
    tampered = client.get(reverse("orders:account-claim", args=["x" + token]))
    assert tampered.status_code == 404
    guest.refresh_from_db()
    assert guest.user is None


def test_a_claim_link_for_a_customer_that_is_gone_is_not_found(client, catalogue):
    ada = _customer_user()
    token = signing.dumps({"user": ada.pk, "customer": 10**9}, salt="orders.claim-orders")
    client.force_login(ada)
    assert client.get(reverse("orders:account-claim", args=[token])).status_code == 404


def test_a_claim_link_is_sent_only_to_an_account_that_may_claim(catalogue):
    # given Ada's guest order, and an account with Ada's email
    place_order(email="ada@example.com", payment=None)
    ada = UserFactory(username="ada@example.com", email="ada@example.com", is_staff=False)
    # when / then: her account may claim them, once the link is sent
    assert services.customer_claim_link_send(user=ada, actor=ada) is True
    assert Notification.objects.filter(kind="account_claim", recipient=ada.email).count() == 1
    # an account with no orders waiting under its email, or with no email, may not
    eve = _customer_user("eve@example.com")
    assert services.customer_claim_link_send(user=eve, actor=eve) is False
    nobody = UserFactory(username="nobody", email="", is_staff=False)
    assert services.customer_claim_link_send(user=nobody, actor=nobody) is False
    assert Notification.objects.filter(kind="account_claim").count() == 1


def test_a_guest_link_alone_never_hands_over_the_orders_of_that_email(client, catalogue):
    # given Grace's earlier guest order, and a stranger who places a guest order under
    # Grace's email and so gets a guest link of their own
    earlier = place_order(email="grace@example.com", payment=None).order
    strangers = place_order(email="grace@example.com", payment=None).order
    link = order_link_token(strangers)
    # when the stranger registers with Grace's email from that link
    client.post(
        reverse("orders:register") + "?link=" + link,
        {
            "name": "Mallory",
            "email": "grace@example.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "link": link,
        },
    )
    # then nothing is claimed: only the link emailed to Grace's mailbox can do that
    earlier.customer.refresh_from_db()
    assert earlier.customer.user is None
    assert client.get(reverse("orders:account-order", args=[earlier.number])).status_code == 404
    assert Notification.objects.filter(kind="account_claim", recipient="grace@example.com").exists()


def test_log_in_and_out(client):
    _customer_user()
    page = client.get(reverse("orders:login"))
    assert page.status_code == 200 and "csrfmiddlewaretoken" in page.content.decode()
    bad = client.post(reverse("orders:login"), {"username": "ada@example.com", "password": "x"})
    assert bad.status_code == 200
    error = "That email and password do not match an account."
    assert error in bad.content.decode()
    assert bad.context["form"].non_field_errors() == [
        f"{error} Check both and try again (the password is case-sensitive)."
    ]
    good = client.post(
        reverse("orders:login"), {"username": "ADA@example.com", "password": PASSWORD}
    )
    assert good.status_code == 302
    assert good["Location"] == reverse("orders:account-orders")
    assert client.get(reverse("orders:logout")).status_code == 405  # log out is a POST
    client.post(reverse("orders:logout"))
    assert client.get(reverse("orders:account-orders")).status_code == 302


def test_login_is_rate_limited_per_username_and_address(client, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login": "3/300", "login_account": "3/300"}
    _customer_user()
    for _ in range(3):
        client.post(reverse("orders:login"), {"username": "ada@example.com", "password": "x"})
    limited = client.post(
        reverse("orders:login"), {"username": "ada@example.com", "password": PASSWORD}
    )
    assert limited.status_code == 429
    assert "_auth_user_id" not in client.session
    # another address trying the same username is limited too (the per-username window)
    other = client.__class__(REMOTE_ADDR="10.9.9.9")
    response = other.post(
        reverse("orders:login"), {"username": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 429


def test_password_reset_emails_a_link_that_sets_a_new_password(client):
    user = _customer_user()
    response = client.post(reverse("orders:password-reset"), {"email": "ada@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    link = re.search(r"https?://[^/]+(/account/password-reset/\S+/)", mail.outbox[0].body)
    confirm = client.get(link.group(1), follow=True)
    assert "Choose a new password" in confirm.content.decode()
    done = client.post(
        confirm.redirect_chain[-1][0],
        {"new_password1": "Brand-new-pass-77", "new_password2": "Brand-new-pass-77"},
    )
    assert done.status_code == 302
    user.refresh_from_db()
    assert user.check_password("Brand-new-pass-77")
    # an unknown email gets the same answer and no mail
    client.post(reverse("orders:password-reset"), {"email": "nobody@example.com"})
    assert len(mail.outbox) == 1


def test_password_resets_for_one_email_are_limited_whatever_look_alike_is_typed(client, settings):
    # given two resets allowed per email, and Ada's email typed three ways from three addresses
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password_reset": "2/900"}
    _customer_user()
    spellings = ("ada@example.com", "ＡＤＡ@example.com", "Ada@Example.COM")

    answers = [
        client.__class__(REMOTE_ADDR=f"10.0.2.{n}").post(
            reverse("orders:password-reset"), {"email": email}
        )
        for n, email in enumerate(spellings, start=1)
    ]

    # then the third is refused: they are one email, and one counter
    assert [answer.status_code == 429 for answer in answers] == [False, False, True]
    assert len(mail.outbox) <= 2


# --- My orders and the order page ----------------------------------------------------------


def test_my_orders_needs_a_login(client):
    response = client.get(reverse("orders:account-orders"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("orders:login"))


def test_my_orders_lists_only_the_customers_own_orders(client, catalogue):
    ada = _customer_user()
    mine = _order_of(ada, [("MUG-001", 3)])
    theirs = place_order(email="grace@example.com", payment=None).order
    client.force_login(ada)
    html = client.get(reverse("orders:account-orders")).content.decode()
    assert f"Order {mine.number}" in html and "3 items" in html
    assert theirs.number not in html


@pytest.mark.parametrize(("asked", "shown"), [("2", 2), ("٢", 1), ("²", 1)])
def test_my_orders_reads_the_page_number_in_ascii_digits_only(
    client, catalogue, monkeypatch, asked, shown
):
    monkeypatch.setattr("orders.shop.account.ORDERS_PER_PAGE", 1)
    ada = _customer_user()
    _order_of(ada, [("MUG-001", 1)])
    _order_of(ada, [("MUG-001", 2)])
    client.force_login(ada)
    response = client.get(reverse("orders:account-orders"), {"page": asked})
    assert response.status_code == 200
    assert response.context["page"].number == shown


def test_the_order_page_shows_lines_totals_addresses_payment_and_customer_events(client, catalogue):
    ada = _customer_user()
    order = _order_of(ada, [("MUG-001", 2), ("TEE-001", 1)])
    record(order, EventType.NOTE, actor="support", message="Staff only: check the fraud score.")
    client.force_login(ada)
    response = client.get(reverse("orders:account-order", args=[order.number]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "MUG-001" in html and "TEE-001" in html
    assert f"{order.grand_total} EUR" in html
    assert "Torstraße 1" in html
    assert "Still to pay" in html
    assert f"Order {order.number} received via Website." in html  # customer visible
    assert "Staff only" not in html and "Stock reserved" not in html
    assert 'aria-current="step"' in html and ">Received<" in html
    assert (
        response["Cache-Control"].startswith("max-age=0") or "no-cache" in response["Cache-Control"]
    )
    assert response["Referrer-Policy"] == "same-origin"


def test_another_customers_order_is_404_by_number_and_by_id(client, catalogue):
    ada = _customer_user()
    grace = _customer_user("grace@example.com")
    theirs = _order_of(grace)
    guest = place_order(email="guest@example.com", payment=None).order
    client.force_login(ada)
    for target in (theirs, guest):
        for name in ("account-order", "account-order-cancel", "account-order-address"):
            assert client.get(reverse(f"orders:{name}", args=[target.number])).status_code == 404
        assert client.get(reverse("orders:account-order", args=[str(target.pk)])).status_code == 404
        before = _snapshot(target)
        response = client.post(
            reverse("orders:account-order-cancel", args=[target.number]), {"reason": "mine now"}
        )
        assert response.status_code == 404
        assert _snapshot(target) == before


def test_staff_users_see_no_customer_orders_on_the_site(client, catalogue):
    ada = _customer_user()
    order = _order_of(ada)
    admin = UserFactory(username="boss", is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert client.get(reverse("orders:account-order", args=[order.number])).status_code == 404


def test_the_progress_bar_follows_the_status(client, catalogue):
    ada = _customer_user()
    order = _order_of(ada)
    client.force_login(ada)
    url = reverse("orders:account-order", args=[order.number])
    for status, current in [
        ("confirmed", "Confirmed"),
        ("picking", "Confirmed"),
        ("packed", "Packed"),
        ("shipped", "Shipped"),
        ("delivered", "Delivered"),
    ]:
        _set_status(order, status)
        html = client.get(url).content.decode()
        assert re.search(rf'aria-current="step">{current}<', html), status
    _set_status(order, "cancelled")
    html = client.get(url).content.decode()
    assert "This order is cancelled" in html and 'aria-current="step"' not in html


# --- cancel and change the address ----------------------------------------------------------


def test_a_customer_cancels_before_picking_with_a_reason(
    client, catalogue, django_capture_on_commit_callbacks
):
    ada = _customer_user()
    order = _order_of(ada)
    client.force_login(ada)
    page = client.get(reverse("orders:account-order", args=[order.number])).content.decode()
    assert "Cancel order" in page
    cancel = reverse("orders:account-order-cancel", args=[order.number])
    assert client.get(cancel).status_code == 200
    missing = client.post(cancel, {"reason": "  "})
    assert missing.status_code == 400
    assert Order.objects.get(pk=order.pk).status == OrderStatus.RECEIVED
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(cancel, {"reason": "Ordered the wrong colour"}, follow=True)
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.cancellation_reason == "Cancelled by the customer: Ordered the wrong colour"
    event = order.events.get(type=EventType.CANCELLED)
    assert event.actor_label == "customer ada@example.com" and event.customer_visible
    assert "is cancelled" in response.content.decode()
    assert [m.subject for m in mail.outbox] == [f"Your order {order.number} has been cancelled"]


@pytest.mark.parametrize("status", ["picking", "packed", "shipped", "delivered", "cancelled"])
def test_after_picking_starts_the_buttons_are_gone_and_posts_are_refused(client, catalogue, status):
    ada = _customer_user()
    order = _order_of(ada)
    _set_status(order, status)
    client.force_login(ada)
    page = client.get(reverse("orders:account-order", args=[order.number])).content.decode()
    assert "Cancel order" not in page and "Change shipping address" not in page
    before = _snapshot(order)
    cancel = client.post(
        reverse("orders:account-order-cancel", args=[order.number]),
        {"reason": "too late?"},
        follow=True,
    )
    assert "can no longer be cancelled" in cancel.content.decode()
    moved = client.post(
        reverse("orders:account-order-address", args=[order.number]), NEW_ADDRESS, follow=True
    )
    assert "can no longer be sent to another address" in moved.content.decode()
    assert _snapshot(order) == before


def test_a_customer_changes_the_shipping_address_before_picking(client, catalogue):
    ada = _customer_user()
    order = _order_of(ada)
    old_address = order.shipping_address_id
    client.force_login(ada)
    url = reverse("orders:account-order-address", args=[order.number])
    form = client.get(url).content.decode()
    assert 'value="Torstraße 1"' in form
    response = client.post(url, NEW_ADDRESS, follow=True)
    assert "The shipping address is changed." in response.content.decode()
    order.refresh_from_db()
    assert order.shipping_address_id != old_address
    assert order.shipping_address.line1 == "Invalidenstraße 50"
    assert Address.objects.get(pk=old_address).line1 == "Torstraße 1"  # history kept
    event = order.events.get(data__change="shipping_address")
    assert event.customer_visible and "Invalidenstraße 50" in event.message
    assert "Shipping address changed to" in response.content.decode()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"postal_code": "1234"}, "is not a valid postal code for Germany"),
        ({"line1": ""}, "This field is required."),
        ({"country": "GB", "postal_code": "N1 9GU"}, "Select a valid choice."),
    ],
)
def test_a_bad_new_address_is_refused_and_changes_nothing(client, catalogue, changes, message):
    ada = _customer_user()
    order = _order_of(ada)
    client.force_login(ada)
    before = _snapshot(order)
    response = client.post(
        reverse("orders:account-order-address", args=[order.number]), {**NEW_ADDRESS, **changes}
    )
    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'")
    assert _snapshot(order) == before


# --- the services behind the buttons ---------------------------------------------------------


def test_cancel_by_customer_checks_ownership_and_state(catalogue):
    ada = _customer_user()
    order = _order_of(ada)
    mine = OrderGrant.signed_in(ada)
    with pytest.raises(InvalidOrder, match="could not find"):
        services.order_cancel_by_customer(
            order_id=order.pk,
            grant=OrderGrant.signed_in(_customer_user("eve@example.com")),
            reason="x",
        )
    with pytest.raises(InvalidOrder, match="why"):
        services.order_cancel_by_customer(order_id=order.pk, grant=mine, reason=" ")
    _set_status(order, "picking")
    with pytest.raises(TransitionRefused, match="can no longer be cancelled"):
        services.order_cancel_by_customer(order_id=order.pk, grant=mine, reason="x")
    assert Order.objects.get(pk=order.pk).status == "picking"


def test_a_guest_order_under_the_account_email_is_not_the_account_holders_to_change(catalogue):
    # given Ada's account, and a guest order a stranger placed under Ada's email: its
    # customer record is Ada's, but the order is in no account
    ada = _customer_user()
    stranger = place_order(email="ada@example.com", payment=None).order
    assert stranger.customer.user == ada and stranger.account_id is None
    before = _snapshot(stranger)

    # when Ada's account asks to cancel it or change its address, then it is refused as
    # not found, and nothing changes
    with pytest.raises(InvalidOrder, match="could not find"):
        services.order_cancel_by_customer(
            order_id=stranger.pk, grant=OrderGrant.signed_in(ada), reason="not mine"
        )
    with pytest.raises(InvalidOrder, match="could not find"):
        services.order_change_shipping_address(
            order_id=stranger.pk, grant=OrderGrant.signed_in(ada), address=BERLIN
        )
    assert _snapshot(stranger) == before


def test_a_guest_link_grants_its_own_order_only_and_not_once_revoked(catalogue):
    # given two guest orders and the link emailed for the first
    first = place_order(email="guest@example.com", payment=None).order
    second = place_order(email="guest@example.com", payment=None).order
    link = OrderGrant.guest_link(order_link_token(first))
    before = _snapshot(second)

    # then the link does not open the other order, nor does no grant at all, nor an
    # anonymous visitor
    for grant in (link, OrderGrant(), OrderGrant.signed_in(AnonymousUser())):
        with pytest.raises(InvalidOrder, match="could not find"):
            services.order_cancel_by_customer(order_id=second.pk, grant=grant, reason="x")
    assert _snapshot(second) == before

    # and once the links are revoked, it opens nothing
    services.order_revoke_links(order_id=first.pk, actor="support")
    before = _snapshot(first)
    with pytest.raises(LinkRefused, match="no longer valid"):
        services.order_cancel_by_customer(order_id=first.pk, grant=link, reason="x")
    assert _snapshot(first) == before

    # while its own link, newly sent, cancels it, and the timeline says how
    fresh = OrderGrant.guest_link(order_link_token(Order.objects.get(pk=first.pk)))
    services.order_cancel_by_customer(order_id=first.pk, grant=fresh, reason="x")
    cancelled = first.events.get(type=EventType.CANCELLED)
    assert cancelled.actor_label == "customer guest@example.com (guest link)"


def test_changing_the_address_keeps_the_country(catalogue):
    ada = _customer_user()
    order = _order_of(ada)
    mine = OrderGrant.signed_in(ada)
    london = AddressInput(
        name="A", line1="1 Main St", city="London", postal_code="N1 9GU", country="GB"
    )
    with pytest.raises(InvalidOrder, match="another country"):
        services.order_change_shipping_address(order_id=order.pk, grant=mine, address=london)
    digital = _order_of(ada, [("EBOOK-001", 1)], shipping_address=None, shipping_method=None)
    with pytest.raises(InvalidOrder, match="nothing to ship"):
        services.order_change_shipping_address(order_id=digital.pk, grant=mine, address=BERLIN)
    # the same address again changes nothing and records nothing
    before = _snapshot(order)
    services.order_change_shipping_address(order_id=order.pk, grant=mine, address=BERLIN)
    assert _snapshot(order) == before


def test_revoking_links_rotates_the_token_and_records_a_staff_only_event(client, catalogue):
    order = place_order(email="guest@example.com", payment=None).order
    link = _link(order)
    assert client.get(link).status_code == 200
    services.order_revoke_links(order_id=order.pk, actor="support")
    order.refresh_from_db()
    response = client.get(link)
    assert response.status_code == 404
    assert "no longer valid" in response.content.decode()
    event = order.events.get(data__change="links_revoked")
    assert not event.customer_visible and event.actor_label == "support"
    assert client.get(_link(order)).status_code == 200  # a new link works


# --- guest links ------------------------------------------------------------------------------


def test_a_guest_link_shows_the_order_without_an_account_and_offers_one(client, catalogue):
    order = place_order(email="guest@example.com", payment=None).order
    response = client.get(_link(order))
    html = response.content.decode()
    assert response.status_code == 200
    assert f"Order {order.number}" in html and "MUG-001" in html
    assert "Create an account" in html and "?link=" in html
    assert response["Referrer-Policy"] == "same-origin"
    assert "noindex" in response["X-Robots-Tag"]


def test_tampered_expired_and_foreign_guest_links_are_refused(client, catalogue, settings):
    order = place_order(email="guest@example.com", payment=None).order
    token = order_link_token(order)
    for bad in (token[:-3] + "abc", "garbage", signing.dumps({"order": order.pk}, salt="x")):
        response = client.get(reverse("orders:order-link", args=[bad]))
        assert response.status_code == 404
        assert "not valid" in response.content.decode()
    forged = signing.dumps({"order": order.pk, "token": "guess"}, salt=ORDER_LINK.salt)
    assert client.get(reverse("orders:order-link", args=[forged])).status_code == 404
    settings.ORDER_LINK_MAX_AGE_DAYS = 1
    with mock.patch("django.core.signing.time.time", return_value=10**10):
        expired = client.get(reverse("orders:order-link", args=[token]))
    assert expired.status_code == 404
    assert "expired" in expired.content.decode()


def test_a_guest_cancels_and_changes_the_address_through_the_link(
    client, catalogue, signing_clock_held
):
    order = place_order(email="guest@example.com", payment=None).order
    token = order_link_token(order)
    address = client.post(reverse("orders:order-link-address", args=[token]), NEW_ADDRESS)
    assert address.status_code == 302 and address["Location"] == _link(order)
    client.post(reverse("orders:order-link-cancel", args=[token]), {"reason": "Found it cheaper"})
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    assert order.shipping_address.line1 == "Invalidenstraße 50"
    after = client.post(reverse("orders:order-link-cancel", args=[token]), {"reason": "again"})
    assert after.status_code == 302


def test_the_owner_opening_a_guest_link_goes_to_the_account_page(client, catalogue):
    ada = _customer_user()
    order = _order_of(ada)
    client.force_login(ada)
    response = client.get(_link(order))
    assert response["Location"] == reverse("orders:account-order", args=[order.number])


def test_an_order_without_an_invoice_has_no_invoice_download(client, catalogue):
    order = place_order(email="guest@example.com", payment=None).order
    url = reverse("orders:order-link-invoice", args=[order_link_token(order)])
    assert client.get(url).status_code == 404


# --- emails link to the right page -------------------------------------------------------------


def test_emails_link_guests_to_the_signed_page_and_customers_to_their_account(
    client, catalogue, settings, signing_clock_held
):
    settings.SITE_URL = "https://shop.example.com"
    # (signing_clock_held: the link rendered into the email below is the one computed here)
    guest = place_order(email="guest@example.com", payment=None).order
    url = order_page_url(guest)
    assert url.startswith("https://shop.example.com/orders/track/")
    assert client.get(url.removeprefix("https://shop.example.com")).status_code == 200
    ada = _customer_user()
    own = _order_of(ada)
    assert order_page_url(own) == "https://shop.example.com" + reverse(
        "orders:account-order", args=[own.number]
    )
    notification = Notification.objects.create(
        order=guest, kind="order_confirmation", recipient=guest.email
    )
    _subject, text, html = render_notification(notification)
    assert f"View your order: {url}" in text
    assert f'href="{url}"' in html


# --- query budget -----------------------------------------------------------------------------


def _queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_order_page_and_my_orders_take_a_constant_number_of_queries(client, catalogue):
    ada = _customer_user()
    small = _order_of(ada, [("MUG-001", 1)])
    skus = []
    for index in range(12):
        product = catalogue["mug"].__class__.objects.create(
            sku=f"BULK-{index}", name=f"Bulk {index}", price="1.00", kind="digital"
        )
        skus.append((product.sku, 1))
    large = _order_of(ada, [("MUG-001", 2), ("TEE-001", 1), *skus])
    for index in range(15):
        record(large, EventType.NOTE, actor="x", message=f"Visible {index}", customer_visible=True)
    client.force_login(ada)
    small_url = reverse("orders:account-order", args=[small.number])
    large_url = reverse("orders:account-order", args=[large.number])
    _queries(client, small_url)  # warm the session
    assert _queries(client, small_url) == _queries(client, large_url)
    list_url = reverse("orders:account-orders")
    few = _queries(client, list_url)
    for _ in range(5):
        _order_of(ada, [("MUG-001", 1), ("TEE-001", 1)])
    assert _queries(client, list_url) == few
    assert few <= 8
    guest = place_order(email="guest@example.com", payment=None).order
    client.logout()
    assert _queries(client, _link(guest)) <= 10


def test_the_account_pages_render(client):
    for name in ("login", "register", "password-reset", "password-reset-done"):
        response = client.get(reverse(f"orders:{name}"))
        assert response.status_code == 200, name
        assert "<h1>" in response.content.decode()
    complete = client.get(reverse("orders:password-reset-complete"))
    assert "Your password is changed" in complete.content.decode()
    bad = client.get(reverse("orders:password-reset-confirm", args=["MQ", "set-password"]))
    assert "This link is not valid" in bad.content.decode()
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert "We cannot find that page" in missing.content.decode()


def test_a_logged_in_user_is_sent_from_log_in_and_register_to_my_orders(client):
    client.force_login(_customer_user())
    assert client.get(reverse("orders:login"))["Location"] == reverse("orders:account-orders")
    assert client.get(reverse("orders:register"))["Location"] == reverse("orders:account-orders")

"""Both logins, the shop's (/account/login/) and the staff console's (/admin/login/), are
rate limited the same way (orders.ratelimit): per address, each page with its own counter (the
"login" and "staff_login" scopes), and per username with one counter for both pages
("login_account"), whatever look-alike of the name is typed; a 429 page with Retry-After,
closed while the counter (Redis) is down; and each refusal is logged without anything that was
posted."""

import json
import logging
from hashlib import sha256
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.urls import reverse

from config.logging import JsonFormatter
from orders import ratelimit
from orders.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADMIN_LOGIN = "/admin/login/"
STAFF_PASSWORD = "Staff-pass-4471"
WRONG = "not-the-password-5093"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def login_limit(settings):
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "login": "3/300",
        "staff_login": "3/300",
        "login_account": "3/300",
    }


@pytest.fixture
def clock(monkeypatch):
    """The limiter's clock, held still and moved on by hand."""
    now = SimpleNamespace(value=1_000_000.0)
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: now.value))
    return now


@pytest.fixture
def staff(db):
    return UserFactory(username="grace", is_staff=True, password=STAFF_PASSWORD)


def _admin_login(client, password, username="grace"):
    return client.post(ADMIN_LOGIN, {"username": username, "password": password, "next": "/admin/"})


def _refusals(caplog):
    return [r for r in caplog.records if r.getMessage() == "rate limit exceeded"]


def test_wrong_staff_logins_are_refused_with_429_and_logged(
    client, staff, login_limit, clock, caplog
):
    # given three wrong passwords
    for _ in range(3):
        assert _admin_login(client, WRONG).status_code == 200  # the form again, with its error

    # when the fourth try has the right one
    with caplog.at_level(logging.WARNING, logger="orders.ratelimit"):
        refused = _admin_login(client, STAFF_PASSWORD)

    # then it is refused, politely, in the console's own page, and nobody is logged in
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 300
    page = refused.content.decode()
    assert "Please wait a moment" in page
    assert "Orderflow staff console" in page
    assert "_auth_user_id" not in client.session
    # and the refusal is logged: which limit, which client; never the password or the name
    [refusal] = _refusals(caplog)
    assert (refusal.scope, refusal.limited_by, refusal.client, refusal.path) == (
        "login_account",
        "posted_username",
        "127.0.0.1",
        ADMIN_LOGIN,
    )
    line = JsonFormatter().format(refusal)
    assert json.loads(line)["key_digest"] == refusal.key_digest and len(refusal.key_digest) == 12
    assert STAFF_PASSWORD not in line and WRONG not in line and "grace" not in line


def test_the_logged_digest_cannot_be_matched_against_a_list_of_names(
    client, staff, login_limit, settings, caplog
):
    # given an account locked out
    for _ in range(3):
        _admin_login(client, WRONG)

    # when it is refused twice
    with caplog.at_level(logging.WARNING, logger="orders.ratelimit"):
        _admin_login(client, WRONG)
        _admin_login(client, WRONG)
    first, again = (r.key_digest for r in _refusals(caplog))

    # then the digest names the account the same way each time, but it is no plain hash of
    # the name that anyone could compute: it is keyed with the site's secret key
    assert first == again
    assert first != sha256(b"grace").hexdigest()[:12]
    assert ratelimit.key_digest("grace") == first
    settings.SECRET_KEY = "another-secret-key-" * 3
    assert ratelimit.key_digest("grace") != first
    assert len(first) == 12 and int(first, 16) >= 0


# Names Django's login form reads as "grace" (UsernameField NFKC-normalises): full-width
# letters, capitals, spaces.
LOOK_ALIKES = ("grace", "ｇrace", "GRACE", "Ｇｒａｃｅ", " grace ", "ＧＲＡＣＥ", "gracｅ")


def test_look_alike_usernames_count_as_one_account(client, staff, login_limit, clock):
    # given seven wrong passwords for grace, each from another address and spelt another way
    answers = [
        _admin_login(client.__class__(REMOTE_ADDR=f"10.0.0.{n}"), WRONG, username=name)
        for n, name in enumerate(LOOK_ALIKES, start=1)
    ]

    # then only three were tried: the rest were refused
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429, 429, 429, 429]

    # and the look-alike is the same account indeed: after the window it logs grace in
    clock.value += 300
    assert _admin_login(client, STAFF_PASSWORD, username="ｇrace").status_code == 302
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_look_alike_emails_count_as_one_account_at_the_shop(client, login_limit):
    UserFactory(username="ada@example.com", email="ada@example.com", password="Ada-pass-3318")
    names = ("ada@example.com", "ＡＤＡ@example.com", "ada@ｅxample.com", "Ada@Example.Com ")

    answers = [
        client.__class__(REMOTE_ADDR=f"10.0.1.{n}").post(
            reverse("orders:login"), {"username": name, "password": WRONG}
        )
        for n, name in enumerate(names, start=1)
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]


def test_a_staff_account_has_one_allowance_of_guesses_for_both_logins(client, staff, login_limit):
    # given three wrong passwords for grace at the console
    for _ in range(3):
        assert _admin_login(client, WRONG).status_code == 200

    # when someone else, elsewhere, tries grace at the shop's login
    elsewhere = client.__class__(REMOTE_ADDR="10.9.9.9")
    refused = elsewhere.post(reverse("orders:login"), {"username": "grace", "password": WRONG})

    # then it is refused too, on the shop's own page
    assert refused.status_code == 429
    assert "Please wait a moment" in refused.content.decode()
    assert "Orderflow staff console" not in refused.content.decode()


def test_guesses_at_the_shop_login_count_against_the_staff_console_too(client, staff, login_limit):
    # given three wrong passwords for grace at the shop's login
    for _ in range(3):
        shop = client.post(reverse("orders:login"), {"username": "grace", "password": WRONG})
        assert shop.status_code == 200

    # when the right one is tried at the console, from another address
    refused = _admin_login(client.__class__(REMOTE_ADDR="10.9.9.9"), STAFF_PASSWORD)

    # then it is refused: one allowance per account, not one per login page
    assert refused.status_code == 429
    assert "Orderflow staff console" in refused.content.decode()
    assert "_auth_user_id" not in client.session


def test_one_address_trying_many_staff_usernames_is_refused_and_logged(
    client, staff, login_limit, caplog
):
    for username in ("root", "admin", "staff"):
        _admin_login(client, WRONG, username=username)

    with caplog.at_level(logging.WARNING, logger="orders.ratelimit"):
        refused = _admin_login(client, STAFF_PASSWORD)

    assert refused.status_code == 429
    [refusal] = _refusals(caplog)
    assert (refusal.limited_by, refusal.client) == ("client_ip", "127.0.0.1")
    assert not hasattr(refusal, "key_digest")


def test_a_staff_login_is_limited_per_username_from_any_address(client, staff, login_limit):
    for _ in range(3):
        _admin_login(client, WRONG)

    elsewhere = client.__class__(REMOTE_ADDR="10.9.9.9")

    assert _admin_login(elsewhere, STAFF_PASSWORD).status_code == 429


def test_the_right_staff_password_works_again_after_the_window(client, staff, login_limit, clock):
    for _ in range(3):
        _admin_login(client, WRONG)
    assert _admin_login(client, STAFF_PASSWORD).status_code == 429

    clock.value += 300  # the next window

    response = _admin_login(client, STAFF_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.session["_auth_user_id"] == str(staff.pk)


def test_opening_the_staff_login_page_is_never_limited(client, staff, login_limit):
    assert [client.get(ADMIN_LOGIN).status_code for _ in range(6)] == [200] * 6


def test_customers_failing_at_the_shop_never_lock_staff_out_of_the_console(
    client, staff, login_limit
):
    # given an address whose shop logins are refused (customers in the same office, say)
    for _ in range(4):
        client.post(reverse("orders:login"), {"username": "ada@example.com", "password": WRONG})
    refused = client.post(
        reverse("orders:login"), {"username": "ada@example.com", "password": WRONG}
    )
    assert refused.status_code == 429

    # then staff at that address still log in to the console
    assert _admin_login(client, STAFF_PASSWORD).status_code == 302


def test_with_redis_down_the_staff_login_is_refused_not_let_through(client, staff, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
        }
    }

    response = _admin_login(client, STAFF_PASSWORD)

    assert response.status_code == 503
    assert response["Retry-After"] == "60"
    assert "briefly unavailable" in response.content.decode()
    assert "Orderflow staff console" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_customer_login_lockouts_are_logged_too(client, login_limit, caplog):
    UserFactory(username="ada@example.com", email="ada@example.com", password="Ada-pass-3318")
    for _ in range(3):
        client.post(reverse("orders:login"), {"username": "ada@example.com", "password": WRONG})

    with caplog.at_level(logging.WARNING, logger="orders.ratelimit"):
        refused = client.post(
            reverse("orders:login"), {"username": "ada@example.com", "password": "Ada-pass-3318"}
        )

    assert refused.status_code == 429
    [refusal] = _refusals(caplog)
    assert (refusal.scope, refusal.limited_by, refusal.client, refusal.path) == (
        "login_account",
        "posted_username",
        "127.0.0.1",
        reverse("orders:login"),
    )
    line = JsonFormatter().format(refusal)
    assert "Ada-pass-3318" not in line and "ada@example.com" not in line

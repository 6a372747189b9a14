"""The fixed-window rate limiter (orders.ratelimit) on Django's cache."""

import pytest
from django.core.cache import cache
from django.http import HttpResponse
from django.test import RequestFactory

from orders.ratelimit import client_ip, hit, parse_rate, posted, ratelimit


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _view(request):
    return HttpResponse("ok")


def test_parse_rate():
    assert parse_rate("10/300") == (10, 300)
    for bad in ("10", "x/1", "0/10", "5/0", ""):
        with pytest.raises(ValueError, match="rate"):
            parse_rate(bad)


def test_hit_counts_within_a_window_and_resets_in_the_next():
    assert [hit("s", "a", limit=2, window=60, now=1000.0) for _ in range(2)] == [0, 0]
    assert hit("s", "a", limit=2, window=60, now=1001.0) == 19  # window 960..1020
    assert hit("s", "b", limit=2, window=60, now=1001.0) == 0  # another key
    assert hit("other", "a", limit=2, window=60, now=1001.0) == 0  # another scope
    assert hit("s", "a", limit=2, window=60, now=1021.0) == 0  # the next window


@pytest.mark.django_db
def test_the_decorator_answers_429_with_retry_after_over_the_limit():
    view = ratelimit("test", rate="2/60")(_view)
    factory = RequestFactory()
    assert [view(factory.post("/x")).status_code for _ in range(2)] == [200, 200]
    limited = view(factory.post("/x"))
    assert limited.status_code == 429
    assert 0 < int(limited["Retry-After"]) <= 60
    assert b"Please wait a moment" in limited.content
    # another client is not affected
    assert view(factory.post("/x", REMOTE_ADDR="10.0.0.2")).status_code == 200


def test_safe_methods_are_not_counted():
    view = ratelimit("test", rate="1/60")(_view)
    factory = RequestFactory()
    assert [view(factory.get("/x")).status_code for _ in range(5)] == [200] * 5


def test_posted_keys_are_case_insensitive_and_empty_keys_not_counted():
    view = ratelimit("test", rate="1/60", key=posted("username"))(_view)
    factory = RequestFactory()
    assert view(factory.post("/x", {"username": "Ada@Example.com"})).status_code == 200
    assert view(factory.post("/x", {"username": " ada@example.com"})).status_code != 200
    assert view(factory.post("/x", {})).status_code == 200
    assert view(factory.post("/x", {})).status_code == 200


def test_posted_keys_count_look_alikes_as_one_name():
    # full-width letters, capitals and the German sharp s as Django's forms and casefold read
    # them: NFKC-normalised ("ｇ" is "g"), case-folded ("ß" is "ss")
    request = RequestFactory().post("/x", {"username": " Ｇrace ", "email": "STRAẞE@Example.com"})
    assert posted("username")(request) == "grace"
    assert posted("email")(request) == "strasse@example.com"


def test_forwarded_for_counts_only_behind_a_trusted_proxy(settings):
    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1, 2.2.2.2"
    )
    settings.RATE_LIMIT_TRUST_FORWARDED_FOR = False
    assert client_ip(request) == "10.0.0.1"
    settings.RATE_LIMIT_TRUST_FORWARDED_FOR = True
    assert client_ip(request) == "2.2.2.2"  # the hop the proxy added, not what the client says

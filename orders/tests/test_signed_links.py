"""The signed links we email: each kind keeps its salt and payload (links already sent keep
working), a token of one kind is refused as another, and a refusal says expired or not
valid."""

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.core import signing

from orders import signed_links
from orders.exceptions import DomainError
from orders.signed_links import (
    CLAIM_LINK,
    DOWNLOAD_LINK,
    ORDER_LINK,
    PAY_LINK,
    LinkKind,
    LinkRefused,
)

SIGNED_AT = 1_700_000_000


@pytest.mark.parametrize(
    ("kind", "payload", "salt", "compress"),
    [
        (ORDER_LINK, {"order": 7, "token": "public"}, "orders.guest-link", False),
        (PAY_LINK, {"order": 7, "token": "public"}, "payments.pay-again", False),
        (CLAIM_LINK, {"user": 3, "customer": 9}, "orders.claim-orders", False),
        (DOWNLOAD_LINK, {"grant": 11}, "warehouse.download", True),
    ],
)
def test_each_kind_signs_exactly_as_the_links_already_emailed(kind, payload, salt, compress):
    with mock.patch("django.core.signing.time.time", return_value=SIGNED_AT):
        emailed = signing.dumps(payload, salt=salt, compress=compress)
        # the payload's fields in another order still give the same token
        assert signed_links.make(kind, dict(reversed(payload.items()))) == emailed
        assert signed_links.read(kind, emailed) == payload


def test_a_token_of_one_kind_is_refused_as_another():
    pay = signed_links.make(PAY_LINK, {"order": 7, "token": "public"})
    with pytest.raises(LinkRefused, match="order link is not valid"):
        signed_links.read(ORDER_LINK, pay)


def test_tampered_and_expired_links_say_which(settings):
    token = signed_links.make(ORDER_LINK, {"order": 7, "token": "public"})
    for bad in (token[:-3] + "abc", "garbage", ""):
        with pytest.raises(LinkRefused, match="not valid") as refused:
            signed_links.read(ORDER_LINK, bad)
        assert isinstance(refused.value, DomainError) and refused.value.http_status == 404
    settings.ORDER_LINK_MAX_AGE_DAYS = 1
    later = mock.patch(
        "django.core.signing.time.time",
        return_value=signing.time.time() + timedelta(days=2).total_seconds(),
    )
    with later, pytest.raises(LinkRefused, match="has expired"):
        signed_links.read(ORDER_LINK, token)


def test_a_kind_without_an_expired_message_says_not_valid():
    token = signed_links.make(CLAIM_LINK, {"user": 3, "customer": 9})
    later = mock.patch("django.core.signing.time.time", return_value=10**10)
    with later, pytest.raises(LinkRefused, match=re.escape(CLAIM_LINK.invalid)):
        signed_links.read(CLAIM_LINK, token)


def test_a_link_carries_exactly_its_fields():
    with pytest.raises(ValueError, match="carries"):
        signed_links.make(ORDER_LINK, {"order": 7})
    other_shape = LinkKind(salt=ORDER_LINK.salt, fields=("order",), invalid="x")
    with pytest.raises(LinkRefused, match=re.escape(ORDER_LINK.invalid)):
        signed_links.read(ORDER_LINK, signed_links.make(other_shape, {"order": 7}))

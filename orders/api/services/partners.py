"""Partners and their API keys (the console and `manage.py create_partner`)."""

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from orders.api.models import (
    Partner,
    PartnerAPIKey,
)
from orders.api.services.errors import InvalidRequest, NotFound
from orders.models import Customer
from payments.models import CreditAccount

logger = logging.getLogger(__name__)


def _billing_email(name: str) -> str:
    return f"{slugify(name)[:50] or 'partner'}@partners.invalid"


def partner_validate(*, name: str, throttle_rate: str, partner_id: int | None = None) -> str:
    """The partner's name (returned with its spaces tidied) and rate limit, as creating or
    changing a partner checks them; the staff console shows a refusal as form errors."""
    name = " ".join((name or "").split())
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Give the partner a name."]
    elif len(name) > 100:
        errors["name"] = ["Use at most 100 characters."]
    elif Partner.objects.filter(name__iexact=name).exclude(pk=partner_id).exists():
        errors["name"] = [f"A partner called {name!r} exists already."]
    try:
        Partner._meta.get_field("throttle_rate").run_validators(throttle_rate)
    except ValidationError as exc:
        errors["throttle_rate"] = exc.messages
    if errors:
        raise InvalidRequest("The partner is not valid.", fields=errors)
    return name


def partner_create(
    *,
    name: str,
    billing_email: str = "",
    terms_days: int = CreditAccount.Terms.NET_30,
    credit_limit: Decimal | None = None,
    throttle_rate: str = "",
) -> Partner:
    """A partner with its billing customer and invoice terms (net 30 unless told otherwise;
    Finance changes them under Payments → Credit accounts)."""
    errors: dict[str, list[str]] = {}
    try:
        name = partner_validate(name=name, throttle_rate=throttle_rate)
    except InvalidRequest as exc:
        errors.update(exc.fields)
        name = " ".join((name or "").split())
    billing_email = (billing_email or _billing_email(name)).strip().lower()
    try:
        validate_email(billing_email)
    except ValidationError:
        errors["billing_email"] = ["Enter a valid email address."]
    if terms_days not in CreditAccount.Terms.values:
        errors["terms_days"] = [f"Choose one of {', '.join(map(str, CreditAccount.Terms.values))}."]
    if credit_limit is not None and credit_limit < 0:
        errors["credit_limit"] = ["The credit limit cannot be negative."]
    if errors:
        raise InvalidRequest("The partner is not valid.", fields=errors)
    with transaction.atomic():
        customer, _ = Customer.objects.get_or_create(
            email=billing_email, defaults={"name": name, "company": name}
        )
        account_defaults: dict[str, Any] = {"terms_days": terms_days}
        if credit_limit is not None:
            account_defaults["credit_limit"] = credit_limit
        CreditAccount.objects.update_or_create(customer=customer, defaults=account_defaults)
        partner = Partner.objects.create(
            name=name, billing_customer=customer, throttle_rate=throttle_rate
        )
    logger.info("partner created", extra={"partner": partner.pk})
    return partner


def partner_update(
    *, partner_id: int, actor: Any, name: str, is_active: bool, throttle_rate: str
) -> Partner:
    """Rename a partner, switch it on or off (an inactive partner's keys are refused) or
    change its rate limit. Its billing customer and terms are Finance's (credit accounts)."""
    name = partner_validate(name=name, throttle_rate=throttle_rate, partner_id=partner_id)
    with transaction.atomic():
        partner = Partner.objects.select_for_update(no_key=True).filter(pk=partner_id).first()
        if partner is None:
            raise NotFound(f"There is no partner {partner_id}.")
        partner.name, partner.is_active, partner.throttle_rate = name, is_active, throttle_rate
        partner.save(update_fields=["name", "is_active", "throttle_rate"])
    logger.info("partner changed", extra={"partner": partner_id, "actor": str(actor)})
    return partner


def partner_api_key_create(
    *, partner: Partner, name: str = "", expires_at: datetime | None = None
) -> tuple[PartnerAPIKey, str]:
    """A new key for the partner. Returns the row and the key itself, which is shown once
    and never stored (only its prefix and hash are)."""
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidRequest(
            "The expiry date is in the past.", fields={"expiry_date": ["Choose a future date."]}
        )
    name = (name or "").strip()[:50] or f"{partner.name} key"[:50]
    api_key, key = PartnerAPIKey.objects.create_key(
        partner=partner, name=name, expiry_date=expires_at
    )
    logger.info("partner API key created", extra={"partner": partner.pk, "prefix": api_key.prefix})
    return api_key, key


def partner_api_key_revoke(*, api_key_id: str, actor: Any = None) -> PartnerAPIKey:
    """Revoke a key for good (the library refuses to un-revoke)."""
    with transaction.atomic():
        api_key = PartnerAPIKey.objects.select_for_update(no_key=True).get(pk=api_key_id)
        if not api_key.revoked:
            api_key.revoked = True
            api_key.save(update_fields=["revoked"])
            logger.info(
                "partner API key revoked",
                extra={"partner": api_key.partner_id, "prefix": api_key.prefix},
            )
    return api_key


def partner_api_key_update(
    *, api_key_id: str, actor: Any, name: str, expires_at: datetime | None
) -> PartnerAPIKey:
    """Rename a key or change when it expires. A revoked key stays as it was revoked (the
    record), and only these two columns are written, so a revocation that happened meanwhile
    is never undone."""
    name = (name or "").strip()
    if not name:
        raise InvalidRequest("Give the key a name.", fields={"name": ["Give the key a name."]})
    with transaction.atomic():
        api_key = PartnerAPIKey.objects.select_for_update(no_key=True).filter(pk=api_key_id).first()
        if api_key is None:
            raise NotFound(f"There is no API key {api_key_id}.")
        if api_key.revoked:
            raise InvalidRequest("The key is revoked; it cannot be changed any more.")
        api_key.name, api_key.expiry_date = name[:50], expires_at
        api_key.save(update_fields=["name", "expiry_date"])
    logger.info(
        "partner API key changed",
        extra={"partner": api_key.partner_id, "prefix": api_key.prefix, "actor": str(actor)},
    )
    return api_key

"""Partner API services: every write the API and its admin make goes through here
(DESIGN.md rules 2 and 5). Orders are placed and cancelled by the same order services every
other channel uses; this module adds partners, keys, idempotency and webhook endpoints."""

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from orders.api.models import (
    WEBHOOK_EVENTS,
    IdempotencyRecord,
    Partner,
    PartnerAPIKey,
    WebhookEndpoint,
)
from orders.api.webhook_urls import validate_webhook_url
from orders.exceptions import DomainError, TransitionRefused
from orders.models import Channel, Customer, Order, OrderStatus
from orders.services import AddressInput, LineInput, order_cancel, order_place
from payments.models import CreditAccount, PaymentMethod
from payments.providers.base import CardDetails, InvalidPaymentDetails
from payments.services import PaymentInput, payment_validate
from warehouse.models import ShippingMethod

logger = logging.getLogger(__name__)

MAX_WEBHOOK_ENDPOINTS = 20
MAX_REASON_LENGTH = 1000
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,128}$")  # printable ASCII, no spaces


class InvalidRequest(DomainError):
    code = "invalid"
    http_status = 400


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class IdempotencyKeyReused(DomainError):
    """The key was used before with a different request."""

    code = "idempotency_key_reused"
    http_status = 422


class IdempotencyKeyInUse(DomainError):
    """The first request with this key has not finished (only seen if it never committed)."""

    code = "idempotency_key_in_use"
    http_status = 409


class LimitReached(DomainError):
    code = "limit_reached"
    http_status = 422


# --- partners and keys --------------------------------------------------------------------


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


# --- orders -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdempotentResponse:
    status: int
    body: dict[str, Any]
    replayed: bool
    order_number: str | None = None


def validate_idempotency_key(key: str | None) -> str:
    key = (key or "").strip()
    if not IDEMPOTENCY_KEY_PATTERN.match(key):
        raise InvalidRequest(
            "Send an Idempotency-Key header: 1 to 128 printable characters, unique per order.",
            fields={"Idempotency-Key": ["1 to 128 printable ASCII characters, no spaces."]},
        )
    return key


def _payment_input(method: str, token: str) -> PaymentInput:
    if method == PaymentMethod.INVOICE:
        return PaymentInput(method=PaymentMethod.INVOICE)
    if method == PaymentMethod.CARD and token:
        payment = PaymentInput(method=PaymentMethod.CARD, card=CardDetails(token=token))
        try:
            payment_validate(payment)
        except InvalidPaymentDetails as exc:
            raise _payment_error(exc) from exc
        return payment
    raise InvalidPaymentDetails(
        "Pay by card (with a token) or on invoice terms.",
        fields={"payment.token": ["A card payment needs a token."]}
        if method == PaymentMethod.CARD
        else {"payment.method": ["Choose card or invoice."]},
    )


def _payment_error(exc: InvalidPaymentDetails) -> InvalidPaymentDetails:
    """The payment service names fields as a form would; the API nests them under payment."""
    fields = {
        key if key.startswith("payment") else f"payment.{key}": messages
        for key, messages in exc.fields.items()
    }
    return InvalidPaymentDetails(exc.message, fields=fields)


def _cheapest_shipping_method() -> str | None:
    return (
        ShippingMethod.objects.filter(is_active=True)
        .order_by("price", "code")
        .values_list("code", flat=True)
        .first()
    )


def partner_order_place(
    *,
    partner: Partner,
    idempotency_key: str,
    request_hash: str,
    method: str,
    path: str,
    lines: Sequence[LineInput],
    email: str,
    customer_name: str = "",
    phone: str = "",
    shipping_address: AddressInput | None = None,
    billing_address: AddressInput | None = None,
    shipping_method: str | None = None,
    payment_method: str = PaymentMethod.INVOICE,
    card_token: str = "",
    external_reference: str = "",
    customer_note: str = "",
    render: Callable[[Order], dict[str, Any]],
) -> IdempotentResponse:
    """Place a partner's order once per Idempotency-Key.

    The key is claimed by inserting its record in the same transaction as the order, so a
    second request with the key waits for the first and then replays its answer (or gets 422
    when its body differs). Only a successful answer is kept: a refused request changes
    nothing, not even the key, so it can be corrected and sent again."""
    idempotency_key = validate_idempotency_key(idempotency_key)
    payment = _payment_input(payment_method, card_token)
    with transaction.atomic():
        record, claimed = IdempotencyRecord.objects.get_or_create(
            partner=partner,
            key=idempotency_key,
            defaults={"request_hash": request_hash, "method": method, "path": path[:255]},
        )
        if not claimed:
            return _replay(record, request_hash)
        try:
            result = order_place(
                channel=Channel.API,
                partner=partner,
                idempotency_key=idempotency_key,
                external_reference=external_reference,
                lines=lines,
                email=email,
                customer_name=customer_name,
                phone=phone,
                shipping_address=shipping_address,
                billing_address=billing_address,
                shipping_method=shipping_method or _cheapest_shipping_method(),
                customer_note=customer_note,
                actor=partner.actor_label,
                payment=payment,
                bill_to=partner.billing_customer
                if payment.method == PaymentMethod.INVOICE
                else None,
            )
        except InvalidPaymentDetails as exc:
            raise _payment_error(exc) from exc
        order = result.order
        record.response_status = 201 if result.created else 200
        record.response_body = render(order)
        record.order = order
        record.save(update_fields=["response_status", "response_body", "order"])
    if result.created:
        logger.info(
            "partner order placed",
            extra={"order": order.number, "partner": partner.pk, "key": idempotency_key},
        )
    return IdempotentResponse(
        status=record.response_status,
        body=record.response_body,
        replayed=not result.created,
        order_number=order.number,
    )


def _replay(record: IdempotencyRecord, request_hash: str) -> IdempotentResponse:
    if record.request_hash != request_hash:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was used for a different request. Use a new key for a new order.",
            fields={"Idempotency-Key": ["Already used with a different body."]},
        )
    if record.response_status is None:
        raise IdempotencyKeyInUse(
            "A request with this Idempotency-Key is still being processed; try again shortly."
        )
    number = record.response_body.get("number") if isinstance(record.response_body, dict) else None
    return IdempotentResponse(
        status=record.response_status,
        body=record.response_body,
        replayed=True,
        order_number=number,
    )


def partner_order_cancel(*, partner: Partner, number: str, reason: str = "") -> Order:
    """Cancel one of the partner's orders through the order service. Cancelling an order
    that is already cancelled changes nothing and succeeds, so a retried call is safe."""
    reason = " ".join((reason or "").split())
    if len(reason) > MAX_REASON_LENGTH:
        raise InvalidRequest(
            "The reason is too long.",
            fields={"reason": [f"Use at most {MAX_REASON_LENGTH} characters."]},
        )
    order_id = (
        Order.objects.filter(partner=partner, number=number)
        .exclude(status=OrderStatus.DRAFT)
        .values_list("pk", flat=True)
        .first()
    )
    if order_id is None:
        raise NotFound(f"There is no order {number}.")
    try:
        return order_cancel(
            order_id=order_id,
            actor=partner.actor_label,
            reason=reason or f"Cancelled by {partner.name}.",
        )
    except TransitionRefused:
        order = Order.objects.get(pk=order_id)
        if order.status == OrderStatus.CANCELLED:
            return order
        raise


# --- webhook endpoints --------------------------------------------------------------------


def _clean_events(events: Sequence[str]) -> list[str]:
    if not isinstance(events, list | tuple) or not events:
        raise InvalidRequest(
            "Choose at least one event.", fields={"events": ["Choose at least one."]}
        )
    unknown = sorted({str(event) for event in events} - set(WEBHOOK_EVENTS))
    if unknown:
        raise InvalidRequest(
            "Unknown events: " + ", ".join(unknown) + ".",
            fields={"events": [f"{event!r} is not an event." for event in unknown]},
        )
    return sorted(set(events))


def _clean_url(url: str) -> str:
    try:
        validate_webhook_url(url)
    except ValidationError as exc:
        raise InvalidRequest(
            "The URL cannot receive webhooks.", fields={"url": exc.messages}
        ) from exc
    return url


def _check_endpoint_limit(*, partner_id: int) -> None:
    """Room for one more active endpoint."""
    if (
        WebhookEndpoint.objects.filter(partner_id=partner_id, is_active=True).count()
        >= MAX_WEBHOOK_ENDPOINTS
    ):
        raise LimitReached(
            f"A partner can have at most {MAX_WEBHOOK_ENDPOINTS} webhook endpoints; "
            "delete one first."
        )


def webhook_endpoint_validate(
    *, partner: Partner, url: str, events: Sequence[str], activating: bool
) -> list[str]:
    """What creating or changing an endpoint checks, without writing (`activating`: a new
    active endpoint, or one switched back on, which counts against the partner's limit). The
    staff console shows a refusal as form errors; the write services check the limit again
    under the partner's lock. Returns the events as they are stored."""
    _clean_url(url)
    events = _clean_events(events)
    if activating:
        _check_endpoint_limit(partner_id=partner.pk)
    return events


def webhook_endpoint_create(
    *,
    partner: Partner,
    url: str,
    events: Sequence[str],
    description: str = "",
    is_active: bool = True,
) -> WebhookEndpoint:
    """Register an endpoint. An inactive one (staff may prepare it switched off) does not
    count against the partner's limit until it is switched on."""
    _clean_url(url)
    events = _clean_events(events)
    with transaction.atomic():
        # Lock the partner so two requests at once cannot pass the limit together.
        Partner.objects.select_for_update(no_key=True).filter(pk=partner.pk).first()
        if is_active:
            _check_endpoint_limit(partner_id=partner.pk)
        endpoint = WebhookEndpoint.objects.create(
            partner=partner,
            url=url,
            events=events,
            description=(description or "").strip(),
            is_active=is_active,
        )
    logger.info("webhook endpoint created", extra={"partner": partner.pk, "endpoint": endpoint.pk})
    return endpoint


def webhook_endpoint_update(
    *,
    endpoint_id: int,
    actor: Any,
    url: str,
    events: Sequence[str],
    description: str,
    is_active: bool,
) -> WebhookEndpoint:
    """Change where an endpoint sends and what, or switch it on or off. It stays with its
    partner: the partner holds a copy of its signing secret, and its delivery log is that
    partner's. Switching it on counts against the partner's limit."""
    _clean_url(url)
    events = _clean_events(events)
    with transaction.atomic():
        partner_id = (
            WebhookEndpoint.objects.filter(pk=endpoint_id).values_list("partner_id", flat=True)
        ).first()
        if partner_id is None:
            raise NotFound(f"There is no webhook endpoint {endpoint_id}.")
        # The partner first, as creating does, so creations and re-activations for the same
        # partner wait for each other and cannot pass the limit together.
        Partner.objects.select_for_update(no_key=True).filter(pk=partner_id).first()
        endpoint = WebhookEndpoint.objects.select_for_update(no_key=True).get(pk=endpoint_id)
        if is_active and not endpoint.is_active:
            _check_endpoint_limit(partner_id=partner_id)
        endpoint.url, endpoint.events = url, events
        endpoint.description = (description or "").strip()
        endpoint.is_active = is_active
        endpoint.save(update_fields=["url", "events", "description", "is_active", "updated_at"])
    logger.info(
        "webhook endpoint changed",
        extra={"partner": partner_id, "endpoint": endpoint_id, "actor": str(actor)},
    )
    return endpoint


def webhook_endpoint_disable(*, partner: Partner, endpoint_id: int) -> None:
    """Stop sending to the endpoint. Its delivery log stays for the staff console; what was
    still pending for it is not sent."""
    updated = WebhookEndpoint.objects.filter(
        partner=partner, pk=endpoint_id, is_active=True
    ).update(is_active=False, updated_at=timezone.now())
    if not updated:
        raise NotFound(f"There is no webhook endpoint {endpoint_id}.")
    logger.info("webhook endpoint disabled", extra={"partner": partner.pk, "endpoint": endpoint_id})


# --- idempotency records ------------------------------------------------------------------


def idempotency_records_purge(*, older_than: datetime) -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=older_than).delete()
    return deleted

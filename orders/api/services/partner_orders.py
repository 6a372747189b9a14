"""Orders placed and cancelled by partners, with idempotency keys: the same order services
every other channel uses, plus the replay of a repeated request."""

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from orders.api.fields import blank_as_null
from orders.api.models import (
    IdempotencyRecord,
    Partner,
)
from orders.api.services.errors import (
    IDEMPOTENCY_KEY_PATTERN,
    MAX_REASON_LENGTH,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidRequest,
    NotFound,
)
from orders.exceptions import TransitionRefused
from orders.models import Channel, Order, OrderStatus
from orders.services import (
    AddressInput,
    LineInput,
    order_cancel,
    order_place,
    shipping_methods_serving,
)
from payments.models import PaymentMethod
from payments.providers.base import CardDetails, InvalidPaymentDetails
from payments.services import PaymentInput, payment_validate
from warehouse.models import ShippingMethod

logger = logging.getLogger(__name__)


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


def _cheapest_shipping_method(address: AddressInput | None) -> str | None:
    """The default when a partner names no method: the cheapest whose zone takes the shipping
    address (None when none does: placing then says so on `shipping_method`)."""
    if address is None:
        return (
            ShippingMethod.objects.filter(is_active=True)
            .order_by("price", "code")
            .values_list("code", flat=True)
            .first()
        )
    serving = shipping_methods_serving(country=address.country, postal_code=address.postal_code)
    return serving[0].code if serving else None


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
                shipping_method=shipping_method or _cheapest_shipping_method(shipping_address),
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
        # As answers are given now: a body stored before they said null for "no value" too.
        body=blank_as_null(record.response_body),
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


def idempotency_records_purge(*, older_than: datetime) -> int:
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=older_than).delete()
    return deleted

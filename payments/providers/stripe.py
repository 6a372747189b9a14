"""Stripe: PaymentIntents with manual capture, through the official library.

Cards never reach this server. Shop customers pay on Stripe Checkout's own page (a Checkout
Session in payment mode, manual capture): we send them there and Stripe sends them back, and
tells us by webhook. Partners turn cards into a payment method id (`pm_...`) or a token
(`tok_...`), which is what we pass on. Every call that changes something carries our
idempotency key, so a retried call is the same call at Stripe.
"""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import stripe
from django.conf import settings

from orders.json_bodies import JsonBodyRefused, load_json_object
from orders.webhook_signing import SignatureInvalid, verify
from payments.providers.base import (
    PROVIDER_CONNECT_TIMEOUT_SECONDS,
    CardDetails,
    HostedCheckoutState,
    InvalidPaymentDetails,
    PreparedCard,
    ProviderResult,
    ProviderUnavailable,
    WebhookEvent,
    WebhookRejected,
    minor_units,
)

WEBHOOK_TOLERANCE_SECONDS = 300


def _client() -> stripe.StripeClient:
    if not settings.STRIPE_SECRET_KEY:
        raise ProviderUnavailable("STRIPE_SECRET_KEY is not set.")
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses=base,
        max_network_retries=0,
        http_client=stripe.RequestsClient(
            timeout=(PROVIDER_CONNECT_TIMEOUT_SECONDS, settings.PAYMENT_PROVIDER_TIMEOUT_SECONDS)
        ),
    )


def _call(func: Any, *args: Any, **kwargs: Any) -> ProviderResult | Any:
    try:
        return func(*args, **kwargs)
    except stripe.CardError as exc:
        error = exc.error
        code = getattr(error, "decline_code", None) or getattr(error, "code", None) or "declined"
        return ProviderResult(
            success=False, code=str(code), message=exc.user_message or "The card was declined."
        )
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise ProviderUnavailable(str(exc)) from exc
    except stripe.IdempotencyError as exc:
        # The same key is still being worked on at Stripe (a first call slower than its lease):
        # ask again later, when it has an answer.
        raise ProviderUnavailable(f"Still in progress at Stripe: {exc}") from exc
    except stripe.APIError as exc:  # 5xx at Stripe
        raise ProviderUnavailable(str(exc)) from exc
    except stripe.InvalidRequestError as exc:
        return ProviderResult(
            success=False,
            code=str(exc.code or "invalid_request"),
            message=str(exc.user_message or exc),
        )
    except stripe.StripeError as exc:
        # A key Stripe does not take (authentication, permission) or an answer the library
        # cannot read: nothing the customer can change; the call is retried later.
        raise ProviderUnavailable(f"{type(exc).__name__}: {exc}") from exc


def _short_text(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 128


def checkout_state(session: Mapping[str, Any]) -> HostedCheckoutState | None:
    """A Checkout Session (from the API, or from a verified event's `data.object`) as we read
    it; None when it is not one (no `cs_` id, or an unknown status)."""
    session_id = session.get("id")
    status = session.get("status")
    if not (_short_text(session_id) and str(session_id).startswith("cs_")):
        return None
    if status not in ("open", "complete", "expired"):
        return None
    intent = session.get("payment_intent")
    if isinstance(intent, Mapping):  # expanded
        intent = intent.get("id")
    amount = session.get("amount_total")
    return HostedCheckoutState(
        session_id=str(session_id),
        status=str(status),
        url=str(session.get("url") or ""),
        payment_intent=str(intent) if _short_text(intent) else "",
        amount_total=amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
        currency=str(session.get("currency") or ""),
        client_reference_id=str(session.get("client_reference_id") or ""),
    )


def _session_state(result: Any) -> HostedCheckoutState:
    state = checkout_state(result.to_dict())
    if state is None:
        raise ProviderUnavailable("Stripe answered with something that is not a Checkout Session.")
    return state


class StripeGateway:
    name = "stripe"

    def prepare_card(self, details: CardDetails) -> PreparedCard:
        token = details.token.strip()
        if not token.startswith(("pm_", "tok_")):
            raise InvalidPaymentDetails(
                "Send a Stripe payment method (pm_...) or token (tok_...), never a card number.",
                fields={"token": ["A Stripe payment method id or token is required."]},
            )
        return PreparedCard(token=token, brand="", last4="")

    def authorize(
        self, *, token: str, amount: Decimal, currency: str, idempotency_key: str, metadata: dict
    ) -> ProviderResult:
        params: dict[str, Any] = {
            "amount": minor_units(amount),
            "currency": currency.lower(),
            "capture_method": "manual",
            "confirm": True,
            "metadata": {key: str(value) for key, value in metadata.items()},
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
        if token.startswith("tok_"):
            params["payment_method_data"] = {"type": "card", "card": {"token": token}}
        else:
            params["payment_method"] = token
        result = _call(
            _client().v1.payment_intents.create,
            params=params,
            options={"idempotency_key": idempotency_key},
        )
        if isinstance(result, ProviderResult):
            return result
        if result.status == "requires_capture":
            return ProviderResult(success=True, reference=result.id)
        return ProviderResult(
            success=False,
            reference=result.id,
            code=f"status_{result.status}",
            message="The card needs a step we cannot take here (for example 3-D Secure).",
        )

    def capture(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> ProviderResult:
        result = _call(
            _client().v1.payment_intents.capture,
            reference,
            params={"amount_to_capture": minor_units(amount)},
            options={"idempotency_key": idempotency_key},
        )
        if isinstance(result, ProviderResult):
            return result
        return ProviderResult(
            success=result.status == "succeeded",
            reference=result.id,
            code="" if result.status == "succeeded" else f"status_{result.status}",
        )

    def void(self, *, reference: str, idempotency_key: str) -> ProviderResult:
        result = _call(
            _client().v1.payment_intents.cancel,
            reference,
            options={"idempotency_key": idempotency_key},
        )
        if isinstance(result, ProviderResult):
            return result
        return ProviderResult(success=result.status == "canceled", reference=result.id)

    def refund(
        self, *, reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> ProviderResult:
        result = _call(
            _client().v1.refunds.create,
            params={"payment_intent": reference, "amount": minor_units(amount)},
            options={"idempotency_key": idempotency_key},
        )
        if isinstance(result, ProviderResult):
            return result
        return ProviderResult(
            success=result.status in ("succeeded", "pending"), reference=result.id
        )

    # --- Stripe Checkout: the hosted payment page ---

    def checkout_open(
        self,
        *,
        amount: Decimal,
        currency: str,
        description: str,
        customer_email: str,
        client_reference_id: str,
        metadata: dict[str, str],
        success_url: str,
        cancel_url: str,
        expires_at: datetime,
        idempotency_key: str,
    ) -> HostedCheckoutState:
        """Open a payment page for `amount`, cards only, authorised and not captured (our
        review decides, then we capture). `success_url` carries {CHECKOUT_SESSION_ID}, which
        Stripe fills in. Raises ProviderUnavailable, or InvalidPaymentDetails when Stripe
        refuses the request."""
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": currency.lower(),
                        "unit_amount": minor_units(amount),
                        "product_data": {"name": description},
                    },
                }
            ],
            # Cards answer at once: a complete session is an authorised card.
            "payment_method_types": ["card"],
            "payment_intent_data": {
                "capture_method": "manual",
                "description": description,
                "metadata": metadata,
            },
            "client_reference_id": client_reference_id,
            "metadata": metadata,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "expires_at": int(expires_at.timestamp()),
        }
        if customer_email:
            params["customer_email"] = customer_email
        result = _call(
            _client().v1.checkout.sessions.create,
            params=params,
            options={"idempotency_key": idempotency_key},
        )
        if isinstance(result, ProviderResult):
            raise InvalidPaymentDetails(f"Stripe refused the payment page: {result.message}")
        return _session_state(result)

    def checkout_retrieve(self, session_id: str) -> HostedCheckoutState | None:
        """The session as Stripe has it now; None when Stripe has no such session."""
        result = _call(_client().v1.checkout.sessions.retrieve, session_id)
        if isinstance(result, ProviderResult):
            return None
        return _session_state(result)

    def checkout_expire(self, session_id: str, *, idempotency_key: str) -> HostedCheckoutState:
        """Close an open payment page, so that nobody can pay on it any more. Stripe refuses
        for a session no longer open: then its state as it is."""
        result = _call(
            _client().v1.checkout.sessions.expire,
            session_id,
            options={"idempotency_key": idempotency_key},
        )
        if isinstance(result, ProviderResult):
            current = self.checkout_retrieve(session_id)
            if current is None:
                raise ProviderUnavailable(f"Stripe knows no session {session_id}.")
            return current
        return _session_state(result)

    def parse_webhook(self, *, payload: bytes, headers: dict[str, str]) -> WebhookEvent:
        """A verified event. Stripe-Signature is our own webhook scheme (t, v1 = HMAC-SHA256
        of "<t>.<body>"), so it is read by the same strict parser as the carriers' headers."""
        try:
            verify(
                payload,
                headers.get("Stripe-Signature", ""),
                settings.STRIPE_WEBHOOK_SECRET,
                WEBHOOK_TOLERANCE_SECONDS,
            )
            event = load_json_object(payload)
        except SignatureInvalid as exc:
            raise WebhookRejected(str(exc), code="bad_signature") from exc
        except JsonBodyRefused as exc:
            raise WebhookRejected(exc.message, code=exc.code) from exc
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            obj = {}
        reference = obj.get("payment_intent") or obj.get("id") or ""
        if not all(_short_text(event.get(key)) for key in ("id", "type")):
            raise WebhookRejected("The event has no id or type (text of 1 to 128 characters).")
        return WebhookEvent(
            event_id=event["id"], type=event["type"], reference=str(reference), payload=event
        )

"""The one webhook signature scheme we use both ways (carriers to us, us to partners):
header `X-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`.
A signature older than the tolerance is refused, so a captured request cannot be replayed
later."""

import hashlib
import hmac
import time

DEFAULT_TOLERANCE_SECONDS = 300


class SignatureInvalid(Exception):
    pass


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(
    body: bytes, header: str, secret: str, tolerance: int = DEFAULT_TOLERANCE_SECONDS
) -> int:
    """The signed timestamp, or SignatureInvalid saying what is wrong."""
    if not secret:
        raise SignatureInvalid("No signing secret is configured.")
    parts = dict(item.split("=", 1) for item in (header or "").split(",") if "=" in item)
    try:
        timestamp = int(parts["t"])
        received = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise SignatureInvalid("The X-Signature header is missing or malformed.") from exc
    if abs(time.time() - timestamp) > tolerance:
        raise SignatureInvalid("The signature is too old (or from the future).")
    expected = sign(body, secret, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, received):
        raise SignatureInvalid("The signature does not match.")
    return timestamp

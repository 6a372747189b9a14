"""The one webhook signature scheme we use both ways (carriers to us, us to partners), which is
also Stripe's (`Stripe-Signature`): header `t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>"
with the secret>`. A signature older (or newer) than the tolerance is refused, so a captured
request cannot be replayed later.

The header comes from anyone on the internet, so it is read strictly before any of it is used:
ASCII only and short, `t` given once as at most 12 ASCII digits, each `v1` 64 hex
digits. Several `v1` values are allowed (a sender rolling its secret signs with both); other
schemes (`v0`) are ignored. Anything else is SignatureInvalid, never an exception of Python's.
"""

import hashlib
import hmac
import re
import time
from dataclasses import dataclass

DEFAULT_TOLERANCE_SECONDS = 300
MAX_HEADER_LENGTH = 1024
MAX_SIGNATURES = 5
TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}", re.ASCII)
MALFORMED = "The signature header is missing or malformed."


class SignatureInvalid(Exception):
    pass


@dataclass(frozen=True)
class SignatureHeader:
    timestamp: int
    signatures: tuple[str, ...]


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={_digest(body, secret, timestamp)}"


def _digest(body: bytes, secret: str, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def parse_header(header: str) -> SignatureHeader:
    """The timestamp and the v1 signatures of a header, or SignatureInvalid."""
    if not header or len(header) > MAX_HEADER_LENGTH or not header.isascii():
        raise SignatureInvalid(MALFORMED)
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise SignatureInvalid(MALFORMED)
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not TIMESTAMP.fullmatch(timestamps[0]):
        raise SignatureInvalid(MALFORMED)
    if not signatures or len(signatures) > MAX_SIGNATURES:
        raise SignatureInvalid(MALFORMED)
    if not all(HEX_DIGEST.fullmatch(signature) for signature in signatures):
        raise SignatureInvalid(MALFORMED)
    return SignatureHeader(timestamp=int(timestamps[0]), signatures=tuple(signatures))


def verify(
    body: bytes, header: str, secret: str, tolerance: int = DEFAULT_TOLERANCE_SECONDS
) -> int:
    """The signed timestamp, or SignatureInvalid saying what is wrong."""
    if not secret:
        raise SignatureInvalid("No signing secret is configured.")
    parsed = parse_header(header)
    if abs(time.time() - parsed.timestamp) > tolerance:
        raise SignatureInvalid("The signature is too old (or from the future).")
    expected = _digest(body, secret, parsed.timestamp).encode()
    # Every candidate is compared, so the time taken says nothing about which one was close.
    matches = [
        hmac.compare_digest(expected, signature.lower().encode()) for signature in parsed.signatures
    ]
    if not any(matches):
        raise SignatureInvalid("The signature does not match.")
    return parsed.timestamp

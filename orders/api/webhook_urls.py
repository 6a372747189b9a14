"""Which webhook URLs we send to. In production only https:// to public addresses, so a
partner cannot point us at our own network (SSRF); PARTNER_WEBHOOK_ALLOW_PRIVATE (default:
DEBUG) lifts that for development and tests, which receive on 127.0.0.1."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

LOCAL_NAMES = {"localhost", "localhost.localdomain"}


def private_hosts_allowed() -> bool:
    allowed = getattr(settings, "PARTNER_WEBHOOK_ALLOW_PRIVATE", None)
    return settings.DEBUG if allowed is None else bool(allowed)


def _is_public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def validate_webhook_url(url: str) -> None:
    """The URL's form: http(s), a host, and (unless allowed) https and no local host."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")  # "internal." is "internal"
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise ValidationError("Enter a valid URL.") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise ValidationError("Webhook URLs must start with https:// and name a host.")
    if parts.username or parts.password:
        raise ValidationError("Webhook URLs must not carry a user name or password.")
    if private_hosts_allowed():
        return
    if parts.scheme != "https":
        raise ValidationError("Webhook URLs must use https://.")
    if host in LOCAL_NAMES or host.endswith((".localhost", ".local", ".internal")):
        raise ValidationError("Webhook URLs must point at a public host.")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return  # a name: its addresses are checked again when we send
    if not _is_public(host):
        raise ValidationError("Webhook URLs must point at a public address.")


def refused_destination(url: str) -> str:
    """Why we will not send to this URL now ("" when we may). Run just before each send, since
    a name can come to resolve to a private address after it was registered."""
    try:
        validate_webhook_url(url)
    except ValidationError as exc:
        return " ".join(exc.messages)
    if private_hosts_allowed():
        return ""
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        return f"The host could not be resolved: {exc}"
    private = sorted({info[4][0] for info in infos if not _is_public(info[4][0])})
    if private:
        return "The host resolves to a private address: " + ", ".join(private)
    return ""

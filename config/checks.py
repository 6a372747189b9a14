"""Deployment checks on the site's own address (registered in orders/apps.py)."""

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.http.request import validate_host


def check_site_url(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A deployment check (`manage.py check --deploy`): SITE_URL, the start of every link in an
    email (order pages, pay-again, downloads, password resets, account claims), is the shop's
    public https address, one the site answers to."""
    site_url = settings.SITE_URL
    if not site_url:
        return [
            Error(
                "SITE_URL is not set: links in emails would lead nowhere.",
                hint="Set SITE_URL to the shop's public address, https://shop.example.com.",
                obj="settings.SITE_URL",
                id="config.E001",
            )
        ]
    parts = urlsplit(site_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            Error(
                f"SITE_URL is {site_url!r}, which is not an http(s) address.",
                hint="Set SITE_URL to the shop's public address, https://shop.example.com.",
                obj="settings.SITE_URL",
                id="config.E002",
            )
        ]
    messages: list[CheckMessage] = []
    if parts.scheme != "https":
        messages.append(
            Warning(
                f"SITE_URL is {site_url!r}: links in emails would not use https.",
                hint="Use the https:// address the shop is served on.",
                obj="settings.SITE_URL",
                id="config.W001",
            )
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6
    if not validate_host(host, settings.ALLOWED_HOSTS):
        messages.append(
            Warning(
                f"SITE_URL's host {parts.hostname!r} is not in ALLOWED_HOSTS: the site would "
                "refuse the links in its own emails.",
                hint="Set SITE_URL to the shop's public address, and list its host in "
                "ALLOWED_HOSTS.",
                obj="settings.SITE_URL",
                id="config.W002",
            )
        )
    return messages

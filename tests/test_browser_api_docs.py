"""The partner API's docs (/api/docs/) in a real browser that can reach nothing but our own
server: Redoc, from our static files, renders the API (Playwright driving Debian's chromium)."""

import os

import pytest
from django.db import connections

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Redoc's side menu shows "API docs by Redocly" with a logo from their CDN; offline the
# image hides itself (its onError), and nothing else is asked of the internet.
REDOCLY_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium); CI has it",
    ),
]


def test_the_api_docs_render_without_the_internet(live_server, monkeypatch):
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import expect, sync_playwright

    base = live_server.url
    outside: list[str] = []

    def only_our_server(route):
        if route.request.url.startswith(base + "/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.route("**/*", only_our_server)

            page.goto(base + "/api/docs/")

            # Redoc read the schema and drew the API: its title, and an operation
            expect(page.get_by_role("heading", level=1)).to_contain_text("Orderflow partner API")
            expect(page.get_by_text("/api/v1/orders/").first).to_be_attached()
        finally:
            browser.close()
            connections.close_all()

    assert set(outside) <= {REDOCLY_LOGO}, outside

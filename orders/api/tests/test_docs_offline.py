"""/api/docs/ works without the internet: Redoc comes from our own static files at the
version drf-spectacular-sidecar pins (requirements.lock), and no web fonts are loaded."""

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

pytestmark = pytest.mark.django_db


def _docs_page() -> str:
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_docs_page_references_nothing_outside_the_site():
    html = _docs_page()

    assert re.findall(r"(?:https?:)?//[\w.-]+", html) == []  # no CDN, no web fonts
    scripts = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    links = re.findall(r'<link[^>]*\bhref="([^"]+)"', html)
    assert scripts == [
        settings.STATIC_URL + "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
    ]
    assert links == []


def test_the_redoc_script_the_page_names_is_one_of_our_static_files():
    [script] = re.findall(r'<script[^>]*\bsrc="([^"]+)"', _docs_page())
    static_path = script.removeprefix(settings.STATIC_URL)

    # collectstatic finds it (production serves the collected copy) ...
    found = finders.find(static_path)
    assert found is not None
    # ... and the site serves it: the whole Redoc bundle, not a loader for a CDN copy
    served = Client().get(script)
    assert served.status_code == 200
    body = b"".join(served.streaming_content) if served.streaming else served.content
    assert len(body) > 500_000
    assert b"Redoc" in body
    assert b"cdn.jsdelivr.net" not in body


def test_the_schema_the_docs_read_is_served_by_the_site():
    html = _docs_page()
    [spec_url] = re.findall(r'spec-url="([^"]+)"', html)

    schema = Client().get(spec_url, HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "Orderflow partner API"

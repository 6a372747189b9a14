"""Partners, keys and webhooks in the staff console, driven through HTTP."""

import re

import pytest
from django.contrib.messages import constants as message_levels
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from orders.api import services
from orders.api.models import Partner, PartnerAPIKey, WebhookDelivery, WebhookEndpoint
from orders.api.tests.conftest import ORDERS_URL
from orders.permissions import CUSTOMER_SERVICE, MANAGERS, WAREHOUSE
from orders.tests.factories import staff_user
from payments.models import CreditAccount

pytestmark = pytest.mark.django_db
KEY = re.compile(r"The API key for .+? is: (?P<key>\S+) ")


def _login(group: str) -> Client:
    user = staff_user(group)
    client = Client()
    client.force_login(user)
    return client


def _messages(response) -> list[tuple[int, str]]:
    return [(m.level, str(m)) for m in response.context["messages"]]


def test_a_manager_creates_a_partner_on_net_30(db):
    client = _login(MANAGERS)

    response = client.post(
        reverse("admin:partner_api_partner_add"),
        {
            "name": "Acme Marketplace",
            "billing_email": "ap@acme.example",
            "terms_days": "30",
            "credit_limit": "",
            "throttle_rate": "",
        },
        follow=True,
    )

    assert response.status_code == 200
    partner = Partner.objects.get(name="Acme Marketplace")
    assert partner.billing_customer.email == "ap@acme.example"
    account = CreditAccount.objects.get(customer=partner.billing_customer)
    assert (account.terms_days, account.is_active) == (30, True)
    assert any("net 30" in text for _level, text in _messages(response))
    # the change page shows the terms with a link to change them (Finance's credit account)
    page = client.get(reverse("admin:partner_api_partner_change", args=[partner.pk]))
    assert (
        reverse("admin:payments_creditaccount_change", args=[account.pk]) in page.content.decode()
    )


def test_a_bad_rate_or_a_taken_name_is_a_form_error(db):
    client = _login(MANAGERS)
    client.post(
        reverse("admin:partner_api_partner_add"),
        {"name": "Acme", "terms_days": "30", "throttle_rate": ""},
    )
    response = client.post(
        reverse("admin:partner_api_partner_add"),
        {"name": "Acme", "terms_days": "30", "throttle_rate": "lots"},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"name", "throttle_rate"}
    assert Partner.objects.count() == 1


def test_a_new_key_is_shown_once_and_works(catalogue):
    client = _login(MANAGERS)
    client.post(
        reverse("admin:partner_api_partner_add"),
        {"name": "Acme", "terms_days": "30", "throttle_rate": ""},
    )
    partner = Partner.objects.get()

    response = client.post(
        reverse("admin:partner_api_partnerapikey_add"),
        {"partner": partner.pk, "name": "production", "expiry_date_0": "", "expiry_date_1": ""},
        follow=True,
    )

    [(level, text)] = [m for m in _messages(response) if KEY.search(m[1])]
    assert level == message_levels.WARNING
    key = KEY.search(text)["key"]
    api_key = PartnerAPIKey.objects.get(partner=partner)
    assert api_key.prefix == key.split(".")[0]
    assert key.split(".")[1] not in api_key.hashed_key
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert api.get(ORDERS_URL).status_code == 200
    # the key's page never shows it again
    page = client.get(reverse("admin:partner_api_partnerapikey_change", args=[api_key.pk]))
    assert key not in page.content.decode()

    # revoking it (for good) locks the partner out
    response = client.post(
        reverse("admin:partner_api_partnerapikey_changelist"),
        {"action": "revoke_selected", "_selected_action": [api_key.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert PartnerAPIKey.objects.get().revoked
    assert api.get(ORDERS_URL).status_code == 401


def test_an_endpoint_is_registered_with_checkboxes(db, settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = False
    client = _login(MANAGERS)
    client.post(
        reverse("admin:partner_api_partner_add"),
        {"name": "Acme", "terms_days": "30", "throttle_rate": ""},
    )
    partner = Partner.objects.get()
    add = reverse("admin:partner_api_webhookendpoint_add")

    refused = client.post(
        add,
        {
            "partner": partner.pk,
            "url": "http://10.0.0.1/x",
            "events": ["order.created"],
            "is_active": "on",
        },
    )
    assert "url" in refused.context["adminform"].form.errors
    client.post(
        add,
        {
            "partner": partner.pk,
            "url": "https://hooks.acme.example/x",
            "events": ["order.created", "order.shipped"],
            "is_active": "on",
        },
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["order.created", "order.shipped"]
    assert endpoint.secret.startswith("whsec_")


def _failed_delivery(acme, settings) -> WebhookDelivery:
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = True
    WebhookEndpoint.objects.create(
        partner=acme.partner, url="http://127.0.0.1:9/x", events=["order.created"]
    )
    acme.post_order()
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", last_status_code=410)
    return delivery


def test_customer_service_sees_deliveries_and_resends_one(
    catalogue, acme, settings, django_capture_on_commit_callbacks, monkeypatch
):
    from orders.api import webhooks

    delivery = _failed_delivery(acme, settings)
    sent = []
    monkeypatch.setattr(webhooks, "enqueue_deliveries", lambda ids: sent.extend(ids))
    client = _login(CUSTOMER_SERVICE)
    changelist = reverse("admin:partner_api_webhookdelivery_changelist")

    listing = client.get(changelist)
    assert listing.status_code == 200
    assert "order.created" in listing.content.decode()
    page = client.get(reverse("admin:partner_api_webhookdelivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    assert acme.partner.name in page.content.decode() or "127.0.0.1" in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            changelist,
            {"action": "resend_selected", "_selected_action": [str(delivery.pk)]},
            follow=True,
        )

    assert (message_levels.SUCCESS, "1 deliver(ies) queued to resend.") in _messages(response)
    delivery.refresh_from_db()
    assert delivery.status == "pending"
    assert sent == [str(delivery.pk)]
    # but cannot create partners or keys
    assert client.get(reverse("admin:partner_api_partner_add")).status_code == 403
    assert client.get(reverse("admin:partner_api_partner_changelist")).status_code == 200


def test_the_warehouse_sees_none_of_it(catalogue, acme, settings):
    _failed_delivery(acme, settings)
    client = _login(WAREHOUSE)
    for name in ("partner", "partnerapikey", "webhookendpoint", "webhookdelivery"):
        assert client.get(reverse(f"admin:partner_api_{name}_changelist")).status_code == 403


def test_every_page_renders_for_a_manager(catalogue, acme, settings):
    delivery = _failed_delivery(acme, settings)
    client = _login(MANAGERS)
    for name in (
        "partner",
        "partnerapikey",
        "webhookendpoint",
        "webhookdelivery",
        "idempotencyrecord",
    ):
        assert client.get(reverse(f"admin:partner_api_{name}_changelist")).status_code == 200
    for name, pk in (
        ("partner", acme.partner.pk),
        ("webhookdelivery", delivery.pk),
        ("webhookendpoint", delivery.endpoint_id),
        ("partnerapikey", PartnerAPIKey.objects.get().pk),
    ):
        assert client.get(reverse(f"admin:partner_api_{name}_change", args=[pk])).status_code == 200
    # the library's partner-less key model is not offered
    assert client.get("/admin/rest_framework_api_key/apikey/").status_code == 404
    # partners, keys and endpoints are switched off or revoked, never deleted
    for name, pk in (
        ("partner", acme.partner.pk),
        ("webhookendpoint", delivery.endpoint_id),
        ("partnerapikey", PartnerAPIKey.objects.get().pk),
    ):
        assert client.get(reverse(f"admin:partner_api_{name}_delete", args=[pk])).status_code == 403


# --- changing partners, keys and endpoints goes through the services ------------------------


def _endpoint_form(endpoint: WebhookEndpoint, **changes) -> dict:
    form = {
        "url": endpoint.url,
        "events": endpoint.events,
        "description": endpoint.description,
        "_save": "Save",
    }
    if endpoint.is_active:
        form["is_active"] = "on"
    form.update(changes)
    return {name: value for name, value in form.items() if value is not None}


def _endpoint_change(endpoint: WebhookEndpoint) -> str:
    return reverse("admin:partner_api_webhookendpoint_change", args=[endpoint.pk])


def _full_partner(acme) -> WebhookEndpoint:
    """The partner has as many active endpoints as it may, and one switched off."""
    for i in range(services.MAX_WEBHOOK_ENDPOINTS):
        services.webhook_endpoint_create(
            partner=acme.partner, url=f"https://hooks.acme.example/{i}", events=["order.created"]
        )
    return services.webhook_endpoint_create(
        partner=acme.partner,
        url="https://hooks.acme.example/spare",
        events=["order.created"],
        is_active=False,
    )


def test_switching_an_endpoint_on_over_the_limit_is_a_form_error(acme, settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = False
    spare = _full_partner(acme)
    client = _login(MANAGERS)

    response = client.post(_endpoint_change(spare), _endpoint_form(spare, is_active="on"))

    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert any("at most 20 webhook endpoints" in error for error in errors)
    spare.refresh_from_db()
    assert not spare.is_active
    assert WebhookEndpoint.objects.filter(is_active=True).count() == services.MAX_WEBHOOK_ENDPOINTS


def test_a_limit_reached_meanwhile_is_an_error_message_and_nothing_is_saved(
    acme, settings, monkeypatch
):
    from orders.api.admin import webhooks as api_admin

    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = False
    spare = _full_partner(acme)
    # The form's check passed before the last endpoint was switched on by someone else:
    # only the service, under the partner's lock, sees the limit.
    monkeypatch.setattr(
        api_admin.services, "webhook_endpoint_validate", lambda **kwargs: kwargs["events"]
    )
    client = _login(MANAGERS)

    response = client.post(
        _endpoint_change(spare),
        _endpoint_form(spare, is_active="on", description="switched on"),
        follow=True,
    )

    assert response.status_code == 200
    [(level, text)] = _messages(response)
    assert level == message_levels.ERROR
    assert "at most 20 webhook endpoints" in text and "Nothing was saved" in text
    spare.refresh_from_db()
    assert (spare.is_active, spare.description) == (False, "")


def test_an_endpoint_edit_to_a_private_url_is_refused(acme, settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = False
    endpoint = services.webhook_endpoint_create(
        partner=acme.partner, url="https://hooks.acme.example/x", events=["order.created"]
    )
    client = _login(MANAGERS)

    response = client.post(
        _endpoint_change(endpoint), _endpoint_form(endpoint, url="http://10.0.0.1/x")
    )

    assert response.status_code == 200
    assert "url" in response.context["adminform"].form.errors
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.acme.example/x"


def test_an_endpoint_edit_is_saved_and_the_endpoint_stays_with_its_partner(acme, globex, settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = False
    endpoint = services.webhook_endpoint_create(
        partner=acme.partner, url="https://hooks.acme.example/x", events=["order.created"]
    )
    secret = endpoint.secret
    client = _login(MANAGERS)

    response = client.post(
        _endpoint_change(endpoint),
        _endpoint_form(
            endpoint,
            partner=globex.partner.pk,  # read-only on this page: ignored
            url="https://hooks.acme.example/v2",
            events=["order.shipped", "order.created"],
            description=" ERP ",
            is_active=None,
        ),
    )

    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.url == "https://hooks.acme.example/v2"
    assert endpoint.events == ["order.created", "order.shipped"]
    assert (endpoint.description, endpoint.is_active) == ("ERP", False)
    assert (endpoint.partner_id, endpoint.secret) == (acme.partner.pk, secret)


def test_an_endpoint_registered_switched_off_stays_off(acme, settings):
    settings.PARTNER_WEBHOOK_ALLOW_PRIVATE = False
    client = _login(MANAGERS)

    client.post(
        reverse("admin:partner_api_webhookendpoint_add"),
        {
            "partner": acme.partner.pk,
            "url": "https://hooks.acme.example/x",
            "events": ["order.created"],
        },
    )

    assert WebhookEndpoint.objects.get().is_active is False


def _partner_form(partner: Partner, **changes) -> dict:
    form = {
        "name": partner.name,
        "throttle_rate": partner.throttle_rate,
        "api_keys-TOTAL_FORMS": partner.api_keys.count(),
        "api_keys-INITIAL_FORMS": partner.api_keys.count(),
        "webhook_endpoints-TOTAL_FORMS": partner.webhook_endpoints.count(),
        "webhook_endpoints-INITIAL_FORMS": partner.webhook_endpoints.count(),
        "_save": "Save",
    }
    if partner.is_active:
        form["is_active"] = "on"
    form.update(changes)
    return {name: value for name, value in form.items() if value is not None}


def test_a_partner_edit_is_checked_as_creating_one_is(acme, globex):
    client = _login(MANAGERS)
    change = reverse("admin:partner_api_partner_change", args=[globex.partner.pk])

    response = client.post(
        change, _partner_form(globex.partner, name="  acme   marketplace ", throttle_rate="lots")
    )

    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"name", "throttle_rate"}
    globex.partner.refresh_from_db()
    assert (globex.partner.name, globex.partner.throttle_rate) == ("Globex", "")

    response = client.post(
        change,
        _partner_form(
            globex.partner, name="  Globex   Corp ", throttle_rate="20/second", is_active=None
        ),
    )

    assert response.status_code == 302
    globex.partner.refresh_from_db()
    assert globex.partner.name == "Globex Corp"
    assert (globex.partner.throttle_rate, globex.partner.is_active) == ("20/second", False)
    assert globex.client.get(ORDERS_URL).status_code == 403


def test_a_key_is_renamed_but_a_revoked_key_stays_as_it_was(acme):
    api_key = PartnerAPIKey.objects.get(partner=acme.partner)
    client = _login(MANAGERS)
    change = reverse("admin:partner_api_partnerapikey_change", args=[api_key.pk])

    response = client.post(
        change, {"name": " ERP ", "expiry_date_0": "", "expiry_date_1": "", "_save": "Save"}
    )

    assert response.status_code == 302
    api_key.refresh_from_db()
    assert (api_key.name, api_key.revoked) == ("ERP", False)

    services.partner_api_key_revoke(api_key_id=api_key.pk)
    response = client.post(change, {"name": "again", "_save": "Save"})

    assert response.status_code == 302
    api_key.refresh_from_db()
    assert (api_key.name, api_key.revoked) == ("ERP", True)


def test_a_key_revoked_meanwhile_is_not_renamed(acme):
    # a rename checked before the revocation committed reaches the service afterwards
    api_key = PartnerAPIKey.objects.get(partner=acme.partner)
    named = api_key.name
    services.partner_api_key_revoke(api_key_id=api_key.pk)

    with pytest.raises(services.InvalidRequest, match="revoked"):
        services.partner_api_key_update(
            api_key_id=api_key.pk, actor="manager", name="renamed", expires_at=None
        )

    api_key.refresh_from_db()
    assert (api_key.name, api_key.revoked) == (named, True)

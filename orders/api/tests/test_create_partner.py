"""`manage.py create_partner`: a partner on invoice terms and a key printed once."""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from orders.api.lifecycle import PartnerWebhooksPhase
from orders.api.models import Partner, PartnerAPIKey
from orders.lifecycle import registered_phases

pytestmark = pytest.mark.django_db


def _run(*args: str) -> list[str]:
    out = StringIO()
    call_command("create_partner", *args, stdout=out)
    return out.getvalue().rstrip("\n").split("\n")


def test_it_creates_the_partner_and_prints_the_key_alone_on_the_last_line(db):
    lines = _run("Acme Marketplace")

    key = lines[-1]
    partner = Partner.objects.get(name="Acme Marketplace")
    account = partner.billing_customer.credit_account
    assert account.terms_days == 30
    assert partner.billing_customer.email == "acme-marketplace@partners.invalid"
    assert "net 30" in lines[0]
    api_key = PartnerAPIKey.objects.get(partner=partner)
    assert key.startswith(api_key.prefix + ".")
    assert key not in "".join(lines[:-1])  # printed once
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert client.get("/api/v1/orders/").status_code == 200


def test_options_and_another_key_later(db):
    _run(
        "Globex",
        "--email",
        "ap@globex.example",
        "--terms",
        "60",
        "--credit-limit",
        "20000",
        "--rate",
        "100/min",
        "--expires-days",
        "30",
        "--key-name",
        "erp",
    )
    partner = Partner.objects.get()
    assert partner.throttle_rate == "100/min"
    assert partner.billing_customer.credit_account.terms_days == 60
    assert str(partner.billing_customer.credit_account.credit_limit) == "20000.00"
    assert PartnerAPIKey.objects.get().expiry_date is not None

    second = _run("globex", "--new-key")[-1]

    assert PartnerAPIKey.objects.filter(partner=partner).count() == 2
    assert Partner.objects.count() == 1
    assert "." in second


@pytest.mark.parametrize(
    "args",
    [
        ("",),
        ("Acme", "--rate", "fast"),
        ("Acme", "--email", "not-an-email"),
        ("Nobody", "--new-key"),
        ("Acme", "--credit-limit", "lots"),
    ],
)
def test_bad_input_is_a_command_error_and_creates_nothing(db, args):
    with pytest.raises(CommandError):
        _run(*args)
    assert not Partner.objects.exists()


def test_a_partner_name_is_taken_once(db):
    _run("Acme")
    with pytest.raises(CommandError, match="exists already"):
        _run("ACME")


def test_settings_wire_the_partner_api(db):
    assert any(isinstance(phase, PartnerWebhooksPhase) for phase in registered_phases())
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "orders.tasks.relay_outbox",
        "orders.api.tasks.purge_idempotency_records",
        "orders.api.tasks.purge_old_webhook_deliveries",
    } <= tasks
    assert settings.REST_FRAMEWORK["EXCEPTION_HANDLER"] == (
        "orders.api.exceptions.api_exception_handler"
    )

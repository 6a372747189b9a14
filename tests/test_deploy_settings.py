"""Production settings pass Django's deployment checks and refuse to start without their
secrets. Each test starts `manage.py` in a fresh process, so nothing here touches the test
database (no `django_db` mark)."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# Variables the settings read; the tests set them explicitly instead of inheriting them.
_SETTINGS_VARIABLES = (
    "DJANGO_SETTINGS_MODULE",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "REDIS_URL",
    "DATABASE_URL",
    "DEBUG",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "ANYMAIL_PROVIDER",
    "EMAIL_BACKEND",
    "SITE_URL",
    "PAYMENT_CARD_PROVIDER",
    "PAYMENT_ALLOW_TEST_GATEWAY",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
)


def _production_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARIABLES}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(48),  # 64 characters
        ALLOWED_HOSTS="orders.example.com",
        REDIS_URL="redis://127.0.0.1:6379/0",
        DATABASE_URL="sqlite:////tmp/x.sqlite3",
        SITE_URL="https://orders.example.com",
        PAYMENT_CARD_PROVIDER="stripe",
        STRIPE_SECRET_KEY="sk_live_" + secrets.token_urlsafe(24),
        STRIPE_WEBHOOK_SECRET="whsec_" + secrets.token_urlsafe(24),
    )
    env.update(overrides)
    return env


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own manage.py with fixed arguments
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_the_deployment_checks():
    env = _production_env()
    assert len(env["SECRET_KEY"]) == 64

    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_a_short_secret_key():
    result = _manage("check", env=_production_env(SECRET_KEY="too-short-" * 4))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY must be at least 50" in result.stderr


def test_production_refuses_a_missing_secret_key():
    env = _production_env()
    del env["SECRET_KEY"]

    result = _manage("check", env=env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr


def test_production_refuses_to_start_without_redis():
    # REDIS_URL set but empty, so a local .env cannot fill it in either
    result = _manage("check", env=_production_env(REDIS_URL=""))

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "REDIS_URL is required in production" in result.stderr


# --- who takes cards ----------------------------------------------------------------------


def test_production_names_its_card_provider():
    env = _production_env()
    del env["PAYMENT_CARD_PROVIDER"]

    result = _manage("check", env=env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "PAYMENT_CARD_PROVIDER is required in production" in result.stderr


def test_the_deployment_checks_refuse_the_test_gateway_without_the_opt_in():
    env = _production_env(PAYMENT_CARD_PROVIDER="test")

    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert "(payments.E001)" in result.stderr
    assert "PAYMENT_ALLOW_TEST_GATEWAY" in result.stderr


def test_the_deployment_checks_pass_the_test_gateway_with_the_opt_in():
    env = _production_env(PAYMENT_CARD_PROVIDER="test", PAYMENT_ALLOW_TEST_GATEWAY="true")

    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deployment_checks_refuse_stripe_without_its_secrets():
    env = _production_env(STRIPE_WEBHOOK_SECRET="")

    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert "(payments.E002)" in result.stderr
    assert "STRIPE_WEBHOOK_SECRET is not set" in result.stderr


# Stripe that charges no card: a test-mode secret or restricted key, or calls sent to another
# server than Stripe's (a fake or local Stripe).
STRIPE_IN_TEST_MODE = {
    "a test secret key": {"STRIPE_SECRET_KEY": "sk_test_" + secrets.token_urlsafe(24)},
    "a test restricted key": {"STRIPE_SECRET_KEY": "rk_test_" + secrets.token_urlsafe(24)},
    "another API server": {"STRIPE_API_BASE": "http://127.0.0.1:12111"},
}


@pytest.mark.parametrize("test_mode", STRIPE_IN_TEST_MODE.values(), ids=STRIPE_IN_TEST_MODE)
def test_the_deployment_checks_refuse_stripe_in_test_mode_without_the_opt_in(test_mode):
    refused = _manage(
        "check", "--deploy", "--fail-level", "WARNING", env=_production_env(**test_mode)
    )
    allowed = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=_production_env(**test_mode, PAYMENT_ALLOW_TEST_GATEWAY="true"),
    )

    assert refused.returncode != 0
    assert "(payments.E006)" in refused.stderr
    assert "no card is charged, and PAYMENT_ALLOW_TEST_GATEWAY is not set" in refused.stderr
    secret = test_mode.get("STRIPE_SECRET_KEY", "")[len("sk_test_") :]
    assert not secret or secret not in refused.stderr  # the key's kind is named, never the key
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "no issues" in allowed.stdout


# What gunicorn loads (config/wsgi.py): it runs no checks of its own.
_LOAD_THE_WEB_APPLICATION = "import config.wsgi; print('loaded')"


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - our own code with fixed arguments
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_web_process_refuses_to_start_with_the_test_gateway_without_the_opt_in():
    refused = _python(_LOAD_THE_WEB_APPLICATION, _production_env(PAYMENT_CARD_PROVIDER="test"))
    allowed = _python(
        _LOAD_THE_WEB_APPLICATION,
        _production_env(PAYMENT_CARD_PROVIDER="test", PAYMENT_ALLOW_TEST_GATEWAY="true"),
    )

    assert refused.returncode != 0
    assert "ImproperlyConfigured: payments.E001" in refused.stderr
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.strip() == "loaded"


def test_a_web_process_refuses_to_start_with_stripe_in_test_mode_without_the_opt_in():
    test_key = {"STRIPE_SECRET_KEY": "sk_test_" + secrets.token_urlsafe(24)}
    refused = _python(_LOAD_THE_WEB_APPLICATION, _production_env(**test_key))
    fake_stripe = _python(
        _LOAD_THE_WEB_APPLICATION, _production_env(STRIPE_API_BASE="http://127.0.0.1:12111")
    )
    allowed = _python(
        _LOAD_THE_WEB_APPLICATION,
        _production_env(**test_key, PAYMENT_ALLOW_TEST_GATEWAY="true"),
    )

    assert refused.returncode != 0
    assert "ImproperlyConfigured: payments.E006" in refused.stderr
    assert fake_stripe.returncode != 0
    assert "ImproperlyConfigured: payments.E006" in fake_stripe.stderr
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.strip() == "loaded"


def _celery_worker(env: dict[str, str]) -> subprocess.CompletedProcess:
    celery = str(Path(sys.executable).with_name("celery"))
    return subprocess.run(  # noqa: S603 - our own worker with fixed arguments
        [celery, "-A", "config", "worker", "--pool", "solo", "--loglevel", "WARNING"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_celery_worker_refuses_to_start_with_stripe_in_test_mode_without_the_opt_in():
    result = _celery_worker(_production_env(STRIPE_SECRET_KEY="sk_test_" + "x" * 24))

    assert result.returncode != 0
    assert "ImproperlyConfigured: payments.E006" in result.stderr


def test_a_celery_worker_refuses_to_start_with_the_test_gateway_without_the_opt_in():
    env = _production_env(PAYMENT_CARD_PROVIDER="test")
    celery = str(Path(sys.executable).with_name("celery"))

    result = subprocess.run(  # noqa: S603 - our own worker with fixed arguments
        [celery, "-A", "config", "worker", "--pool", "solo", "--loglevel", "WARNING"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode != 0
    assert "ImproperlyConfigured: payments.E001" in result.stderr


# A shop page as production renders it, with the opt-in. collectstatic has not run here, so
# the page names its stylesheet without the manifest's hashed file name.
_RENDER_THE_LOGIN_PAGE = """
from django.conf import settings
from django.test import Client, override_settings
plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
with override_settings(STORAGES={**settings.STORAGES, "staticfiles": plain}):
    page = Client().get("/account/login/", secure=True, HTTP_HOST="orders.example.com")
print(f"status={page.status_code}")
print(page.content.decode())
"""


def test_with_the_opt_in_production_shop_pages_say_test_mode():
    with_opt_in = _production_env(PAYMENT_CARD_PROVIDER="test", PAYMENT_ALLOW_TEST_GATEWAY="true")

    shown = _manage("shell", "-c", _RENDER_THE_LOGIN_PAGE, env=with_opt_in)
    real = _manage("shell", "-c", _RENDER_THE_LOGIN_PAGE, env=_production_env())

    assert "status=200" in shown.stdout, shown.stdout[:300] + shown.stderr
    assert "Test mode:</strong> no real payments are taken" in shown.stdout
    assert "status=200" in real.stdout, real.stdout[:300] + real.stderr
    assert "Test mode" not in real.stdout


def test_with_stripe_in_test_mode_production_shop_pages_say_test_mode():
    test_key = {"STRIPE_SECRET_KEY": "sk_test_" + secrets.token_urlsafe(24)}
    with_opt_in = _production_env(**test_key, PAYMENT_ALLOW_TEST_GATEWAY="true")

    shown = _manage("shell", "-c", _RENDER_THE_LOGIN_PAGE, env=with_opt_in)

    assert "status=200" in shown.stdout, shown.stdout[:300] + shown.stderr
    assert "Test mode:</strong> no real payments are taken" in shown.stdout


# --- the site's address in email links ------------------------------------------------------


@pytest.mark.parametrize("unset", ["missing", "empty"])
def test_production_refuses_to_start_without_its_site_url(unset):
    env = _production_env()
    if unset == "missing":
        del env["SITE_URL"]
    else:
        env["SITE_URL"] = ""  # set but empty, so a local .env cannot fill it in either

    checked = _manage("check", env=env)
    web = _python(_LOAD_THE_WEB_APPLICATION, env)
    worker = _celery_worker(env)

    for refused in (checked, web, worker):
        assert refused.returncode != 0
        assert "ImproperlyConfigured: SITE_URL is required in production" in refused.stderr


def test_the_deployment_checks_warn_of_a_site_url_production_would_not_answer():
    env = _production_env(SITE_URL="http://127.0.0.1:8000")

    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert "(config.W001)" in result.stderr  # not https
    assert "(config.W002)" in result.stderr  # not a host in ALLOWED_HOSTS


# What `make run` passes (Makefile: RUNSERVER_URL from HOST and PORT), and what the embedded
# default (config.settings.local) makes of it: the link an email gives a customer.
_EMAIL_LINK = (
    "from orders.models import Order; from orders.notifications import order_page_url; "
    "print(order_page_url(Order(number='2026-000042', account_id=1)))"
)


def _local_env(**overrides: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in _SETTINGS_VARIABLES and k != "RUNSERVER_URL"
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local", DATABASE_URL="sqlite:////tmp/x.sqlite3"
    )
    env.update(overrides)
    return env


def test_make_run_passes_the_address_it_serves_on():
    result = subprocess.run(
        ["make", "-n", "run", "PORT=8011"],  # noqa: S607 - make from PATH, as a person runs it
        cwd=REPO_ROOT,
        env=_local_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    commands = result.stdout.splitlines()
    assert "RUNSERVER_URL=http://127.0.0.1:8011 .venv/bin/python manage.py seed_demo" in commands
    assert (
        "RUNSERVER_URL=http://127.0.0.1:8011 .venv/bin/python manage.py runserver 127.0.0.1:8011"
        in commands
    )


def test_email_links_in_the_embedded_default_follow_the_address_it_serves_on():
    served_on_8011 = _manage(
        "shell",
        "--no-imports",
        "-c",
        _EMAIL_LINK,
        env=_local_env(RUNSERVER_URL="http://127.0.0.1:8011"),
    )
    site_url_set = _manage(
        "shell",
        "--no-imports",
        "-c",
        _EMAIL_LINK,
        env=_local_env(RUNSERVER_URL="http://127.0.0.1:8011", SITE_URL="https://demo.example"),
    )
    neither = _manage("shell", "--no-imports", "-c", _EMAIL_LINK, env=_local_env())

    assert served_on_8011.stdout.strip() == "http://127.0.0.1:8011/account/orders/2026-000042/"
    assert site_url_set.stdout.strip() == "https://demo.example/account/orders/2026-000042/"
    assert neither.stdout.strip() == "http://127.0.0.1:8000/account/orders/2026-000042/"

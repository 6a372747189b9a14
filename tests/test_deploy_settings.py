"""Production settings pass Django's deployment checks and refuse to start without their
secrets. Each test starts `manage.py` in a fresh process, so nothing here touches the test
database (no `django_db` mark)."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

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
)


def _production_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SETTINGS_VARIABLES}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(48),  # 64 characters
        ALLOWED_HOSTS="orders.example.com",
        REDIS_URL="redis://127.0.0.1:6379/0",
        DATABASE_URL="sqlite:////tmp/x.sqlite3",
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

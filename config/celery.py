"""The Celery application. Workers start with `celery -A config worker`."""

import os
from typing import Any

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("orderflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def keep_django_logging(**kwargs: Any) -> None:
    """Leave a worker's logging to settings.LOGGING, which django.setup() has applied by then:
    JSON lines with signed-link tokens redacted. Without a receiver of this signal Celery
    replaces the root logger's handlers with its own plain-text ones, tokens included. So the
    worker's --loglevel and --logfile options are not used; LOG_LEVEL is."""


@signals.worker_init.connect
def refuse_the_test_gateway_unbidden(**kwargs: Any) -> None:
    """A worker authorises and captures card payments: it does not start where the test
    gateway would take cards unbidden (payments/checks.py). Celery logs and ignores what a
    signal receiver raises, so this ends the process with the reason instead."""
    import django
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    if not apps.ready:
        django.setup()
    from payments.checks import refuse_to_start_with_the_test_gateway

    try:
        refuse_to_start_with_the_test_gateway()
    except ImproperlyConfigured as refusal:
        raise SystemExit(f"ImproperlyConfigured: {refusal}") from refusal

"""How long unanswered provider calls are retried: its own setting, apart from how soon the
reconcile task looks for lost work, so a provider outage of most of a day is ridden out."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from django.conf import settings

from orders.outbox import backoff

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_provider_calls_are_retried_for_about_17_hours_by_default():
    first = settings.PAYMENT_RETRY_FIRST
    assert first == timedelta(minutes=5)
    assert first > settings.PAYMENT_RECONCILE_AFTER  # the sweep looks sooner than it retries
    # the waits between PAYMENT_MAX_ATTEMPTS tries: 5, 10, 20 ... minutes, at most 48 × 5
    waits = [
        backoff(attempt, first=first, cap=first * 48)
        for attempt in range(1, settings.PAYMENT_MAX_ATTEMPTS)
    ]
    assert sum(waits, timedelta()) == timedelta(hours=17, minutes=15)


def test_the_first_retry_is_read_from_the_environment_in_minutes():
    env = {**os.environ, "PAYMENT_RETRY_FIRST_MINUTES": "2"}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            "from django.conf import settings; print(settings.PAYMENT_RETRY_FIRST)",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0:02:00"

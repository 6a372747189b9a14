"""The embedded default for `make run`: SQLite, tasks in-process, mail to the console."""

from .base import *
from .base import env

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="local-development-only-not-secret")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
SMS_BACKEND = env("SMS_BACKEND", default="console")
# Links in emails follow the address the demo serves on: `make run HOST=... PORT=...` passes it
# as RUNSERVER_URL. SITE_URL, in the environment or .env, still wins.
SITE_URL = env("SITE_URL", default=env("RUNSERVER_URL", default="http://127.0.0.1:8000"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files from the apps directly, without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# The demo takes cards with the test gateway (no money moves); every shop page says so.
PAYMENT_ALLOW_TEST_GATEWAY = env.bool("PAYMENT_ALLOW_TEST_GATEWAY", default=True)

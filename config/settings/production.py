"""Production: PostgreSQL, Redis, real mail through django-anymail. Secrets come from the
environment; nothing here has a usable default for them."""

from django.core.exceptions import ImproperlyConfigured

from .base import *
from .base import ANYMAIL_PROVIDER, REDIS_URL, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY")
if len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 random characters.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

if not REDIS_URL:
    raise ImproperlyConfigured("REDIS_URL is required in production (Celery broker and cache).")

# Links in emails (order pages, pay-again, downloads, account claims) start with this: the
# shop's public address, https://shop.example.com. No default: a web process or a worker
# without it would send links that lead nowhere (`check --deploy` checks the rest of it).
SITE_URL = env("SITE_URL", default="")
if not SITE_URL:
    raise ImproperlyConfigured(
        "SITE_URL is required in production: the shop's public address, "
        "https://shop.example.com, the start of every link in an email."
    )

# Who takes cards: production chooses. "test", or "stripe" in test mode (a sk_test_ key, or
# STRIPE_API_BASE), needs PAYMENT_ALLOW_TEST_GATEWAY=true as well (payments/checks.py), and
# every shop page then says that no real payments are taken.
PAYMENT_CARD_PROVIDER = env("PAYMENT_CARD_PROVIDER", default="")
if not PAYMENT_CARD_PROVIDER:
    raise ImproperlyConfigured(
        'PAYMENT_CARD_PROVIDER is required in production: "stripe" (with STRIPE_SECRET_KEY '
        'and STRIPE_WEBHOOK_SECRET), or "test" together with PAYMENT_ALLOW_TEST_GATEWAY=true '
        "on a site that must not take real payments."
    )

DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# Mail goes through django-anymail to the provider named in ANYMAIL_PROVIDER
# (for example "amazon_ses", "mailgun", "postmark", "sendgrid", "brevo").
if ANYMAIL_PROVIDER:
    EMAIL_BACKEND = f"anymail.backends.{ANYMAIL_PROVIDER}.EmailBackend"
else:
    EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
    EMAIL_HOST = env("EMAIL_HOST", default="localhost")
    EMAIL_PORT = env.int("EMAIL_PORT", default=587)
    EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
    EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
    EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
SMS_BACKEND = env("SMS_BACKEND", default="")

# Security: HTTPS everywhere, behind a proxy that sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

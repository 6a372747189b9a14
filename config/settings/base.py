"""Settings shared by every environment. Everything that differs comes from the environment."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The shop's public address, the start of every link in an email. Production has no default
# (it refuses to start without one); `make run` passes its own (local.py).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "config.admin_site.StaffConsoleConfig",  # django.contrib.admin, digits 0-9 for numbers
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Redoc for /api/docs/ from our own static files
    "django_fsm",
    "django_celery_beat",
    "anymail",
    # Our apps, one per lifecycle phase.
    "orders",
    "orders.api",
    "payments",
    "warehouse",
    "returns",
    "feedback",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.RejectNulBytesMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "payments.context_processors.payment_mode",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'orderflow.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # The embedded default: wait for the writer instead of failing with "database is locked",
    # and take the write lock when a transaction starts, as select_for_update would elsewhere.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # The cache only counts rate limits: with Redis down, give up fast and let the
            # limiter decide (orders/ratelimit.py) rather than hold the request.
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


# --- Email ---------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Orderflow <orders@example.com>")
SERVER_EMAIL = env("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# Seconds an SMTP send may take; well inside the outbox's five-minute claim on a row.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
# django-anymail: ANYMAIL_PROVIDER picks the backend, its settings come from ANYMAIL_* variables.
ANYMAIL_PROVIDER = env("ANYMAIL_PROVIDER", default="")
ANYMAIL = {
    key.removeprefix("ANYMAIL_"): value
    for key, value in env.ENVIRON.items()
    if key.startswith("ANYMAIL_") and key != "ANYMAIL_PROVIDER"
}
# SMS confirmations, where set up: "console" logs them, "locmem" keeps them for tests,
# "" turns SMS off.
SMS_BACKEND = env("SMS_BACKEND", default="")

# --- Celery --------------------------------------------------------------------------------
# Without REDIS_URL (the embedded default) tasks run in-process, right after the commit.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers and beat wait out a broker outage of any length, and carry on when it is back.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A publish to an unreachable broker must fail fast; the outbox relay sends it later. A task
# taken by a worker that was killed outright goes back to the queue after visibility_timeout;
# the sweeps below finish its order long before that.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "socket_connect_timeout": 1,
    # A Redis that accepts connections but never answers (stopped, stalled) must not hold a
    # request either; above the 1 s a worker waits for new messages.
    "socket_timeout": 2,
    "visibility_timeout": 900,
}
# The sweeps that find work whose task was lost (a broker outage, a killed worker, a database
# blip): the outbox relay, stalled reviews and payment reconciling all run this often.
SWEEP_INTERVAL = timedelta(seconds=env.int("SWEEP_SECONDS", default=15))
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "orders-relay-outbox": {
        "task": "orders.tasks.relay_outbox",
        "schedule": SWEEP_INTERVAL,
    },
    "orders-review-stalled": {
        "task": "orders.tasks.review_stalled_orders",
        "schedule": SWEEP_INTERVAL,
    },
    "orders-complete-delivered": {
        "task": "orders.tasks.complete_delivered_orders",
        "schedule": crontab(hour=2, minute=30),
    },
    "orders-purge-sent-notifications": {
        "task": "orders.tasks.purge_old_notifications",
        "schedule": crontab(hour=3, minute=17),
    },
}

# --- The order lifecycle -------------------------------------------------------------------
DEFAULT_CURRENCY = env("DEFAULT_CURRENCY", default="EUR")
# Catalogue prices include tax (EU style) or exclude it (US style).
PRICES_INCLUDE_TAX = env.bool("PRICES_INCLUDE_TAX", default=True)
# Order review: an order above this total waits for a person (hold reason "manual").
ORDER_REVIEW_MAX_TOTAL = Decimal(env.str("ORDER_REVIEW_MAX_TOTAL", default="5000.00"))
# The fraud score adds points per signal; at or above the threshold the order is held.
FRAUD_HIGH_VALUE = Decimal(env.str("FRAUD_HIGH_VALUE", default="1000.00"))
FRAUD_SCORE_THRESHOLD = env.int("FRAUD_SCORE_THRESHOLD", default=70)
# Orders still "received" this long after placement are reviewed by the periodic sweep.
ORDER_REVIEW_STALL_AFTER = timedelta(seconds=env.int("ORDER_REVIEW_STALL_SECONDS", default=30))
RETURN_WINDOW_DAYS = env.int("RETURN_WINDOW_DAYS", default=30)
# Outbox: a pending row not sent this long after it was written is sent by the relay.
OUTBOX_RELAY_AFTER = timedelta(seconds=env.int("OUTBOX_RELAY_SECONDS", default=30))
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)
# The one retry schedule of every outbox (email, SMS, webhooks): 1, 2, 4, ... minutes, at most
# 6 hours apart.
OUTBOX_FIRST_RETRY = timedelta(minutes=1)
OUTBOX_MAX_RETRY_DELAY = timedelta(hours=6)
OUTBOX_KEEP_SENT_DAYS = env.int("OUTBOX_KEEP_SENT_DAYS", default=365)

# --- DRF -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Orderflow partner API",
    "VERSION": "1.2.0",  # README: Partner API → Changelog
}

# --- Logging: one JSON object per line -----------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
# Signed-link tokens in paths are written as [redacted] (config/logging.py), also in the lines
# runserver prints for each request ("django.server", in Django's own format).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "config.logging.RedactTokensFilter"}},
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["redact_tokens"],
        },
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_tokens"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Named here so that its handlers are replaced: Django's defaults give it a console
        # handler of its own (on when DEBUG is), which writes signed-link tokens.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
        "celery": {"level": "WARNING"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}
# Destination countries we ship to (ISO 3166-1 alpha-2 codes; a system check refuses others);
# empty means anywhere. Review holds orders to other countries with "address_invalid".
SHIPPING_COUNTRIES = [code.strip().upper() for code in env.list("SHIPPING_COUNTRIES", default=[])]

# --- Payments ------------------------------------------------------------------------------
# Who takes cards: "test" (the embedded test gateway, no network, no money moves) or
# "stripe". Production has no default (config/settings/production.py).
PAYMENT_CARD_PROVIDER = env("PAYMENT_CARD_PROVIDER", default="test")
# Test payments where they could be mistaken for real ones: the test gateway, or Stripe with a
# test-mode key (sk_test_..., rk_test_...) or with STRIPE_API_BASE. Without this,
# `check --deploy` fails (payments.E001, payments.E006) and web processes and workers refuse
# to start (payments/checks.py). The embedded default and the test suite allow it (local.py,
# test.py).
PAYMENT_ALLOW_TEST_GATEWAY = env.bool("PAYMENT_ALLOW_TEST_GATEWAY", default=False)
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
# Another server in place of api.stripe.com (a fake or local Stripe): never a real shop's.
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")
# With Stripe, shop customers pay on Stripe Checkout's own page (no card number reaches us).
# The page stays open this long (35 to 1440 minutes); an order still unpaid then
# is held for payment and the customer emailed a link to pay again.
STRIPE_CHECKOUT_EXPIRES_MINUTES = env.int("STRIPE_CHECKOUT_EXPIRES_MINUTES", default=60)
# The reconcile task asks Stripe about a checkout page still open (or never opened) after this
# long, and again this long after each answer, in case a webhook was lost.
STRIPE_CHECKOUT_CHECK_MINUTES = env.int("STRIPE_CHECKOUT_CHECK_MINUTES", default=15)
# Provider calls that failed for a transport reason are repeated by the reconcile task.
PAYMENT_RECONCILE_AFTER = timedelta(seconds=env.int("PAYMENT_RECONCILE_SECONDS", default=60))
# The wait before an unanswered provider call is tried again, doubled after each try up to
# 48 times this (5 minutes: 5, 10, 20 ... 240): over PAYMENT_MAX_ATTEMPTS tries about 17 hours
# of a provider outage, however soon the reconcile task looks for lost work.
PAYMENT_RETRY_FIRST = timedelta(minutes=env.int("PAYMENT_RETRY_FIRST_MINUTES", default=5))
PAYMENT_MAX_ATTEMPTS = env.int("PAYMENT_MAX_ATTEMPTS", default=10)
# How long the card provider may take to answer once connected (connecting may take 5 s
# more) before the call counts as unanswered. A call begun by a process that died is
# repeated (same idempotency key) by the reconcile task 10 s after both.
PAYMENT_PROVIDER_TIMEOUT_SECONDS = env.int("PAYMENT_PROVIDER_TIMEOUT_SECONDS", default=30)
# Pay-again links in "payment failed" emails stay valid this long.
PAY_LINK_MAX_AGE_DAYS = env.int("PAY_LINK_MAX_AGE_DAYS", default=14)
INVOICE_NUMBER_PREFIX = env("INVOICE_NUMBER_PREFIX", default="INV")
SELLER_NAME = env("SELLER_NAME", default="Orderflow Demo GmbH")
SELLER_ADDRESS = env.list("SELLER_ADDRESS", default=["Torstraße 1", "10119 Berlin", "Germany"])
SELLER_VAT_ID = env("SELLER_VAT_ID", default="DE000000000")
SELLER_BANK_DETAILS = env("SELLER_BANK_DETAILS", default="IBAN DE00 0000 0000 0000 0000 00")

# Carrier tracking webhooks (/warehouse/webhooks/tracking/) are signed with this secret.
TRACKING_WEBHOOK_SECRET = env("TRACKING_WEBHOOK_SECRET", default="")
# Orders whose promised ship-by date is this close (working days) are marked "at risk".
SHIP_BY_AT_RISK_DAYS = env.int("SHIP_BY_AT_RISK_DAYS", default=1)
CELERY_BEAT_SCHEDULE.update(
    {
        "payments-reconcile": {
            "task": "payments.tasks.reconcile_payments",
            "schedule": SWEEP_INTERVAL,
        },
        "payments-flag-overdue-invoices": {
            "task": "payments.tasks.flag_overdue_invoices",
            "schedule": crontab(hour=6, minute=0),
        },
    }
)

# --- Customer site -------------------------------------------------------------------------
# Customers log in on the shop's own pages; staff use /admin/, which has its own login.
LOGIN_URL = "orders:login"
LOGIN_REDIRECT_URL = "orders:account-orders"
LOGOUT_REDIRECT_URL = "orders:product-list"
# Guest order links in emails (signed, revocable with orders.services.order_revoke_links).
ORDER_LINK_MAX_AGE_DAYS = env.int("ORDER_LINK_MAX_AGE_DAYS", default=90)
# Fixed-window rate limits, "<requests>/<seconds>", counted in the cache per client address
# (and per username for logins). Behind a proxy that appends the client to X-Forwarded-For,
# set RATE_LIMIT_TRUST_FORWARDED_FOR so the limits count clients, not the proxy.
RATE_LIMITS = {
    # log-in posts per client address: the shop's (/account/login/), the console's
    "login": env("RATE_LIMIT_LOGIN", default="10/300"),
    "staff_login": env("RATE_LIMIT_STAFF_LOGIN", default="10/300"),
    # log-in posts per username, both pages together (either logs a staff account in)
    "login_account": env("RATE_LIMIT_LOGIN_ACCOUNT", default="10/300"),
    "checkout": env("RATE_LIMIT_CHECKOUT", default="20/600"),
    # The checkout's summary, asked for by its script as the address and delivery change.
    "checkout_summary": env("RATE_LIMIT_CHECKOUT_SUMMARY", default="120/600"),
    "register": env("RATE_LIMIT_REGISTER", default="10/3600"),
    "password_reset": env("RATE_LIMIT_PASSWORD_RESET", default="5/900"),
    "order_action": env("RATE_LIMIT_ORDER_ACTION", default="30/600"),
}
# With the cache (Redis) unreachable these scopes refuse (503, try again in a minute) rather
# than go uncounted; every other scope, and the partner API, lets requests through.
RATE_LIMITS_FAIL_CLOSED = frozenset(
    env.list(
        "RATE_LIMITS_FAIL_CLOSED",
        default=["login", "staff_login", "login_account", "register", "password_reset"],
    )
)
RATE_LIMIT_TRUST_FORWARDED_FOR = env.bool("RATE_LIMIT_TRUST_FORWARDED_FOR", default=False)
SHOP_PAGE_SIZE = env.int("SHOP_PAGE_SIZE", default=12)

# --- Partner API (orders/api) --------------------------------------------------------------
REST_FRAMEWORK.update(
    {
        "DEFAULT_AUTHENTICATION_CLASSES": ["orders.api.authentication.PartnerAPIKeyAuthentication"],
        "DEFAULT_PERMISSION_CLASSES": ["orders.api.permissions.HasPartnerAPIKey"],
        "DEFAULT_THROTTLE_CLASSES": ["orders.api.throttling.PartnerRateThrottle"],
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "DEFAULT_PARSER_CLASSES": ["orders.api.parsers.CappedJSONParser"],
        "EXCEPTION_HANDLER": "orders.api.exceptions.api_exception_handler",
    }
)
SPECTACULAR_SETTINGS.update(
    {
        "DESCRIPTION": (
            "Place and follow orders, get tracking, and receive signed webhooks. "
            "Authenticate with `Authorization: Api-Key <key>`. Errors are "
            '`{"error": {"code", "message", "fields"}}`.'
        ),
        "SCHEMA_PATH_PREFIX": r"/api/v1",
        # /api/docs/ loads Redoc from our static files (drf-spectacular-sidecar, a pinned
        # version), not from a CDN: the docs work without the internet.
        "REDOC_DIST": "SIDECAR",
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "SERVE_INCLUDE_SCHEMA": False,
        "SERVE_AUTHENTICATION": [],
        "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
        "COMPONENT_SPLIT_REQUEST": True,
        "ENUM_NAME_OVERRIDES": {
            "OrderStatusEnum": "orders.models.OrderStatus",
            "PaymentStatusEnum": "payments.models.PaymentStatus",
            "PaymentMethodEnum": "payments.models.PaymentMethod",
            "ShipmentStatusEnum": "warehouse.models.ShipmentStatus",
            "CarrierEnum": "warehouse.models.Carrier",
            "ProductKindEnum": "warehouse.models.ProductKind",
        },
    }
)
# JSON bodies (the API's; the webhooks have their own, smaller size caps): a larger body is
# refused with 413, one whose arrays and objects nest deeper with 400, before it is parsed.
API_MAX_JSON_BYTES = env.int("API_MAX_JSON_BYTES", default=1024 * 1024)
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)
# Requests per partner, unless the partner has its own rate (admin): "600/min", "20/second".
PARTNER_API_THROTTLE_RATE = env("PARTNER_API_THROTTLE_RATE", default="600/min")
# Idempotency-Key answers are replayed for at least this long (never less than 24 hours).
PARTNER_IDEMPOTENCY_TTL = timedelta(hours=env.int("PARTNER_IDEMPOTENCY_TTL_HOURS", default=24))
# Webhooks: each attempt waits this many seconds; failures (5xx, timeouts) are retried on the
# outbox's schedule (OUTBOX_FIRST_RETRY...) for 3 days; delivered rows are kept 90 days.
PARTNER_WEBHOOK_TIMEOUT = env.int("PARTNER_WEBHOOK_TIMEOUT", default=10)
PARTNER_WEBHOOK_RETRY_FOR = timedelta(days=env.int("PARTNER_WEBHOOK_RETRY_DAYS", default=3))
PARTNER_WEBHOOK_KEEP_DAYS = env.int("PARTNER_WEBHOOK_KEEP_DAYS", default=90)
# Webhook URLs may use http:// and private or loopback hosts. Unset: allowed when DEBUG is on
# (local development), refused otherwise (production: https:// to public hosts only).
PARTNER_WEBHOOK_ALLOW_PRIVATE = env.bool("PARTNER_WEBHOOK_ALLOW_PRIVATE", default=None)
CELERY_BEAT_SCHEDULE.update(
    {
        "partner-api-purge-idempotency-records": {
            "task": "orders.api.tasks.purge_idempotency_records",
            "schedule": timedelta(hours=1),
        },
        "partner-api-purge-webhook-deliveries": {
            "task": "orders.api.tasks.purge_old_webhook_deliveries",
            "schedule": crontab(hour=3, minute=41),
        },
    }
)

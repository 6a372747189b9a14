import pytest

from orders.tests.factories import CustomerFactory
from payments.models import CreditAccount
from payments.tests.fake_stripe import FakeStripe


@pytest.fixture
def fake_stripe(settings):
    server = FakeStripe().start()
    settings.PAYMENT_CARD_PROVIDER = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_secret"
    yield server
    server.stop()


@pytest.fixture
def business(db):
    customer = CustomerFactory(email="buyer@acme.example", name="Acme GmbH", company="Acme GmbH")
    CreditAccount.objects.create(customer=customer, terms_days=30, credit_limit=500)
    return customer

"""What every shop page needs to know about payments."""

from django.http import HttpRequest

from payments.providers import card_provider_name


def payment_mode(request: HttpRequest) -> dict[str, bool]:
    """`card_test_mode`: the test gateway takes cards, so no card is charged (templates/
    base.html shows a banner on every shop page while it does)."""
    return {"card_test_mode": card_provider_name() == "test"}

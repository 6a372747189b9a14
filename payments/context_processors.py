"""What every shop page needs to know about payments."""

from django.http import HttpRequest

from payments.providers import card_test_mode


def payment_mode(request: HttpRequest) -> dict[str, bool]:
    """`card_test_mode`: no card is charged, whoever takes them (the test gateway; Stripe in
    test mode or in place of Stripe, payments.providers.card_test_mode). templates/base.html
    shows a banner on every shop page while it is so."""
    return {"card_test_mode": bool(card_test_mode())}

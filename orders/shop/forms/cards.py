"""Card details, typed at checkout and when paying again; checked by the payment provider.
With a provider whose customers pay on its own page (Stripe Checkout), the forms have no
card fields at all: a card number posted anyway is never read."""

from typing import Any

from django import forms
from django.utils import timezone

from orders.exceptions import DomainError
from orders.shop.forms.customer_form import CustomerForm, apply_domain_error
from payments.providers.base import CardDetails
from payments.services import PaymentInput, payment_validate


class NoEchoInput(forms.TextInput):
    """A text input that never sends the typed value back to the browser (card number and
    security code are not repeated in a page, even when another field has an error)."""

    def format_value(self, value: Any) -> None:
        return None


def _year_choices() -> list[tuple[str, str]]:
    year = timezone.localdate().year
    return [("", "Year")] + [(str(y), str(y)) for y in range(year, year + 16)]


MONTH_CHOICES = [("", "Month")] + [(str(m), f"{m:02d}") for m in range(1, 13)]


class CardFieldsMixin(CustomerForm):
    card_number = forms.CharField(
        label="Card number",
        max_length=23,
        required=False,
        widget=NoEchoInput(
            attrs={"autocomplete": "cc-number", "inputmode": "numeric", "spellcheck": "false"}
        ),
    )
    exp_month = forms.TypedChoiceField(
        label="Expiry month",
        choices=MONTH_CHOICES,
        coerce=int,
        required=False,
        empty_value=None,
        widget=forms.Select(attrs={"autocomplete": "cc-exp-month"}),
    )
    exp_year = forms.TypedChoiceField(
        label="Expiry year",
        choices=[],
        coerce=int,
        required=False,
        empty_value=None,
        widget=forms.Select(attrs={"autocomplete": "cc-exp-year"}),
    )
    cvc = forms.CharField(
        label="Security code (CVC)",
        max_length=4,
        required=False,
        widget=NoEchoInput(attrs={"autocomplete": "cc-csc", "inputmode": "numeric"}),
    )

    card_field_names = {
        "number": "card_number",
        "exp_month": "exp_month",
        "exp_year": "exp_year",
        "cvc": "cvc",
        "card": "card_number",
        "token": "card_number",
    }

    def __init__(self, *args: Any, pays_on_provider_page: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.pays_on_provider_page = pays_on_provider_page
        if pays_on_provider_page:
            for name in ("card_number", "exp_month", "exp_year", "cvc"):
                del self.fields[name]
        else:
            self.fields["exp_year"].choices = _year_choices()

    def clean_card(self) -> CardDetails | None:
        """Card details checked by the payment provider (number, expiry, code), with the
        provider's messages on each field. None when the card is given on the provider's
        page instead."""
        if self.pays_on_provider_page:
            return None
        data = self.cleaned_data
        missing = False
        for name, label in (
            ("card_number", "Enter the card number."),
            ("exp_month", "Choose the expiry month."),
            ("exp_year", "Choose the expiry year."),
            ("cvc", "Enter the security code."),
        ):
            if data.get(name) in (None, "") and name not in self.errors:
                self.add_error(name, label)
                missing = True
        card_fields = ("card_number", "exp_month", "exp_year", "cvc")
        if missing or any(name in self.errors for name in card_fields):
            return None
        card = CardDetails(
            number=data["card_number"],
            exp_month=data["exp_month"],
            exp_year=data["exp_year"],
            cvc=data["cvc"],
        )
        try:
            payment_validate(PaymentInput(method="card", card=card))
        except DomainError as error:
            apply_domain_error(self, error, self.card_field_names)
            return None
        return card

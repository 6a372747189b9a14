"""What a customer does with an order after placing it: cancel it, pay again."""

from typing import Any

from django import forms

from orders.shop.forms.cards import CardFieldsMixin
from orders.shop.forms.customer_form import CustomerForm


class CancelOrderForm(CustomerForm):
    reason = forms.CharField(
        label="Why are you cancelling?",
        max_length=1000,
        help_text="Required. It helps us do better.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class PayAgainForm(CardFieldsMixin):
    def clean(self) -> dict[str, Any]:
        data = super().clean()
        self.card = self.clean_card()
        return data

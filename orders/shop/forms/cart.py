"""The cart's forms: adding a product from its page, and changing a line in the cart."""

from django import forms

from orders.numbers import WholeNumberField
from orders.shop.session_cart import MAX_QUANTITY


class AddToCartForm(forms.Form):
    sku = forms.CharField(max_length=64, widget=forms.HiddenInput)
    quantity = WholeNumberField(
        label="Quantity",
        min_value=1,
        max_value=MAX_QUANTITY,
        initial=1,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "qty"}),
    )


class CartUpdateForm(forms.Form):
    sku = forms.CharField(max_length=64, widget=forms.HiddenInput)
    quantity = WholeNumberField(
        label="Quantity",
        min_value=0,
        max_value=MAX_QUANTITY,
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "class": "qty"}),
    )

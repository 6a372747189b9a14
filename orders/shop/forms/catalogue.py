"""The catalogue's search form."""

from django import forms


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Search products",
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Search products"}),
    )

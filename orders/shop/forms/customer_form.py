"""The base of every customer form, and how a service's refusal shows on a form."""

from typing import Any

from django import forms

from orders.exceptions import DomainError
from warehouse.exceptions import OutOfStock


class CustomerForm(forms.Form):
    """Our forms: labels without a trailing colon."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def apply_domain_error(form: forms.Form, error: DomainError, aliases: dict[str, str]) -> None:
    """Show a service's refusal on the form: each field message on its field (named by the
    service, mapped through `aliases`), the summary at the top."""
    if isinstance(error, OutOfStock):
        form.add_error(None, out_of_stock_message(error))
        return
    placed = False
    for name, messages in error.fields.items():
        field = aliases.get(name, name)
        if field in form.fields:
            for message in messages:
                form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, error.message)


def out_of_stock_message(error: OutOfStock) -> str:
    parts = [
        f"{sku}: only {available} left" if available else f"{sku}: sold out"
        for sku, (_requested, available) in sorted(error.shortages.items())
    ]
    return (
        "Some items are no longer in stock (" + "; ".join(parts) + "). "
        "Please change the quantities in your cart."
    )

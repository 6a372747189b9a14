"""The base of every customer form, and how a service's refusal shows on a form."""

from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS

from orders.exceptions import DomainError
from warehouse.exceptions import OutOfStock


class CustomerForm(forms.Form):
    """Our forms: labels without a trailing colon."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


def apply_domain_error(
    form: forms.Form,
    error: DomainError,
    aliases: Mapping[str, str],
    *,
    parts: Mapping[str, forms.Form | None] | None = None,
) -> None:
    """Show a service's refusal on the form. Each field's messages go on the field the
    service's name maps to (through `aliases`; "__all__" is the top of the form), or on the
    part of the form it names (`parts`: a sub-form such as checkout's addresses, once it has
    been checked); messages about anything else go at the top, labelled. The summary goes at
    the top when the refusal names no field."""
    if isinstance(error, OutOfStock):
        form.add_error(None, out_of_stock_message(error))
        return
    for name, messages in error.fields.items():
        part = (parts or {}).get(name)
        if part is not None and part.is_bound and hasattr(part, "cleaned_data"):
            for message in messages:
                part.add_error(None, message)
            continue
        field = aliases.get(name, name)
        for message in messages:
            if field in form.fields:
                form.add_error(field, message)
            elif field == NON_FIELD_ERRORS:
                form.add_error(None, message)
            else:
                form.add_error(None, f"{name.replace('_', ' ').capitalize()}: {message}")
    if not error.fields:
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

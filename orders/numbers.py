"""Numbers typed by people and sent by partners: the digits 0-9 only.

Python's int() and Decimal(), and Django's and DRF's number fields, read any Unicode decimal
digit, so "٣" (Arabic-Indic three) or "３" (full-width) silently becomes 3, and "²" passes
str.isdigit() and then fails inside int(). A quantity, a count, a weight or a card number is
taken only as ASCII digits (an optional sign and surrounding spaces aside), and so is an
amount typed by staff (digits and a point); anything else is refused with a message saying
so. The staff console gets these form fields for every number column centrally
(config.admin_site)."""

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from rest_framework import serializers

WHOLE_NUMBER = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)
DECIMAL_NUMBER = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*", re.ASCII)
MESSAGE = "Enter a whole number. Use the digits 0-9."
DECIMAL_MESSAGE = "Enter a number. Use the digits 0-9 and a point, such as 12.50."


def is_ascii_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def parse_whole_number(value: Any) -> int:
    """`value` as an int; ValueError (with MESSAGE) unless it is a whole number in ASCII
    digits."""
    if not isinstance(value, str) or not WHOLE_NUMBER.fullmatch(value):
        raise ValueError(MESSAGE)
    return int(value)


def page_number(value: str | None) -> int | None:
    """The page a query string asks for; None (Paginator.get_page's first page) unless it is a
    whole number in ASCII digits."""
    try:
        return parse_whole_number(value)
    except ValueError:
        return None


class WholeNumberField(forms.IntegerField):
    """forms.IntegerField for the digits 0-9 only."""

    default_error_messages = {"invalid": MESSAGE}

    def to_python(self, value: Any) -> int | None:
        if isinstance(value, str) and value.strip() and not WHOLE_NUMBER.fullmatch(value):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class DecimalNumberField(forms.DecimalField):
    """forms.DecimalField (amounts, rates) for the digits 0-9 and a decimal point only."""

    default_error_messages = {"invalid": DECIMAL_MESSAGE}

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip() and not DECIMAL_NUMBER.fullmatch(value):
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class WholeNumberSerializerField(serializers.IntegerField):
    """serializers.IntegerField for JSON integers and strings of the digits 0-9 only."""

    default_error_messages = {"invalid": "A whole number is required (the digits 0-9)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or (isinstance(data, str) and not WHOLE_NUMBER.fullmatch(data)):
            self.fail("invalid")
        return super().to_internal_value(data)

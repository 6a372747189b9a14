"""Serializer fields for values that may not exist yet. A partner API answer says `null` for
"no value", never `""`: an empty string is not a URI, a date or one of an enum's values, and
a client generated from the schema rejects it. Each field below is `nullable` in the schema,
answers `null` for a blank value, and (for input) reads `null` as blank, so a client can send
back what it was given."""

from typing import Any

from rest_framework import serializers


class _BlankAsNull:
    """Answer `null` where the stored value is blank; read `null` as blank."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["allow_null"] = True
        super().__init__(**kwargs)  # type: ignore[call-arg]

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None and not getattr(self, "read_only", False):
            return True, ""
        return super().validate_empty_values(data)  # type: ignore[misc]

    def to_representation(self, value: Any) -> Any:
        # Answers only: an input field's default ("") is shown as such in the schema.
        if value in ("", None) and getattr(self, "read_only", False):
            return None
        return super().to_representation(value)  # type: ignore[misc]


def blank_as_null(value: Any) -> Any:
    """A JSON document with null wherever it says "": for what was stored before answers said
    null (idempotent replays, webhook deliveries written earlier) and for webhook data."""
    if value == "":
        return None
    if isinstance(value, dict):
        return {key: blank_as_null(item) for key, item in value.items()}
    if isinstance(value, list):
        return [blank_as_null(item) for item in value]
    return value


def null_as_blank(value: Any) -> Any:
    """The other way round, for telling whether two requests are the same: `null` and `""`
    both say "none"."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return {key: null_as_blank(item) for key, item in value.items()}
    if isinstance(value, list):
        return [null_as_blank(item) for item in value]
    return value


class OptionalCharField(_BlankAsNull, serializers.CharField):
    """Free text that may be absent."""


class OptionalURLField(_BlankAsNull, serializers.URLField):
    """A link that may not exist yet (a tracking page before the parcel ships)."""


class OptionalChoiceField(_BlankAsNull, serializers.ChoiceField):
    """One of an enum's values, or `null` until one is chosen (the carrier before shipping)."""

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
        if value in ("", None):
            return None
        return super().to_representation(value)  # type: ignore[misc]


class OptionalCharField(_BlankAsNull, serializers.CharField):
    """Free text that may be absent."""


class OptionalURLField(_BlankAsNull, serializers.URLField):
    """A link that may not exist yet (a tracking page before the parcel ships)."""


class OptionalChoiceField(_BlankAsNull, serializers.ChoiceField):
    """One of an enum's values, or `null` until one is chosen (the carrier before shipping)."""

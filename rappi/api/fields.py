"""Serializer fields shared by the apps."""

import json
from datetime import UTC

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

INT64 = 2**63


def utc_datetime(**kwargs) -> serializers.DateTimeField:
    """A moment: naive input is read as UTC (documents store UTC), output is UTC."""
    return serializers.DateTimeField(default_timezone=UTC, **kwargs)


def _check_document_value(value, depth: int) -> None:
    if depth > DocumentDataField.max_depth:
        raise serializers.ValidationError(_("Nested too deeply."))
    if isinstance(value, dict):
        for key, item in value.items():
            if (
                not isinstance(key, str)
                or not key
                or key.startswith("$")
                or "." in key
                or "\x00" in key
            ):
                raise serializers.ValidationError(
                    _("Keys must be non-empty text without '$' at the start, '.' or NUL.")
                )
            _check_document_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_document_value(item, depth + 1)
    elif isinstance(value, bool) or value is None or isinstance(value, float | str):
        return
    elif isinstance(value, int):
        if not -INT64 <= value < INT64:
            raise serializers.ValidationError(_("Integers must fit in 64 bits."))
    else:
        raise serializers.ValidationError(_("Unsupported value."))


class DocumentDataField(serializers.DictField):
    """A free-form JSON object stored in a MongoDB document: keys MongoDB accepts,
    integers that fit BSON, bounded depth and size."""

    max_depth = 10
    max_bytes = 16 * 1024

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        _check_document_value(data, 1)
        if len(json.dumps(data, default=str)) > self.max_bytes:
            raise serializers.ValidationError(_("At most 16 KB."))
        return data

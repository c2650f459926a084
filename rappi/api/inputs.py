"""Request input read through a serializer, in one call: valid, or the 400 `invalid` body
naming each field (rappi.api.exceptions)."""

from rest_framework import serializers


def validated(serializer_class: type[serializers.BaseSerializer], data, **kwargs) -> dict:
    """`data` (a request body or its query parameters) validated by `serializer_class`,
    given `kwargs` as well (`partial`, `context`, `instance`). Answers the validated data
    as a dict of the caller's own; raises ValidationError when any of it is invalid."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)

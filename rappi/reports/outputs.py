"""Pieces of the reports' response shapes (the OpenAPI schema is generated from them)."""

from rest_framework import serializers

from rappi.api.fields import utc_datetime


def money(**kwargs) -> serializers.DecimalField:
    """Money as a decimal string with two places ("18.50"), in PEN."""
    return serializers.DecimalField(max_digits=14, decimal_places=2, **kwargs)


moment = utc_datetime


def share(**kwargs) -> serializers.FloatField:
    """A fraction between 0 and 1 (null when there is nothing to divide)."""
    return serializers.FloatField(min_value=0, max_value=1, allow_null=True, **kwargs)


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class PeriodOutput(serializers.Serializer):
    since = moment(help_text="Start, included")
    until = moment(help_text="End, excluded")
    timezone = serializers.CharField(help_text="Whose calendar days the buckets are")


class CountByKey(serializers.Serializer):
    key = serializers.CharField()
    count = serializers.IntegerField(min_value=0)

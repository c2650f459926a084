"""Free-text search and whitelisted ordering for Django and MongoEngine querysets."""

import operator
from datetime import UTC
from functools import reduce

import django_filters
from django import forms
from django.utils.translation import gettext as _
from mongoengine.queryset import QuerySet as MongoQuerySet
from mongoengine.queryset.visitor import Q as MongoQ
from rest_framework import filters
from rest_framework.exceptions import ValidationError


class SearchFilter(filters.SearchFilter):
    """`?search=` over the view's `search_fields`; MongoEngine querysets get a
    case-insensitive `icontains` over the same fields."""

    def filter_queryset(self, request, queryset, view):
        if not isinstance(queryset, MongoQuerySet):
            return super().filter_queryset(request, queryset, view)
        fields = getattr(view, "search_fields", None)
        terms = self.get_search_terms(request)
        if not fields or not terms:
            return queryset
        for term in terms:
            queryset = queryset.filter(
                reduce(operator.or_, (MongoQ(**{f"{field}__icontains": term}) for field in fields))
            )
        return queryset


class OrderingFilter(filters.OrderingFilter):
    """`?ordering=field,-field` limited to the view's `ordering_fields`; anything else is a
    400 naming the allowed fields. A unique tie-breaker keeps pages stable."""

    tie_breaker = "-id"

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        allowed = list(getattr(view, "ordering_fields", None) or [])
        if params is None:
            return self._with_tie_breaker(self.get_default_ordering(view) or [], view)
        terms = [term.strip() for term in params.split(",") if term.strip()]
        unknown = [term for term in terms if term.lstrip("-") not in allowed]
        if unknown or not terms:
            raise ValidationError(
                {
                    self.ordering_param: [
                        _("Unknown ordering field(s): %(fields)s. Allowed: %(allowed)s.")
                        % {"fields": ", ".join(unknown) or "''", "allowed": ", ".join(allowed)}
                    ]
                }
            )
        return self._with_tie_breaker(terms, view)

    def _with_tie_breaker(self, ordering, view):
        ordering = list(ordering)
        tie = getattr(view, "ordering_tie_breaker", self.tie_breaker)
        if tie and tie.lstrip("-") not in {term.lstrip("-") for term in ordering}:
            ordering.append(tie)
        return ordering

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        return queryset.order_by(*ordering) if ordering else queryset


class UtcIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """ISO 8601 instant, normalised to UTC: any valid offset (`+05:00`, `Z`) is accepted
    and the database never sees an offset or a year it would refuse."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class StrictBooleanField(forms.Field):
    """`true`/`false` (also `1`/`0`); anything else is an error, never silently ignored."""

    _VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        try:
            return self._VALUES[str(value).lower()]
        except KeyError:
            raise forms.ValidationError(_("Must be true or false.")) from None


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class CreatedRangeFilterSet(django_filters.FilterSet):
    """`created_after` (inclusive) / `created_before` (exclusive), ISO 8601, over `created_at`."""

    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

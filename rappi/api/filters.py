"""Free-text search and whitelisted ordering for Django and MongoEngine querysets, and
the strict filter fields every FilterSet uses: a typed parameter that is present must
parse (an empty value included), and integers fit in 64 bits."""

import operator
import re
import weakref
from datetime import UTC
from functools import reduce

import django_filters
from django import forms
from django.db.models import Q
from django.utils.encoding import force_str
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from mongoengine.queryset import QuerySet as MongoQuerySet
from mongoengine.queryset.visitor import Q as MongoQ
from rest_framework import filters
from rest_framework.exceptions import ValidationError

from rappi.console.widgets import BooleanSelect, LimaDateTimeInput

# The largest id (and integer filter value) PostgreSQL's bigint and SQLite can hold: SQLite
# raises OverflowError binding anything larger, so it is refused before any query.
INT64_MAX = 2**63 - 1
EMPTY_VALUE_MESSAGE = gettext_lazy("Give a value, or leave the parameter out.")


class SearchFilter(filters.SearchFilter):
    """`?search=` over the view's `search_fields`; MongoEngine querysets get a
    case-insensitive `icontains` over the same fields. Views without `search_fields` take
    no `search` (it would be silently ignored)."""

    def query_param_names(self, view) -> set[str]:
        return {self.search_param} if getattr(view, "search_fields", None) else set()

    def get_schema_operation_parameters(self, view):
        if not self.query_param_names(view):
            return []
        return super().get_schema_operation_parameters(view)

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

    def query_param_names(self, view) -> set[str]:
        return {self.ordering_param} if getattr(view, "ordering_fields", None) else set()

    def get_schema_operation_parameters(self, view):
        fields = list(getattr(view, "ordering_fields", None) or [])
        if not fields:
            return []
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": force_str(self.ordering_description)
                + " "
                + _("Comma-separated; `-` before a field reverses it."),
                "schema": {
                    "type": "array",
                    "items": {
                        "type": "string",
                        "enum": [term for field in fields for term in (field, f"-{field}")],
                    },
                },
                "style": "form",
                "explode": False,
            }
        ]

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


class RefusesEmptyMixin:
    """For the form field of a typed filter: `?name=` is an error, not "no filter" (which
    is what django-filter makes of it), so a client's blank value is never silently
    dropped. A parameter left out is still no filter."""

    def clean(self, value):
        values = value if isinstance(value, list | tuple) else [value]
        if any(item == "" for item in values):
            raise forms.ValidationError(EMPTY_VALUE_MESSAGE, code="empty")
        return super().clean(value)


class StrictIntegerField(RefusesEmptyMixin, forms.IntegerField):
    """Plain ASCII digits with an optional minus, within the field's bounds; not the
    other spellings int() or Django take (`1_0`, full-width digits, `1.0`)."""

    _INTEGER = re.compile(r"-?[0-9]{1,1000}")  # longer is no number anyone means

    def to_python(self, value):
        if value in self.empty_values:
            return None
        text = str(value)
        if not self._INTEGER.fullmatch(text):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return int(text)


class IntegerFilter(django_filters.Filter):
    """A whole-number filter between `min_value` and `max_value` (at most 2**63 - 1),
    declared so in the schema; anything else is a 400 before the database is asked."""

    field_class = StrictIntegerField

    def __init__(self, *args, min_value: int = 1, max_value: int = INT64_MAX, **kwargs):
        if max_value > INT64_MAX:
            raise ValueError("An integer filter cannot go past 2**63 - 1.")
        super().__init__(*args, min_value=min_value, max_value=max_value, **kwargs)
        schema = {"type": "integer", "minimum": min_value, "maximum": max_value}
        if max_value > 2**31 - 1:
            schema["format"] = "int64"
        extend_schema_field(schema)(self)  # type: ignore[type-var]  # a filter, not a function


class IdFilter(IntegerFilter):
    """A relational id: 1 to 2**63 - 1."""


class StrictChoiceField(RefusesEmptyMixin, django_filters.fields.ChoiceField):
    pass


class StrictChoiceFilter(django_filters.ChoiceFilter):
    field_class = StrictChoiceField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("empty_label", gettext_lazy("Any"))  # a form's "no filter" choice
        super().__init__(*args, **kwargs)


class StrictMultipleChoiceField(RefusesEmptyMixin, django_filters.fields.MultipleChoiceField):
    pass


class StrictMultipleChoiceFilter(django_filters.MultipleChoiceFilter):
    field_class = StrictMultipleChoiceField


class UtcIsoDateTimeField(RefusesEmptyMixin, django_filters.fields.IsoDateTimeField):
    """ISO 8601 instant, normalised to UTC: any valid offset (`+05:00`, `Z`) is accepted
    and the database never sees an offset or a year it would refuse."""

    widget = LimaDateTimeInput  # in a console form: a date-time picker in Lima time

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


class StrictBooleanField(RefusesEmptyMixin, forms.Field):
    """`true`/`false` (also `1`/`0`); anything else is an error, never silently ignored."""

    widget = BooleanSelect  # in a console form: Any / Yes / No

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
    field_class = StrictBooleanField  # type: ignore[assignment]  # not a NullBooleanField


class TextSearchFilter(django_filters.CharFilter):
    """`search`: rows where every word of the query is found (case-insensitive) in one of
    `fields`, as DRF's `?search=` reads it; shared by the API and the console's lists."""

    def __init__(self, *, fields: list[str], **kwargs):
        self.search_fields = fields
        kwargs.setdefault("label", gettext_lazy("Search"))
        super().__init__(**kwargs)

    def filter(self, qs, value):
        terms = (value or "").replace(",", " ").split()
        for term in terms:
            qs = qs.filter(
                reduce(operator.or_, (Q(**{f"{f}__icontains": term}) for f in self.search_fields))
            )
        # A search through a relation may meet a row several times.
        return qs.distinct() if terms and any("__" in f for f in self.search_fields) else qs


# Per FilterSet class, weakly: a view's `filterset_fields` makes a new class per request.
_PARAM_NAMES: weakref.WeakKeyDictionary[type, frozenset[str]] = weakref.WeakKeyDictionary()


def filterset_param_names(filterset_class) -> frozenset[str]:
    """The query parameters a FilterSet reads: a range filter reads one per suffix. (Its
    filters are declared on the class, so this is worked out once per class.)"""
    names = _PARAM_NAMES.get(filterset_class)
    if names is None:
        found: set[str] = set()
        for name, declared in filterset_class.base_filters.items():
            suffixes = getattr(getattr(declared.field_class, "widget", None), "suffixes", None)
            found |= {f"{name}_{suffix}" if suffix else name for suffix in suffixes or [""]}
        names = _PARAM_NAMES[filterset_class] = frozenset(found)
    return names


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, except that a request naming none of the FilterSet's
    parameters gets the queryset as it is: no filter would apply, and building the
    FilterSet's form (a deep copy of every field) was a tenth of a plain list request."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or filterset_param_names(filterset_class).isdisjoint(
            request.query_params
        ):
            return queryset
        return super().filter_queryset(request, queryset, view)


class CreatedRangeFilterSet(django_filters.FilterSet):
    """`created_after` (inclusive) / `created_before` (exclusive), ISO 8601, over `created_at`."""

    created_after = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label=gettext_lazy("Created from")
    )
    created_before = UtcIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", label=gettext_lazy("Created before")
    )

"""Console lists of MongoDB documents (the audit log, the inbox, geofences and their
events). They have no FilterSet: the API reads their query with a query serializer, and so
does the page — a plain form only shows the fields, the serializer decides what a value
means and which are refused, and its validated data goes to the same selector as the
API's. Also: paging over querysets read one after another, and the page a MongoDB outage
answers."""

from functools import wraps

from django.http import QueryDict
from django.shortcuts import render
from pymongo.errors import ConnectionFailure
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings


class QueryFilters:
    """`form_class`'s fields read from the page's query (blank ones left out, as the API's
    filters refuse an empty value) and validated by `serializer_class`. Invalid input:
    `is_valid()` is False and the serializer's messages sit on the form's fields, for
    console/_filters.html to show (the list then shows no rows, never an unfiltered one)."""

    def __init__(self, serializer_class, form_class, request):
        data = QueryDict(mutable=True)
        for name in form_class.base_fields:
            kept = [value for value in request.GET.getlist(name) if value.strip()]
            if kept:
                data.setlist(name, kept)
        self.form = form_class(data)
        # The form's fields accept any text; it is validated only to hold the errors.
        self.form.is_valid()
        serializer = serializer_class(data=data)
        self._valid = serializer.is_valid()
        self.data = dict(serializer.validated_data) if self._valid else {}
        for name, errors in serializer.errors.items():
            field = name if name in self.form.fields else None
            for message in _messages(errors):
                if field is None and name != api_settings.NON_FIELD_ERRORS_KEY:
                    message = f"{name}: {message}"
                self.form.add_error(field, message)

    def is_valid(self) -> bool:
        return self._valid


def _messages(errors) -> list[str]:
    if isinstance(errors, dict):
        return [message for value in errors.values() for message in _messages(value)]
    if isinstance(errors, list):
        return [message for value in errors for message in _messages(value)]
    return [str(errors)] if isinstance(errors, ErrorDetail | str) else []


class Chained:
    """Querysets read one after another as one list, for Django's Paginator: `count()` adds
    their counts, a slice reads from each only the rows it needs. A page costs one count per
    queryset and at most one query each, whatever its size."""

    def __init__(self, *querysets):
        self.querysets = querysets
        self._counts = None

    def counts(self) -> list[int]:
        if self._counts is None:
            self._counts = [queryset.count() for queryset in self.querysets]
        return self._counts

    def count(self) -> int:
        return sum(self.counts())

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("Chained supports plain slices only")
        start, stop, _step = index.indices(self.count())
        found, offset = [], 0
        for queryset, size in zip(self.querysets, self.counts(), strict=True):
            low, high = max(start - offset, 0), min(stop - offset, size)
            if low < high:
                found.extend(queryset[low:high])
            offset += size
        return found


def mongo_backed(view):
    """A page reading MongoDB answers 503 with a plain explanation while it is unreachable
    (the navigation and the rest of the console keep working)."""

    @wraps(view)
    def page(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ConnectionFailure:
            return render(request, "console/mongo_unavailable.html", status=503)

    return page

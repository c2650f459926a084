"""Query parameters are taken as documented, and nothing else.

An endpoint's parameters are the ones its OpenAPI operation lists, gathered from the same
declarations drf-spectacular reads: the list's FilterSet, `search` and `ordering` when the
view has `search_fields` / `ordering_fields`, `page` and `page_size` when it paginates, and
whatever `@extend_schema(parameters=...)` names (query serializers, OpenApiParameters).
Any other parameter is a 400 `invalid` naming the allowed ones (see
rappi.api.permissions.DeclaredQueryParameters): an ignored `?scheduled_after=` would
otherwise read as "no orders"."""

import inspect

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.plumbing import force_instance, is_basic_serializer
from drf_spectacular.utils import OpenApiParameter
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.schemas.inspectors import DefaultSchema
from rest_framework.settings import api_settings

from rappi.api.filters import EMPTY_VALUE_MESSAGE, filterset_param_names


class QuerySerializer(serializers.Serializer):
    """Query parameters read with a serializer. A typed parameter that is present needs a
    value: DRF reads `?limit=` as "not sent" and falls back to the default, so a blank
    would silently mean something else. Free-text parameters (a plain CharField) may be
    empty."""

    def to_internal_value(self, data):
        blank = {
            name: [EMPTY_VALUE_MESSAGE]
            for name, field in self.fields.items()
            if not field.read_only
            and type(field) is not serializers.CharField
            and "" in _values(data, name)
        }
        try:
            validated = super().to_internal_value(data)
        except ValidationError as exc:
            raise ValidationError({**exc.detail, **blank}) from None
        if blank:
            raise ValidationError(blank)
        return validated


def _values(data, name: str) -> list:
    if hasattr(data, "getlist"):
        return data.getlist(name)
    return [data[name]] if name in data else []


def allowed_query_params(view, method: str) -> frozenset[str] | None:
    """The query parameters `view` documents for `method` (HEAD as GET); None when the
    view has no handler for the method (405 follows, whatever the parameters)."""
    method = "GET" if method == "HEAD" else method
    action = getattr(view, "action", None)
    if isinstance(view, viewsets.ViewSetMixin):
        if action is None:
            return None
        listing = action == "list"
    else:
        if not hasattr(view, method.lower()):
            return None
        listing = isinstance(view, mixins.ListModelMixin)
    names = set(_documented_params(view, action, method))
    if method != "GET":
        return frozenset(names)
    if listing:
        for backend in getattr(view, "filter_backends", None) or []:
            names |= _backend_param_names(backend, view)
    # A list, or a collection action that pages its own results (`containing`, `events`).
    paginator = getattr(view, "paginator", None)
    if paginator is not None and action != "retrieve":
        names |= {paginator.page_query_param, paginator.page_size_query_param}
    return frozenset(names)


def _backend_param_names(backend_class, view) -> set[str]:
    backend = backend_class()
    if isinstance(backend, DjangoFilterBackend):
        filterset_class = backend.get_filterset_class(view, _filterset_queryset(view))
        return set(filterset_param_names(filterset_class)) if filterset_class else set()
    if hasattr(backend, "query_param_names"):
        return set(backend.query_param_names(view))
    return {param["name"] for param in backend.get_schema_operation_parameters(view)}


def _filterset_queryset(view):
    # Only `filterset_fields` needs the queryset (to build the FilterSet); it is lazy.
    return view.get_queryset() if getattr(view, "filterset_fields", None) else None


# (view class, action, method) -> documented names: declarations are static.
_DOCUMENTED: dict[tuple, frozenset[str]] = {}


def _documented_params(view, action, method) -> frozenset[str]:
    key = (type(view), action, method)
    if key not in _DOCUMENTED:
        _DOCUMENTED[key] = _read_documented_params(view, action, method)
    return _DOCUMENTED[key]


def _read_documented_params(view, action, method) -> frozenset[str]:
    schema = _schema_for(type(view), action, method)
    if schema is None:
        return frozenset()
    schema.view = view
    schema.method = method
    names = set()
    for parameter in schema.get_override_parameters():
        if isinstance(parameter, OpenApiParameter):
            if parameter.location == OpenApiParameter.QUERY and not parameter.exclude:
                names.add(parameter.name)
        elif is_basic_serializer(parameter):
            # drf-spectacular documents each writable field as a query parameter.
            fields = force_instance(parameter).fields
            names |= {name for name, field in fields.items() if not field.read_only}
    return frozenset(names)


def _schema_for(view_class, action, method):
    """A fresh instance of the schema drf-spectacular would use for this operation (the
    class-level one is shared between threads, so it is never mutated here)."""
    declared = inspect.getattr_static(view_class, "schema", None)
    if declared is None or isinstance(declared, DefaultSchema):
        view_schema_class = api_settings.DEFAULT_SCHEMA_CLASS
    else:
        view_schema_class = declared if inspect.isclass(declared) else type(declared)
    if issubclass(view_class, viewsets.ViewSetMixin):
        if action is None:  # a method the viewset does not map: 405 follows
            return None
        handler = getattr(view_class, action, None)
    else:
        handler = getattr(view_class, method.lower(), None)
    action_schema = getattr(handler, "kwargs", {}).get("schema")
    if action_schema is None:
        return view_schema_class()
    schema_class = action_schema if inspect.isclass(action_schema) else type(action_schema)
    if not issubclass(schema_class, view_schema_class):
        # As drf-spectacular's generator does: the method's annotation over the view's.
        mro = (
            tuple(
                cls
                for cls in schema_class.__mro__
                if cls not in api_settings.DEFAULT_SCHEMA_CLASS.__mro__
            )
            + view_schema_class.__mro__
        )
        schema_class = type("ExtendedRearrangedSchema", mro, {})
    return schema_class()

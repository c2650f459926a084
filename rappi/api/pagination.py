from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import pagination
from rest_framework.exceptions import ValidationError

from rappi.api.filters import INT64_MAX


def _positive_int(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    # Plain digits only, and no more than an id holds: `?page=` is not "page 1".
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 19 else 0
    if not 1 <= value <= INT64_MAX:
        raise ValidationError(
            {name: [_("Must be a whole number from 1 to %(max)d.") % {"max": INT64_MAX}]}
        )
    return value


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=&page_size=` (default 25, capped at API_MAX_PAGE_SIZE) →
    `{count, next, previous, results}`. A malformed page or page size is a 400; a page
    past the end is a 404."""

    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:  # type: ignore[override]  # the setting at each request
        return settings.API_MAX_PAGE_SIZE

    def paginate_queryset(self, queryset, request, view=None):
        _positive_int(request, self.page_query_param)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):
        bounds = {
            self.page_query_param: {"minimum": 1, "maximum": INT64_MAX},
            # Larger sizes are capped rather than refused, but never answered.
            self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size},
        }
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters

    def get_page_size(self, request) -> int | None:
        requested = _positive_int(request, self.page_size_query_param)
        if requested is None:
            return self.page_size
        return min(requested, self.max_page_size)

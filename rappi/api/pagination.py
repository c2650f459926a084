from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import pagination
from rest_framework.exceptions import ValidationError


def _positive_int(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    value = int(raw) if raw.isascii() and raw.isdigit() else 0
    if value < 1:
        raise ValidationError({name: [_("Must be a positive integer.")]})
    return value


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=&page_size=` (default 25, capped at API_MAX_PAGE_SIZE) →
    `{count, next, previous, results}`. A malformed page or page size is a 400; a page
    past the end is a 404."""

    page_size_query_param = "page_size"

    @property
    def max_page_size(self) -> int:
        return settings.API_MAX_PAGE_SIZE

    def paginate_queryset(self, queryset, request, view=None):
        _positive_int(request, self.page_query_param)
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request) -> int:
        requested = _positive_int(request, self.page_size_query_param)
        if requested is None:
            return self.page_size
        return min(requested, self.max_page_size)

"""Lists of the console: a FilterSet bound to the page's query (the same FilterSets as
the API), and a page of its rows."""

from django.core.paginator import Paginator
from django.http import QueryDict
from django.utils.functional import cached_property
from mongoengine.queryset.base import BaseQuerySet

PAGE_SIZE = 25


def filtered(filterset_class, request, queryset):
    """The FilterSet bound to the query string without its blank fields (an HTML form
    sends every field; the API's filters refuse an empty value) and without the paging
    parameter. Invalid input leaves `filterset.is_valid()` False: the page shows the
    errors and no rows, never a silently unfiltered list."""
    data = QueryDict(mutable=True)
    for key, values in request.GET.lists():
        if key == "page":
            continue
        # NUL cannot reach PostgreSQL; nobody types it into a filter.
        kept = [value.replace("\x00", "") for value in values if value.strip("\x00 \t\n")]
        if kept:
            data.setlist(key, kept)
    return filterset_class(data, queryset=queryset, request=request)


class ListPaginator(Paginator):
    """Django's Paginator counts with `count()` only when it takes no argument, else with
    `len()`; MongoEngine's takes one (`with_limit_and_skip`), so a MongoDB list would be
    read whole just to be counted. Here it is counted by the server."""

    @cached_property
    def count(self) -> int:
        if isinstance(self.object_list, BaseQuerySet):
            return self.object_list.count()
        return super().count


def page_of(request, queryset, *, per_page: int = PAGE_SIZE, param: str = "page"):
    """The requested page of `queryset` (the last one when past the end, the first when
    not a number); `param` names the page's query parameter."""
    return ListPaginator(queryset, per_page).get_page(request.GET.get(param))


def rows(filterset):
    """The filtered rows, or none when the filters are invalid."""
    return filterset.qs if filterset.is_valid() else filterset.queryset.none()

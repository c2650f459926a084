"""What every viewset over the caller's rows would otherwise repeat."""

from collections.abc import Callable

from django.db.models import Model, QuerySet

from rappi.precompiled import PrecompiledRows


# A viewset over the rows its caller may see, named by two selectors of its app:
# `list_selector(user=…)`, the rows (what lists and filters start from), and
# `get_selector(user=…, pk=…)`, one of them (404 outside the caller's scope). Schema
# generation has no caller: it gets an empty queryset of `scoped_model`, whose fields it
# reads for the filters and path ids.
#
#     scoped_model = Vehicle
#     list_selector = staticmethod(selectors.vehicle_list_for)
#     get_selector = staticmethod(selectors.vehicle_get_for)
#
# A list of rows may also be read through SQL compiled once per scope when a request only
# pages it (no filter, search or ordering parameter): `plain_list =
# PrecompiledRows(Order, users=("user",))`, and `list` pages `self.list_rows()`. The rows
# are the selector's as the filter backends leave them without parameters (ordered),
# compiled with a stand-in caller (see `rappi.precompiled`).
#
# (Said here, not in a docstring: drf-spectacular would show a docstring as the description
# of every viewset that has none of its own.)
class ScopedViewSetMixin:
    scoped_model: type[Model]
    list_selector: Callable[..., QuerySet]
    get_selector: Callable[..., Model]
    plain_list: PrecompiledRows | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Compiled SQL is the class's own: a subclass may order or select otherwise.
        inherited = cls.plain_list
        if inherited is not None and "plain_list" not in cls.__dict__:
            cls.plain_list = PrecompiledRows(
                inherited.model, ids=inherited.ids, users=inherited.users
            )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return self.scoped_model._default_manager.none()
        return self.list_selector(user=self.request.user)

    def get_object(self):
        return self.get_selector(
            user=self.request.user, pk=self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        )

    def list_rows(self):
        """What `list` pages (a QuerySet, or CompiledRows): the selector's rows through the
        filter backends."""
        if self.plain_list is not None and self._only_pages():
            return self.plain_list.rows(build=self._filtered_rows, user=self.request.user)
        return self.filter_queryset(self.get_queryset())

    def _filtered_rows(self, *, user):
        # The stand-in is the request's user too while the read compiles: a backend that
        # narrowed by `request.user` would then give the two builds different values, and
        # be refused, rather than freeze the first caller's id into the SQL.
        request, caller = self.request, self.request.user
        request.user = user
        try:
            return self.filter_queryset(self.list_selector(user=user))
        finally:
            request.user = caller

    def _only_pages(self):
        paginator = self.paginator
        paging = {
            getattr(paginator, "page_query_param", None),
            getattr(paginator, "page_size_query_param", None),
        }
        if None in paging:  # no paginator, or one that pages otherwise
            return False
        return all(name in paging for name in self.request.query_params)

"""What every viewset over the caller's rows would otherwise repeat."""

from collections.abc import Callable

from django.db.models import Model, QuerySet


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
# (Said here, not in a docstring: drf-spectacular would show a docstring as the description
# of every viewset that has none of its own.)
class ScopedViewSetMixin:
    scoped_model: type[Model]
    list_selector: Callable[..., QuerySet]
    get_selector: Callable[..., Model]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return self.scoped_model._default_manager.none()
        return self.list_selector(user=self.request.user)

    def get_object(self):
        return self.get_selector(
            user=self.request.user, pk=self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        )

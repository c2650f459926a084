"""Filters of the user list, shared by the API and the server-rendered pages."""

import django_filters

from identity.models import User
from rappi.api.filters import CreatedRangeFilterSet, StrictBooleanFilter


class UserFilter(CreatedRangeFilterSet):
    role = django_filters.CharFilter(field_name="role__name")
    is_active = StrictBooleanFilter()

    class Meta:
        model = User
        fields = ["role", "is_active"]

"""Filters of the vehicle, driver, run and incident lists, shared by the API and the
server-rendered pages."""

import django_filters
from django.utils.translation import gettext_lazy as _

from fleet.models import (
    Assignment,
    AssignmentStatus,
    Availability,
    Driver,
    Incident,
    IncidentOrigin,
    IncidentType,
    Vehicle,
    VehicleStatus,
    VehicleType,
)
from rappi.api.filters import (
    CreatedRangeFilterSet,
    IdFilter,
    IntegerFilter,
    StrictBooleanFilter,
    StrictChoiceFilter,
    TextSearchFilter,
    UtcIsoDateTimeFilter,
)


class VehicleFilter(django_filters.FilterSet):
    search = TextSearchFilter(fields=["plate"], help_text="Plate")
    status = StrictChoiceFilter(choices=VehicleStatus.choices, label=_("Status"))
    type = StrictChoiceFilter(choices=VehicleType.choices, label=_("Type"))
    is_active = StrictBooleanFilter(label=_("Active"))

    class Meta:
        model = Vehicle
        fields = ["search", "status", "type", "is_active"]


class DriverFilter(django_filters.FilterSet):
    search = TextSearchFilter(
        fields=["user__full_name", "user__email", "licence_number", "phone"],
        help_text="Name, email, licence or phone",
    )
    availability = StrictChoiceFilter(choices=Availability.choices, label=_("Availability"))
    is_active = StrictBooleanFilter(label=_("Active"))
    vehicle_id = IdFilter(label=_("Vehicle id"))

    class Meta:
        model = Driver
        fields = ["search", "availability", "is_active", "vehicle_id"]


class AssignmentFilter(django_filters.FilterSet):
    search = TextSearchFilter(
        fields=["driver__user__full_name", "vehicle__plate"], help_text="Driver name or plate"
    )
    status = StrictChoiceFilter(choices=AssignmentStatus.choices, label=_("Status"))
    driver_id = IdFilter(label=_("Driver id"))
    vehicle_id = IdFilter(label=_("Vehicle id"))
    order_id = IdFilter(field_name="orders__id", label=_("Order id"))

    class Meta:
        model = Assignment
        fields = ["search", "status", "driver_id", "vehicle_id", "order_id"]


class IncidentFilter(CreatedRangeFilterSet):
    # Severity runs 1 (minor) to 5, as the incident table's check constraint says.
    severity = IntegerFilter(min_value=1, max_value=5, label=_("Severity"))
    severity_min = IntegerFilter(
        field_name="severity",
        lookup_expr="gte",
        min_value=1,
        max_value=5,
        label=_("Minimum severity"),
    )
    type = StrictChoiceFilter(choices=IncidentType.choices, label=_("Type"))
    origin = StrictChoiceFilter(choices=IncidentOrigin.choices, label=_("Origin"))
    assignment_id = IdFilter(label=_("Run"))
    # The range of CreatedRangeFilterSet, with the words a dispatcher reads on the board;
    # a time picked is Lima's.
    created_after = UtcIsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        label=_("Reported from"),
        help_text="Reported at or after this instant (ISO 8601)",
    )
    created_before = UtcIsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="lt",
        label=_("Reported before"),
        help_text="Reported before this instant (ISO 8601)",
    )

    class Meta:
        model = Incident
        fields = ["severity", "severity_min", "type", "origin", "assignment_id"]

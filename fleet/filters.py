"""Filters of the vehicle, driver, run and incident lists, shared by the API and the
server-rendered pages."""

import django_filters

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
from rappi.api.filters import IdFilter, IntegerFilter, StrictBooleanFilter, StrictChoiceFilter


class VehicleFilter(django_filters.FilterSet):
    status = StrictChoiceFilter(choices=VehicleStatus.choices)
    type = StrictChoiceFilter(choices=VehicleType.choices)
    is_active = StrictBooleanFilter()

    class Meta:
        model = Vehicle
        fields = ["status", "type", "is_active"]


class DriverFilter(django_filters.FilterSet):
    availability = StrictChoiceFilter(choices=Availability.choices)
    is_active = StrictBooleanFilter()
    vehicle_id = IdFilter()

    class Meta:
        model = Driver
        fields = ["availability", "is_active", "vehicle_id"]


class AssignmentFilter(django_filters.FilterSet):
    status = StrictChoiceFilter(choices=AssignmentStatus.choices)
    driver_id = IdFilter()
    vehicle_id = IdFilter()
    order_id = IdFilter(field_name="orders__id")

    class Meta:
        model = Assignment
        fields = ["status", "driver_id", "vehicle_id", "order_id"]


class IncidentFilter(django_filters.FilterSet):
    assignment_id = IdFilter()
    type = StrictChoiceFilter(choices=IncidentType.choices)
    origin = StrictChoiceFilter(choices=IncidentOrigin.choices)
    # Severity runs 1 (minor) to 5, as the incident table's check constraint says.
    severity = IntegerFilter(min_value=1, max_value=5)
    severity_min = IntegerFilter(field_name="severity", lookup_expr="gte", min_value=1, max_value=5)

    class Meta:
        model = Incident
        fields = ["assignment_id", "type", "origin", "severity", "severity_min"]

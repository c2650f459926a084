from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from rappi.api.fields import utc_datetime
from rappi.api.filters import INT64_MAX
from rappi.api.parsers import JSON_MAX_DEPTH, depth_exceeds
from rappi.api.query import QuerySerializer
from tracking.documents import GEOFENCE_EVENT_TYPES, GEOFENCE_KINDS
from tracking.geofences import ZONE_KINDS, polygon_errors

POLYGON_SCHEMA = {
    "type": "object",
    "description": "GeoJSON Polygon: the outline, then any holes; [lng, lat] positions, "
    "each ring closed (last position = first) with at least 4 positions",
    "properties": {
        "type": {"type": "string", "enum": ["Polygon"]},
        "coordinates": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "array",
                "minItems": 4,
                "items": {
                    "type": "array",
                    "minItems": 2,
                    "maxItems": 2,
                    "items": {"type": "number"},
                },
            },
        },
    },
    "required": ["type", "coordinates"],
}


@extend_schema_field(POLYGON_SCHEMA)
class PolygonField(serializers.JSONField):
    """A GeoJSON Polygon, checked as `tracking.geofences.polygon_errors` says. Given as
    text (the console's form), it is held to the API parser's nesting limit too."""

    def to_internal_value(self, data):
        try:
            data = super().to_internal_value(data)
            too_deep = depth_exceeds(data, JSON_MAX_DEPTH)
        except RecursionError:
            too_deep = True
        if too_deep:
            raise serializers.ValidationError(
                _("Nested deeper than %(limit)d levels.") % {"limit": JSON_MAX_DEPTH}
            )
        errors = polygon_errors(data)
        if errors:
            raise serializers.ValidationError(errors)
        return data


@extend_schema_field(OpenApiTypes.DOUBLE)
class _CoordinateField(serializers.Field):
    """One coordinate of a stored GeoJSON Point (0: lng, 1: lat)."""

    def __init__(self, index: int, **kwargs):
        self.index = index
        super().__init__(source="location", read_only=True, **kwargs)

    def to_representation(self, value):
        return value["coordinates"][self.index]


# --- Geofences -------------------------------------------------------------------------------


class GeofenceOutput(serializers.Serializer):
    id = serializers.CharField(source="pk")
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=GEOFENCE_KINDS)
    geometry = PolygonField()
    active = serializers.BooleanField()
    tolerance_m = serializers.FloatField(
        allow_null=True,
        help_text="Corridors: their width each side of the route. Other zones: a border "
        "band; a fix this close to the border (beyond its accuracy) changes nothing",
    )
    order_id = serializers.IntegerField(allow_null=True)
    route_id = serializers.IntegerField(allow_null=True)
    assignment_id = serializers.IntegerField(allow_null=True)
    created_at = utc_datetime()
    updated_at = utc_datetime()


class GeofenceInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(
        choices=ZONE_KINDS, help_text="Route corridors come with their run's route"
    )
    geometry = PolygonField()
    active = serializers.BooleanField(default=True)
    tolerance_m = serializers.FloatField(
        min_value=0, max_value=1000, allow_null=True, required=False, default=None
    )


class GeofenceUpdateInput(serializers.Serializer):
    """PUT sends name, kind and geometry (active and tolerance_m keep theirs when left
    out); PATCH any of them. A route corridor changes only its name and active flag."""

    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=GEOFENCE_KINDS)
    geometry = PolygonField()
    active = serializers.BooleanField(required=False)
    tolerance_m = serializers.FloatField(
        min_value=0, max_value=1000, allow_null=True, required=False
    )


class GeofenceFilterInput(QuerySerializer):
    kind = serializers.ChoiceField(choices=GEOFENCE_KINDS, required=False)
    active = serializers.BooleanField(required=False, allow_null=True, default=None)


class ContainingInput(QuerySerializer):
    lat = serializers.FloatField(min_value=-90, max_value=90)
    lng = serializers.FloatField(min_value=-180, max_value=180)
    kind = serializers.ChoiceField(choices=GEOFENCE_KINDS, required=False)


# --- Events ----------------------------------------------------------------------------------


class GeofenceEventOutput(serializers.Serializer):
    id = serializers.CharField(source="pk")
    geofence_id = serializers.CharField()
    geofence_kind = serializers.ChoiceField(choices=GEOFENCE_KINDS)
    driver_id = serializers.IntegerField()
    assignment_id = serializers.IntegerField()
    type = serializers.ChoiceField(choices=GEOFENCE_EVENT_TYPES)
    at = utc_datetime(help_text="Device time of the first fix on the new side")
    confirmed_at = utc_datetime(help_text="Device time of the fix that confirmed it")
    lat = _CoordinateField(1)
    lng = _CoordinateField(0)
    incident_id = serializers.IntegerField(
        allow_null=True, help_text="The route-deviation incident a corridor exit raised"
    )


class GeofenceEventFilterInput(QuerySerializer):
    type = serializers.ChoiceField(choices=GEOFENCE_EVENT_TYPES, required=False)
    driver_id = serializers.IntegerField(min_value=1, max_value=INT64_MAX, required=False)
    assignment_id = serializers.IntegerField(min_value=1, max_value=INT64_MAX, required=False)
    since = utc_datetime(required=False, help_text="Inclusive, by `at` (ISO 8601)")
    until = utc_datetime(required=False, help_text="Exclusive, by `at` (ISO 8601)")
    ordering = serializers.ChoiceField(choices=("at", "-at"), default="-at")

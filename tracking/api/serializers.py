from django.utils.translation import gettext as _
from rest_framework import serializers

from fleet.api.serializers import EvidenceOutput, StopOutput
from rappi.api.fields import utc_datetime
from rappi.api.filters import INT64_MAX
from rappi.api.inputs import validated
from rappi.api.query import QuerySerializer
from tracking.documents import GEOFENCE_KINDS
from tracking.pings import REASONS, Fix, check_batch_size

# --- Ingest ----------------------------------------------------------------------------------


class PingInput(serializers.Serializer):
    """One fix. Values that are well formed but wrong (out of range, in the future, too
    inaccurate…) are not a 400: the fix is rejected with a reason in a 202."""

    assignment_id = serializers.IntegerField(
        min_value=1,
        max_value=INT64_MAX,
        required=False,
        help_text="The run; may be given once for a whole batch instead.",
    )
    lat = serializers.FloatField(help_text="WGS84 degrees")
    lng = serializers.FloatField(help_text="WGS84 degrees")
    recorded_at = utc_datetime(help_text="Device time of the fix (ISO 8601)")
    # Out of range is a per-fix rejection (202), not a 400: one bad value must not cost
    # the rest of a buffered batch.
    speed_kmh = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="≥ 0; -1 means unknown (stored as null); another negative value rejects "
        "the fix (`invalid_speed`)",
    )
    heading = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="Degrees clockwise from north, 0 ≤ heading < 360; -1 means unknown (stored "
        "as null); another value rejects the fix (`invalid_heading`)",
    )
    accuracy_m = serializers.FloatField(
        required=False, allow_null=True, help_text="Radius of the fix's uncertainty, metres"
    )
    client_id = serializers.CharField(
        required=False,
        allow_null=True,
        min_length=1,
        max_length=64,
        help_text="The phone's own id for the fix; a repeated one is a duplicate",
    )


class PingBatchInput(serializers.Serializer):
    assignment_id = serializers.IntegerField(min_value=1, max_value=INT64_MAX, required=False)
    pings = PingInput(many=True, allow_empty=False, help_text="At most 500 fixes (else 413)")


def batch_size(data) -> int:
    pings = data.get("pings") if isinstance(data, dict) else None
    return len(pings) if isinstance(pings, list) else 1


def parse_fixes(data) -> tuple[int, list[Fix]]:
    """(run id, fixes) of a one-fix or batch body: 413 `payload_too_large` past the batch
    limit (before any fix is read), 400 `invalid` for a malformed body."""
    check_batch_size(batch_size(data))
    batch = isinstance(data, dict) and "pings" in data
    fields = validated(PingBatchInput if batch else PingInput, data)
    items = fields["pings"] if batch else [fields]
    run_ids = {item["assignment_id"] for item in items if "assignment_id" in item}
    if batch and "assignment_id" in fields:
        run_ids.add(fields["assignment_id"])
    if len(run_ids) != 1:
        message = (
            _("Name the run: assignment_id.")
            if not run_ids
            else _("A request carries the fixes of one run.")
        )
        raise serializers.ValidationError({"assignment_id": [message]})
    fixes = [
        Fix(
            index=index,
            lat=item["lat"],
            lng=item["lng"],
            recorded_at=item["recorded_at"],
            accuracy_m=item.get("accuracy_m"),
            speed_kmh=item.get("speed_kmh"),
            heading=item.get("heading"),
            client_id=item.get("client_id"),
        )
        for index, item in enumerate(items)
    ]
    return run_ids.pop(), fixes


class RejectedFixOutput(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the fix in the request")
    reason = serializers.ChoiceField(
        choices=REASONS,
        help_text="`out_of_range` (lat/lng), `null_island` (0, 0), `future`, "
        "`before_run_start`, `inaccurate`, `invalid_speed` (negative), `invalid_heading` "
        "(not 0 ≤ heading < 360), `duplicate`, `impossible_speed` (from the previous fix)",
    )


class PingIngestOutput(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Fixes stored")
    duplicates = serializers.IntegerField(
        help_text="Fixes already stored (also listed in `rejected` as `duplicate`)"
    )
    late = serializers.IntegerField(
        help_text="Accepted fixes older than the run's latest: stored for the track only"
    )
    rejected = RejectedFixOutput(many=True)


# --- Reads -----------------------------------------------------------------------------------


class PingOutput(serializers.Serializer):
    lat = serializers.FloatField()
    lng = serializers.FloatField()
    recorded_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField()
    speed_kmh = serializers.FloatField(allow_null=True)
    heading = serializers.FloatField(allow_null=True)
    accuracy_m = serializers.FloatField(allow_null=True)


class LastFixOutput(PingOutput):
    assignment_id = serializers.IntegerField()
    driver_id = serializers.IntegerField()
    vehicle_plate = serializers.CharField()
    age_s = serializers.FloatField(help_text="Seconds since the fix was recorded")
    stale = serializers.BooleanField(help_text="Older than GPS_STALE_AFTER_S")


class TrackQuery(QuerySerializer):
    since = utc_datetime(required=False, help_text="Recorded at or after (ISO 8601)")
    until = utc_datetime(required=False, help_text="Recorded before (ISO 8601)")
    limit = serializers.IntegerField(min_value=1, max_value=10000, default=1000)
    format = serializers.ChoiceField(
        choices=["json", "geojson"],
        default="json",
        help_text="`geojson`: one GeoJSON Feature with the track as a LineString",
    )


class LineStringOutput(serializers.Serializer):
    type = serializers.ChoiceField(choices=["LineString"])
    coordinates = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField()), help_text="[lng, lat]"
    )


class TrackPropertiesOutput(serializers.Serializer):
    assignment_id = serializers.IntegerField()
    driver_id = serializers.IntegerField()
    vehicle_plate = serializers.CharField()
    pings = serializers.IntegerField()
    recorded_at = serializers.ListField(child=serializers.DateTimeField())


class TrackFeatureOutput(serializers.Serializer):
    type = serializers.ChoiceField(choices=["Feature"])
    geometry = LineStringOutput()
    properties = TrackPropertiesOutput()


class TrackStatsOutput(serializers.Serializer):
    assignment_id = serializers.IntegerField()
    pings = serializers.IntegerField()
    distance_m = serializers.FloatField(help_text="Great-circle length in recorded order")
    duration_s = serializers.FloatField()
    avg_speed_kmh = serializers.FloatField(allow_null=True)
    first_at = serializers.DateTimeField(allow_null=True)
    last_at = serializers.DateTimeField(allow_null=True)


class FleetEntryOutput(serializers.Serializer):
    assignment_id = serializers.IntegerField()
    driver_id = serializers.IntegerField()
    driver_name = serializers.CharField()
    vehicle_id = serializers.IntegerField()
    vehicle_plate = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    lat = serializers.FloatField(allow_null=True)
    lng = serializers.FloatField(allow_null=True)
    recorded_at = serializers.DateTimeField(allow_null=True)
    speed_kmh = serializers.FloatField(allow_null=True)
    heading = serializers.FloatField(allow_null=True)
    accuracy_m = serializers.FloatField(allow_null=True)
    age_s = serializers.FloatField(allow_null=True)
    stale = serializers.BooleanField(help_text="No fix yet, or the last is too old")
    route_id = serializers.IntegerField(allow_null=True)
    route_geometry = serializers.JSONField(allow_null=True, help_text="GeoJSON LineString")


class FleetQuery(QuerySerializer):
    stale = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="Only stale (or fresh) runs"
    )


class NearbyQuery(QuerySerializer):
    lat = serializers.FloatField(min_value=-90, max_value=90)
    lng = serializers.FloatField(min_value=-180, max_value=180)
    radius_m = serializers.FloatField(min_value=1, max_value=50000, default=2000)
    window_min = serializers.IntegerField(
        min_value=1, max_value=1440, default=15, help_text="Only fixes this recent"
    )
    limit = serializers.IntegerField(min_value=1, max_value=200, default=50)


class NearbyDriverOutput(serializers.Serializer):
    driver_id = serializers.IntegerField()
    driver_name = serializers.CharField()
    availability = serializers.CharField()
    assignment_id = serializers.IntegerField(help_text="The run of the last fix")
    vehicle_plate = serializers.CharField()
    distance_m = serializers.FloatField(help_text="Great-circle metres")
    lat = serializers.FloatField()
    lng = serializers.FloatField()
    recorded_at = serializers.DateTimeField()
    age_s = serializers.FloatField()


# --- An order's tracking ---------------------------------------------------------------------


class TrackedRunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    driver_id = serializers.IntegerField()
    driver_name = serializers.CharField(source="driver.user.full_name")
    vehicle_plate = serializers.CharField(source="vehicle.plate")


class TrackedFixOutput(PingOutput):
    age_s = serializers.FloatField()
    stale = serializers.BooleanField()


class TrackedRouteOutput(serializers.Serializer):
    id = serializers.IntegerField()
    geometry = serializers.JSONField(
        allow_null=True,
        help_text="GeoJSON LineString; null for a customer when the run carries others' orders",
    )
    distance_m = serializers.FloatField()
    duration_s = serializers.FloatField()


class TrackedGeofenceOutput(serializers.Serializer):
    id = serializers.CharField(source="pk")
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=GEOFENCE_KINDS)
    geometry = serializers.JSONField(help_text="GeoJSON Polygon")
    active = serializers.BooleanField()
    tolerance_m = serializers.FloatField(allow_null=True)


class OrderTrackingOutput(serializers.Serializer):
    order_id = serializers.IntegerField()
    order_status = serializers.CharField()
    eta = serializers.DateTimeField(
        allow_null=True, help_text="Planned arrival at the order's last pending drop-off"
    )
    assignment = TrackedRunOutput(allow_null=True)
    last_fix = TrackedFixOutput(
        allow_null=True, help_text="The driver's last fix, while the order is on its way"
    )
    route = TrackedRouteOutput(allow_null=True)
    stops = StopOutput(many=True, help_text="The order's pickup and drop-offs")
    proofs = EvidenceOutput(many=True)
    geofences = TrackedGeofenceOutput(many=True, help_text="The route's corridor")

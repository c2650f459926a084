from decimal import Decimal
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from fleet.models import (
    REPORTABLE_INCIDENT_TYPES,
    Assignment,
    Availability,
    Driver,
    Incident,
    IncidentType,
    Route,
    Stop,
    Vehicle,
    VehicleStatus,
    VehicleType,
)
from orders.api.serializers import RatingOutput
from rappi.api.query import QuerySerializer
from tracking.documents import EVIDENCE_KINDS

SIDE: dict[str, Any] = {"max_digits": 6, "decimal_places": 1, "min_value": Decimal("0.1")}


class VehicleOutput(serializers.ModelSerializer):
    class Meta:
        model = Vehicle
        fields = [
            "id",
            "plate",
            "type",
            "capacity_kg",
            "length_cm",
            "width_cm",
            "height_cm",
            "status",
            "is_active",
            "created_at",
        ]
        read_only_fields = fields


class VehicleInput(serializers.Serializer):
    plate = serializers.CharField(max_length=7)
    type = serializers.ChoiceField(choices=VehicleType.choices, default=VehicleType.VAN)
    capacity_kg = serializers.DecimalField(max_digits=8, decimal_places=1, min_value=Decimal("0.1"))
    length_cm = serializers.DecimalField(**SIDE)
    width_cm = serializers.DecimalField(**SIDE)
    height_cm = serializers.DecimalField(**SIDE)
    status = serializers.ChoiceField(
        choices=VehicleStatus.choices, default=VehicleStatus.OPERATIONAL
    )
    is_active = serializers.BooleanField(required=False)

    def validate_plate(self, value: str) -> str:
        value = value.strip().upper()
        existing = Vehicle.objects.filter(plate=value)
        instance = self.context.get("instance")
        if instance is not None:
            existing = existing.exclude(pk=instance.pk)
        if existing.exists():
            raise serializers.ValidationError("A vehicle with this plate exists.")
        return value


class VehicleUpdateInput(VehicleInput):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
            field.default = serializers.empty


class DriverOutput(serializers.ModelSerializer):
    email = serializers.CharField(source="user.email")
    full_name = serializers.CharField(source="user.full_name")
    user_id = serializers.IntegerField()
    vehicle_id = serializers.IntegerField(allow_null=True)
    licence_number = serializers.CharField(allow_null=True)

    class Meta:
        model = Driver
        fields = [
            "id",
            "user_id",
            "email",
            "full_name",
            "licence_number",
            "phone",
            "availability",
            "vehicle_id",
            "is_active",
            "created_at",
        ]
        read_only_fields = fields


class _VehicleRef(serializers.PrimaryKeyRelatedField):
    def __init__(self, **kwargs):
        super().__init__(queryset=Vehicle.objects.all(), allow_null=True, **kwargs)


class DriverCreateInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    full_name = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, write_only=True)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    licence_number = serializers.RegexField(
        r"^[A-Za-z0-9-]{5,20}$", required=False, allow_null=True
    )
    vehicle_id = _VehicleRef(required=False, source="vehicle")

    def validate_licence_number(self, value):
        if (
            value
            and Driver.objects.filter(licence_number=value.upper())
            .exclude(pk=getattr(self.context.get("instance"), "pk", None))
            .exists()
        ):
            raise serializers.ValidationError("Another driver has this licence.")
        return value


class DriverUpdateInput(serializers.Serializer):
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    licence_number = serializers.RegexField(
        r"^[A-Za-z0-9-]{5,20}$", required=False, allow_null=True
    )
    availability = serializers.ChoiceField(
        choices=[Availability.AVAILABLE, Availability.BUSY], required=False
    )
    vehicle_id = _VehicleRef(required=False, source="vehicle")
    is_active = serializers.BooleanField(required=False)

    validate_licence_number = DriverCreateInput.validate_licence_number


class DriverVehicleInput(serializers.Serializer):
    vehicle_id = _VehicleRef(source="vehicle")


class DriverRatingsOutput(serializers.Serializer):
    driver_id = serializers.IntegerField()
    average = serializers.FloatField(allow_null=True)
    count = serializers.IntegerField()
    latest = RatingOutput(many=True)


class AssignmentOutput(serializers.ModelSerializer):
    driver_id = serializers.IntegerField()
    vehicle_id = serializers.IntegerField()
    order_ids = serializers.SerializerMethodField()
    route_id = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = [
            "id",
            "status",
            "driver_id",
            "vehicle_id",
            "order_ids",
            "route_id",
            "started_at",
            "finished_at",
            "cancel_reason",
            "created_at",
        ]
        read_only_fields = fields

    def get_order_ids(self, assignment) -> list[int]:
        return sorted(order.pk for order in assignment.orders.all())

    def get_route_id(self, assignment) -> int | None:
        route = getattr(assignment, "route", None)
        return route.pk if route is not None else None


class AssignmentCreateInput(serializers.Serializer):
    order_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=50,
    )
    driver_id = serializers.PrimaryKeyRelatedField(queryset=Driver.objects.all(), source="driver")
    vehicle_id = serializers.PrimaryKeyRelatedField(
        queryset=Vehicle.objects.all(), source="vehicle"
    )


class AssignmentCancelInput(serializers.Serializer):
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class AssignmentFinishInput(serializers.Serializer):
    reason = serializers.CharField(max_length=300)


class AssignmentReopenInput(serializers.Serializer):
    include_delivered = serializers.BooleanField(required=False, default=False)


class IncidentOutput(serializers.ModelSerializer):
    assignment_id = serializers.IntegerField()
    reported_by = serializers.IntegerField(source="reported_by_id", allow_null=True)
    lat = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="Where it happened, when the system knows it "
        "(a route deviation: the first fix outside the corridor); null otherwise",
    )
    lng = serializers.FloatField(read_only=True, allow_null=True, help_text="See `lat`")

    class Meta:
        model = Incident
        fields = [
            "id",
            "assignment_id",
            "type",
            "severity",
            "origin",
            "notes",
            "reported_by",
            "lat",
            "lng",
            "created_at",
        ]
        read_only_fields = fields


class IncidentCreateInput(serializers.Serializer):
    assignment_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    type = serializers.ChoiceField(choices=REPORTABLE_INCIDENT_TYPES)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class IncidentUpdateInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=IncidentType.choices, required=False)
    severity = serializers.IntegerField(min_value=1, max_value=5, required=False)
    notes = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class StopOutput(serializers.ModelSerializer):
    lat = serializers.FloatField()
    lng = serializers.FloatField()
    destination_id = serializers.IntegerField(allow_null=True)
    order_id = serializers.IntegerField(allow_null=True)

    class Meta:
        model = Stop
        fields = [
            "id",
            "sequence",
            "kind",
            "lat",
            "lng",
            "status",
            "order_id",
            "destination_id",
            "eta",
            "visited_at",
        ]
        read_only_fields = fields


class RouteOutput(serializers.ModelSerializer):
    assignment_id = serializers.IntegerField(allow_null=True)
    stops = StopOutput(many=True)

    class Meta:
        model = Route
        fields = [
            "id",
            "assignment_id",
            "geometry",
            "distance_m",
            "duration_s",
            "provider",
            "stops",
            "created_at",
        ]
        read_only_fields = fields


class RoutePlanInput(serializers.Serializer):
    """A run (`assignment_id`) or orders not yet dispatched (`order_ids`), not both."""

    assignment_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
    order_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=50,
        required=False,
    )

    def validate(self, attrs):
        if ("assignment_id" in attrs) == ("order_ids" in attrs):
            raise serializers.ValidationError(_("Give either assignment_id or order_ids."))
        return attrs


# --- Proofs and evidence -------------------------------------------------------------------------

EVIDENCE_FILES_PER_REQUEST = 10


class StoredFileOutput(serializers.Serializer):
    file_id = serializers.CharField()
    filename = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    url = serializers.SerializerMethodField()

    def get_url(self, stored) -> str:
        return reverse("files-detail", kwargs={"file_id": str(stored.file_id)})


class EvidenceOutput(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=EVIDENCE_KINDS)
    assignment_id = serializers.IntegerField(allow_null=True)
    order_id = serializers.IntegerField(allow_null=True)
    destination_id = serializers.IntegerField(allow_null=True)
    incident_id = serializers.IntegerField(allow_null=True)
    files = StoredFileOutput(many=True)
    note = serializers.CharField()
    lat = serializers.FloatField(allow_null=True)
    lng = serializers.FloatField(allow_null=True)
    uploaded_by = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class _PositionInput(serializers.Serializer):
    lat = serializers.FloatField(min_value=-90, max_value=90, required=False, allow_null=True)
    lng = serializers.FloatField(min_value=-180, max_value=180, required=False, allow_null=True)

    def validate(self, attrs):
        if (attrs.get("lat") is None) != (attrs.get("lng") is None):
            raise serializers.ValidationError(_("Give both lat and lng, or neither."))
        return attrs


class DeliverInput(_PositionInput):
    received_by = serializers.CharField(max_length=120)
    photo = serializers.FileField(allow_empty_file=False)
    signature = serializers.FileField(allow_empty_file=False, required=False)


class FailInput(_PositionInput):
    reason = serializers.CharField(max_length=300)
    photo = serializers.FileField(allow_empty_file=False)


class DeliveryOutput(serializers.Serializer):
    destination_id = serializers.IntegerField(source="destination.pk")
    status = serializers.CharField(source="destination.status")
    received_by = serializers.CharField(source="destination.received_by")
    failure_reason = serializers.CharField(source="destination.failure_reason")
    delivered_at = serializers.DateTimeField(source="destination.delivered_at", allow_null=True)
    order_id = serializers.IntegerField(source="order.pk")
    order_status = serializers.CharField(source="order.status")
    assignment_status = serializers.CharField(source="assignment.status")
    proofs = EvidenceOutput(many=True)


class IncidentEvidenceInput(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=False),
        min_length=1,
        max_length=EVIDENCE_FILES_PER_REQUEST,
    )
    kind = serializers.ChoiceField(choices=EVIDENCE_KINDS, required=False, default="photo")
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


# A run carries at most 50 orders of up to 20 drop-offs, plus a pickup each.
MAX_STOPS = 50 * 21


class RouteSequenceInput(serializers.Serializer):
    stop_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=MAX_STOPS,
    )


# --- Driver suggestions ----------------------------------------------------------------------


class SuggestionQuery(QuerySerializer):
    order_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)
    only_fit = serializers.BooleanField(
        default=False,
        help_text="Only drivers who could be given the order now (`eligible`, an "
        "alternative vehicle included)",
    )


class SuggestionReasonOutput(serializers.Serializer):
    """Why a driver, or its vehicle, cannot carry the order now. The codes are those run
    creation refuses with (409), so a console words both the same way."""

    code = serializers.ChoiceField(
        choices=[
            ("driver_unavailable", "The driver is busy (details: availability, assignment_id)"),
            ("no_vehicle", "The driver has no vehicle assigned"),
            ("vehicle_unavailable", "The vehicle is not in service (details: status)"),
            ("vehicle_busy", "The vehicle is on another live run (details: assignment_id)"),
            ("capacity_exceeded", "Too heavy (details: capacity_kg, requested_kg)"),
            ("does_not_fit", "A package does not fit (details: package_cm, box_cm)"),
            (
                "vehicle_restricted",
                "Plate restricted on the order's day in a zone it stops in "
                "(details: plate, digit, weekday, date, zone_id, zone_name, points)",
            ),
        ],
        help_text="Stable: clients branch on it",
    )
    message = serializers.CharField(
        help_text="Plain words, with the numbers, in the caller's language"
    )
    details = serializers.DictField(help_text="As in the 409 of run creation with this code")


class SuggestionOutput(serializers.Serializer):
    driver_id = serializers.IntegerField()
    driver_name = serializers.CharField()
    availability = serializers.ChoiceField(choices=Availability.choices)
    vehicle_id = serializers.IntegerField(
        allow_null=True,
        help_text="The vehicle offered: the driver's own, or an `alternative`; null when the "
        "driver has none and no spare vehicle can carry the order",
    )
    vehicle_plate = serializers.CharField(allow_null=True)
    vehicle_type = serializers.ChoiceField(choices=VehicleType.choices, allow_null=True)
    capacity_kg = serializers.DecimalField(max_digits=8, decimal_places=1, allow_null=True)
    alternative = serializers.BooleanField(
        help_text="The driver's own vehicle cannot carry the order (`default_vehicle_reasons`"
        " say why): this is the smallest free vehicle that can — in service, on no live run, "
        "not another available driver's own, big enough, every package fits, not restricted"
    )
    default_vehicle_id = serializers.IntegerField(allow_null=True)
    default_vehicle_reasons = SuggestionReasonOutput(
        many=True, help_text="Why the driver's own vehicle is not offered (with `alternative`)"
    )
    restricted = serializers.BooleanField(
        allow_null=True,
        help_text="The plate may not stop at one of the order's points on its day "
        "(null without a vehicle)",
    )
    fits = serializers.BooleanField(
        allow_null=True, help_text="Every package fits the cargo box (null without a vehicle)"
    )
    has_capacity = serializers.BooleanField(
        allow_null=True, help_text="The order's load is within capacity (null without a vehicle)"
    )
    distance_km = serializers.FloatField(
        allow_null=True, help_text="Great circle from the driver's last fix to the pickup"
    )
    last_fix_at = serializers.DateTimeField(allow_null=True)
    rating_average = serializers.FloatField(allow_null=True)
    rating_count = serializers.IntegerField()
    eligible = serializers.BooleanField(
        help_text="The driver could be given the order now with `vehicle_id`: no `reasons`"
    )
    reasons = SuggestionReasonOutput(
        many=True, help_text="Why the driver, with `vehicle_id`, cannot be given the order now"
    )


class SuggestionsOutput(serializers.Serializer):
    order_id = serializers.IntegerField()
    service_day = serializers.DateField(help_text="The Lima date the order is carried on")
    required_kg = serializers.DecimalField(max_digits=12, decimal_places=3)
    results = SuggestionOutput(many=True)

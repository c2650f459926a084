from decimal import Decimal

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

SIDE = {"max_digits": 6, "decimal_places": 1, "min_value": Decimal("0.1")}


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
    assignment_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)

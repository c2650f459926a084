from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

PLATE_VALIDATOR = RegexValidator(
    r"^[A-Z0-9]{3}-[0-9]{3}$", _("Peruvian plate: three letters or digits, a dash, three digits.")
)
POSITIVE = [MinValueValidator(Decimal("0.1"))]


class VehicleStatus(models.TextChoices):
    OPERATIONAL = "operational", _("Operational")
    MAINTENANCE = "maintenance", _("Maintenance")
    INACTIVE = "inactive", _("Inactive")


class VehicleType(models.TextChoices):
    MOTORCYCLE = "motorcycle", _("Motorcycle")
    CAR = "car", _("Car")
    VAN = "van", _("Van")
    TRUCK = "truck", _("Truck")


class Vehicle(models.Model):
    rbac_resource = "vehicles"

    plate = models.CharField(_("plate"), max_length=7, unique=True, validators=[PLATE_VALIDATOR])
    type = models.CharField(max_length=12, choices=VehicleType.choices, default=VehicleType.VAN)
    capacity_kg = models.DecimalField(max_digits=8, decimal_places=1, validators=POSITIVE)
    length_cm = models.DecimalField(max_digits=6, decimal_places=1, validators=POSITIVE)
    width_cm = models.DecimalField(max_digits=6, decimal_places=1, validators=POSITIVE)
    height_cm = models.DecimalField(max_digits=6, decimal_places=1, validators=POSITIVE)
    status = models.CharField(
        max_length=12, choices=VehicleStatus.choices, default=VehicleStatus.OPERATIONAL
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["plate"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=VehicleStatus.values), name="vehicle_known_status"
            ),
            models.CheckConstraint(
                condition=Q(capacity_kg__gt=0, length_cm__gt=0, width_cm__gt=0, height_cm__gt=0),
                name="vehicle_positive_dimensions",
            ),
        ]
        verbose_name = _("vehicle")
        verbose_name_plural = _("vehicles")

    def __str__(self) -> str:
        return self.plate

    @property
    def is_usable(self) -> bool:
        return self.is_active and self.status == VehicleStatus.OPERATIONAL


class Availability(models.TextChoices):
    AVAILABLE = "available", _("Available")
    BUSY = "busy", _("Busy")
    INACTIVE = "inactive", _("Inactive")


class Driver(models.Model):
    """A courier: the `driver` login's profile, its licence and default vehicle."""

    rbac_resource = "drivers"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="driver_profile"
    )
    # Empty until staff record it (a login can become a driver before its papers are in).
    licence_number = models.CharField(max_length=20, unique=True, null=True, blank=True)
    phone = models.CharField(max_length=30, blank=True)
    availability = models.CharField(
        max_length=10, choices=Availability.choices, default=Availability.AVAILABLE
    )
    vehicle = models.ForeignKey(
        Vehicle, null=True, blank=True, on_delete=models.SET_NULL, related_name="default_drivers"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user__full_name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(availability__in=Availability.values), name="driver_known_availability"
            )
        ]
        verbose_name = _("driver")
        verbose_name_plural = _("drivers")

    def __str__(self) -> str:
        return self.user.full_name


class AssignmentStatus(models.TextChoices):
    ASSIGNED = "assigned", _("Assigned")
    IN_PROGRESS = "in_progress", _("In progress")
    FINISHED = "finished", _("Finished")
    CANCELLED = "cancelled", _("Cancelled")


class Assignment(models.Model):
    """A run: one driver and one vehicle carrying one or more orders."""

    rbac_resource = "assignments"
    ACTIVE = (AssignmentStatus.ASSIGNED, AssignmentStatus.IN_PROGRESS)

    driver = models.ForeignKey(Driver, related_name="assignments", on_delete=models.PROTECT)
    vehicle = models.ForeignKey(Vehicle, related_name="assignments", on_delete=models.PROTECT)
    orders = models.ManyToManyField("orders.Order", related_name="assignments")
    status = models.CharField(
        max_length=12, choices=AssignmentStatus.choices, default=AssignmentStatus.ASSIGNED
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Not a column: the generations of the zones and of the run's corridor, (None: never
    # written), set on the run tracking.selectors.ping_run_for loads for a ping.
    geofence_generations: tuple[int | None, int | None]

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=AssignmentStatus.values), name="assignment_known_status"
            ),
            # A van is in one place and a courier drives one van: at most one live run
            # each. The services check it under row locks; these back them up.
            models.UniqueConstraint(
                fields=["vehicle"],
                condition=Q(status__in=["assigned", "in_progress"]),
                name="assignment_one_live_run_per_vehicle",
            ),
            models.UniqueConstraint(
                fields=["driver"],
                condition=Q(status__in=["assigned", "in_progress"]),
                name="assignment_one_live_run_per_driver",
            ),
        ]
        verbose_name = _("run")
        verbose_name_plural = _("runs")

    def __str__(self) -> str:
        return f"Run #{self.pk} ({self.get_status_display()})"


class IncidentType(models.TextChoices):
    TRAFFIC = "traffic", _("Traffic")
    WEATHER = "weather", _("Weather")
    WRONG_ADDRESS = "wrong_address", _("Wrong address")
    CUSTOMER_ABSENT = "customer_absent", _("Customer absent")
    DAMAGED_PACKAGE = "damaged_package", _("Damaged package")
    ROUTE_DEVIATION = "route_deviation", _("Route deviation")
    FORCED_FINISH = "forced_finish", _("Forced finish")
    FAILED_DELIVERY = "failed_delivery", _("Failed delivery")
    OTHER = "other", _("Other")


# What a person may report; forced finishes are recorded by the finish command itself.
REPORTABLE_INCIDENT_TYPES = [c for c in IncidentType.choices if c[0] != IncidentType.FORCED_FINISH]


class IncidentOrigin(models.TextChoices):
    DRIVER = "driver", _("Driver")
    STAFF = "staff", _("Staff")
    SYSTEM = "system", _("System")


class Incident(models.Model):
    """Something that went wrong on a run."""

    rbac_resource = "incidents"
    # docs/domain.md, Fleet and dispatch; forced finishes and failed deliveries are as
    # serious as an absent customer.
    DEFAULT_SEVERITY: dict[str, int] = {
        IncidentType.TRAFFIC: 2,
        IncidentType.WEATHER: 2,
        IncidentType.WRONG_ADDRESS: 3,
        IncidentType.CUSTOMER_ABSENT: 3,
        IncidentType.DAMAGED_PACKAGE: 4,
        IncidentType.ROUTE_DEVIATION: 4,
        IncidentType.FORCED_FINISH: 3,
        IncidentType.FAILED_DELIVERY: 3,
        IncidentType.OTHER: 3,
    }

    assignment = models.ForeignKey(Assignment, related_name="incidents", on_delete=models.CASCADE)
    type = models.CharField(max_length=20, choices=IncidentType.choices)
    severity = models.PositiveSmallIntegerField()
    origin = models.CharField(max_length=10, choices=IncidentOrigin.choices)
    notes = models.CharField(max_length=2000, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Where it happened, when the system knows: a route deviation is placed at the fix
    # that left the corridor. Incidents people report have no position.
    lat = models.FloatField(null=True, blank=True)
    lng = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(severity__gte=1, severity__lte=5), name="incident_severity_1_to_5"
            ),
            models.CheckConstraint(
                condition=Q(type__in=IncidentType.values), name="incident_known_type"
            ),
            models.CheckConstraint(
                condition=Q(origin__in=IncidentOrigin.values), name="incident_known_origin"
            ),
            models.CheckConstraint(
                condition=Q(lat__isnull=True, lng__isnull=True)
                # A NULL makes a comparison unknown, which a check lets through: say both.
                | Q(
                    lat__isnull=False,
                    lng__isnull=False,
                    lat__gte=-90,
                    lat__lte=90,
                    lng__gte=-180,
                    lng__lte=180,
                ),
                name="incident_position_whole_and_in_range",
            ),
        ]
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")

    def __str__(self) -> str:
        return f"{self.get_type_display()} on run #{self.assignment_id}"


class Route(models.Model):
    """The planned path of a run: its stops in order, the geometry, distance and time."""

    rbac_resource = "routes"

    assignment = models.OneToOneField(
        Assignment, related_name="route", on_delete=models.CASCADE, null=True, blank=True
    )
    geometry = models.JSONField(help_text=_("GeoJSON LineString, [lng, lat] positions"))
    distance_m = models.FloatField()
    duration_s = models.FloatField()
    provider = models.CharField(max_length=20)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("route")
        verbose_name_plural = _("routes")

    def __str__(self) -> str:
        return f"Route #{self.pk}"


class StopKind(models.TextChoices):
    PICKUP = "pickup", _("Pickup")
    DELIVERY = "delivery", _("Delivery")


class StopStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    VISITED = "visited", _("Visited")
    SKIPPED = "skipped", _("Skipped")


class Stop(models.Model):
    rbac_resource = "routes"

    route = models.ForeignKey(Route, related_name="stops", on_delete=models.CASCADE)
    sequence = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=10, choices=StopKind.choices)
    lat = models.DecimalField(max_digits=9, decimal_places=6)
    lng = models.DecimalField(max_digits=9, decimal_places=6)
    status = models.CharField(max_length=10, choices=StopStatus.choices, default=StopStatus.PENDING)
    order = models.ForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    destination = models.ForeignKey(
        "orders.Destination", null=True, blank=True, on_delete=models.CASCADE, related_name="stops"
    )
    eta = models.DateTimeField(null=True, blank=True)
    visited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["route_id", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["route", "sequence"], name="stop_unique_sequence"),
            models.CheckConstraint(
                condition=Q(status__in=StopStatus.values), name="stop_known_status"
            ),
        ]
        verbose_name = _("stop")
        verbose_name_plural = _("stops")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.sequence} of route #{self.route_id}"

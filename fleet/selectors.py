"""Fleet reads, narrowed to the caller: staff see all; a driver its own runs and record."""

from decimal import Decimal
from typing import Any

from django.db.models import Avg, Count, Q, QuerySet
from django.utils.translation import gettext as _

from fleet import restriction, rules
from fleet.models import (
    Assignment,
    AssignmentStatus,
    Driver,
    Incident,
    Route,
    StopStatus,
    Vehicle,
    VehicleStatus,
)
from identity.models import User
from identity.scoping import scoped
from orders.models import Destination, Order, Rating
from orders.selectors import order_list_for
from rappi.errors import NotFoundError
from rappi.routing import Point, haversine_m
from rappi.selectors import get_or_404
from tracking import evidence, pings
from tracking.documents import Evidence


def vehicle_list_for(*, user: User) -> QuerySet[Vehicle]:
    # A driver sees the vehicle it drives by default.
    return scoped(Vehicle.objects.all(), user=user, driver_lookup="default_drivers__user")


def vehicle_get_for(*, user: User, pk) -> Vehicle:
    return get_or_404(vehicle_list_for(user=user), pk)


def driver_list_for(*, user: User) -> QuerySet[Driver]:
    return scoped(Driver.objects.select_related("user"), user=user, driver_lookup="user")


def driver_get_for(*, user: User, pk) -> Driver:
    return get_or_404(driver_list_for(user=user), pk)


def driver_own_profile(*, user: User) -> Driver:
    """The caller's own driver record; 404 for a login that has none."""
    driver = Driver.objects.select_related("user").filter(user=user).first()
    if driver is None:
        raise NotFoundError(_("You have no driver profile."))
    return driver


def driver_ratings(*, driver: Driver, latest: int = 10) -> dict:
    ratings = Rating.objects.filter(driver_id=driver.pk)
    summary = ratings.aggregate(average=Avg("score"), count=Count("id"))
    return {
        "driver_id": driver.pk,
        "average": round(summary["average"], 2) if summary["average"] is not None else None,
        "count": summary["count"],
        "latest": list(ratings.order_by("-created_at")[:latest]),
    }


def delivering_driver_id(*, order_id: int) -> int | None:
    """The driver of the latest started run that carried the order."""
    return (
        Assignment.objects.filter(orders=order_id, started_at__isnull=False)
        .exclude(status=AssignmentStatus.CANCELLED)
        .order_by("-started_at")
        .values_list("driver_id", flat=True)
        .first()
    )


def assignment_list_for(*, user: User) -> QuerySet[Assignment]:
    return scoped(
        Assignment.objects.select_related("route").prefetch_related("orders"),
        user=user,
        driver_lookup="driver__user",
    )


def assignment_get_for(*, user: User, pk) -> Assignment:
    return get_or_404(assignment_list_for(user=user), pk)


def incident_list_for(*, user: User) -> QuerySet[Incident]:
    # Customers are not shown incidents (docs/decisions.md); drivers see their runs'.
    return scoped(Incident.objects.all(), user=user, driver_lookup="assignment__driver__user")


def incident_get_for(*, user: User, pk) -> Incident:
    return get_or_404(incident_list_for(user=user), pk)


def route_list_for(*, user: User) -> QuerySet[Route]:
    return scoped(
        Route.objects.prefetch_related("stops"), user=user, driver_lookup="assignment__driver__user"
    )


def route_get_for(*, user: User, pk) -> Route:
    return get_or_404(route_list_for(user=user), pk)


# --- Proofs and evidence (documents in MongoDB, access through their PostgreSQL owner) --------


def proofs_for_run(*, assignment: Assignment) -> list[Evidence]:
    """Proofs of delivery or failure of a run's drop-offs, oldest first."""
    return [
        record
        for record in evidence.evidence_list(assignment_id=assignment.pk)
        if record.destination_id is not None
    ]


def proofs_for_order(*, order: Order) -> list[Evidence]:
    return evidence.evidence_list(order_id=order.pk)


def evidence_for_incident(*, incident: Incident) -> list[Evidence]:
    return evidence.evidence_list(incident_id=incident.pk)


def may_see_evidence(*, user: User, record: Evidence) -> bool:
    """The scope of the record's owner row (docs/domain.md, Roles and access): a proof is
    seen by staff who read runs, the run's driver and the order's customer; incident
    evidence by staff who read incidents and the run's driver."""
    if record.destination_id is not None:
        if user.is_staff_member:
            return user.has_permission("assignments", "read")
        return (
            assignment_list_for(user=user).filter(pk=record.assignment_id).exists()
            or order_list_for(user=user).filter(pk=record.order_id).exists()
        )
    if user.is_staff_member and not user.has_permission("incidents", "read"):
        return False
    return incident_list_for(user=user).filter(pk=record.incident_id).exists()


def evidence_file_for(*, user: User, file_id: str):
    """(stored file, record, byte stream) of a file the caller may download; 404 otherwise."""
    stored, record, stream = evidence.evidence_open(file_id)
    if not may_see_evidence(user=user, record=record):
        stream.close()
        raise evidence.FileNotFoundInStoreError()
    return stored, record, stream


# --- Driver suggestions for an order ------------------------------------------------------------


def _reason(refusal) -> dict:
    return {"code": refusal.code, "message": refusal.message, "details": refusal.details}


def _volume(vehicle: Vehicle) -> Decimal:
    return vehicle.length_cm * vehicle.width_cm * vehicle.height_cm


class _Refusals:
    """The rules of `fleet.rules` for the orders of a would-be run, with what they need
    loaded once: the live runs, and the restriction zones (from MongoDB, only if some
    plate is restricted on a day one of the orders is carried)."""

    def __init__(self, orders: list[Order], destinations: list[Destination]) -> None:
        self.orders, self.destinations = orders, destinations
        self.days = {restriction.service_day(order.scheduled_for) for order in orders}
        self.runs_of_driver, self.runs_of_vehicle = {}, {}
        for run in Assignment.objects.filter(status__in=Assignment.ACTIVE).only(
            *rules.LIVE_RUN_FIELDS
        ):
            self.runs_of_driver[run.driver_id] = run
            self.runs_of_vehicle[run.vehicle_id] = run
        self._zones: list[restriction.Zone] | None = None

    def zones(self, plate: str) -> list[restriction.Zone]:
        if not any(restriction.is_restricted(plate=plate, day=day) for day in self.days):
            return []  # not asked for: the plate is free on the orders' days
        if self._zones is None:
            self._zones = restriction.restriction_zones()
        return self._zones

    def of_driver(self, driver: Driver):
        return rules.driver_refusal(driver, self.runs_of_driver.get(driver.pk))

    def of_vehicle(self, vehicle: Vehicle, *, driver: Driver | None = None) -> list:
        run = self.runs_of_vehicle.get(vehicle.pk)
        if run is not None and driver is not None and run.driver_id == driver.pk:
            run = None  # the driver's own run: its refusal already says so
        return rules.vehicle_refusals(
            vehicle,
            run=run,
            orders=self.orders,
            destinations=self.destinations,
            zones=self.zones(vehicle.plate),
        )


def _spare_vehicle(refusals: _Refusals, taken: set[int]) -> Vehicle | None:
    """The smallest vehicle (capacity, then cargo volume) that could carry the order with
    any driver: in service, on no live run, not an available driver's own (`taken`: it is
    spoken for), and refused by none of `fleet.rules` (big enough, every package fits, not
    restricted for the order). The load is left to the rules, not filtered here too."""
    candidates = Vehicle.objects.filter(is_active=True, status=VehicleStatus.OPERATIONAL).exclude(
        pk__in=set(refusals.runs_of_vehicle) | taken
    )
    by_size = sorted(candidates, key=lambda v: (v.capacity_kg, _volume(v), v.plate))
    return next((vehicle for vehicle in by_size if not refusals.of_vehicle(vehicle)), None)


def driver_suggestions(*, order: Order, limit: int, only_fit: bool = False) -> dict:
    """Active drivers for carrying `order`, best first: those who could be given it now
    (`eligible`), nearest last fix to the pickup (none: last), best average rating. Each
    says why it cannot (`reasons`, the codes and messages run creation answers with);
    when its own vehicle cannot (busy, out of service, restricted, too small, a package
    does not fit, or none), the smallest spare vehicle that can is offered instead
    (`alternative`, with `default_vehicle_reasons`). `only_fit` keeps the eligible. A
    fixed number of queries whatever the size of the fleet."""
    suggestions = run_suggestions(orders=[order], limit=limit, only_fit=only_fit)
    return {
        "order_id": order.pk,
        "service_day": restriction.service_day(order.scheduled_for),
        "required_kg": suggestions["required_kg"],
        "results": suggestions["results"],
    }


def run_suggestions(*, orders: list[Order], limit: int, only_fit: bool = False) -> dict:
    """`driver_suggestions` for several orders on one run (the console's assign panel):
    the same ranking and reasons, for the orders' combined load and every one of their
    stops, the distance taken to the nearest of their pickups."""
    destinations = [d for order in orders for d in order.destinations.all()]
    required = rules.load_kg(destinations)
    refusals = _Refusals(orders, destinations)
    drivers = list(
        Driver.objects.filter(is_active=True, user__is_active=True).select_related(
            "user", "vehicle"
        )
    )
    driver_refusals = {driver.pk: refusals.of_driver(driver) for driver in drivers}
    own = {
        driver.pk: refusals.of_vehicle(driver.vehicle, driver=driver)
        if driver.vehicle is not None
        else [rules.no_vehicle(driver)]
        for driver in drivers
    }
    spare, spare_loaded = None, False
    ratings = {
        row["driver_id"]: row
        for row in Rating.objects.filter(driver_id__in=[d.pk for d in drivers])
        .values("driver_id")
        .annotate(average=Avg("score"), count=Count("id"))
    }
    positions = pings.positions_for(driver_ids=[d.pk for d in drivers])
    pickups = [Point(lat=float(o.origin_lat), lng=float(o.origin_lng)) for o in orders]
    suggestions = []
    for driver in drivers:
        driver_refusal = driver_refusals[driver.pk]
        vehicle, vehicle_refusals, alternative = driver.vehicle, own[driver.pk], False
        if driver_refusal is None and vehicle_refusals:
            if not spare_loaded:  # once, when an available driver first needs it
                taken = {
                    d.vehicle_id
                    for d in drivers
                    if driver_refusals[d.pk] is None and d.vehicle_id is not None
                }
                spare, spare_loaded = _spare_vehicle(refusals, taken), True
            if spare is not None:
                vehicle, vehicle_refusals, alternative = spare, [], True
        reasons = ([driver_refusal] if driver_refusal else []) + vehicle_refusals
        codes = {refusal.code for refusal in vehicle_refusals}
        position = positions.get(driver.pk)
        distance_km = None
        if position is not None:
            lng, lat = position["location"]["coordinates"]
            fix = Point(lat=lat, lng=lng)
            distance_km = round(min(haversine_m(fix, pickup) for pickup in pickups) / 1000, 3)
        rating = ratings.get(driver.pk)
        entry: dict[str, Any] = {
            "driver_id": driver.pk,
            "driver_name": driver.user.full_name,
            "availability": driver.availability,
            "vehicle_id": vehicle.pk if vehicle else None,
            "vehicle_plate": vehicle.plate if vehicle else None,
            "vehicle_type": vehicle.type if vehicle else None,
            "capacity_kg": vehicle.capacity_kg if vehicle else None,
            "alternative": alternative,
            "default_vehicle_id": driver.vehicle_id,
            "default_vehicle_reasons": [_reason(r) for r in own[driver.pk]] if alternative else [],
            "restricted": "vehicle_restricted" in codes if vehicle else None,
            "fits": "does_not_fit" not in codes if vehicle else None,
            "has_capacity": "capacity_exceeded" not in codes if vehicle else None,
            "distance_km": distance_km,
            "last_fix_at": position["recorded_at"] if position else None,
            "rating_average": round(rating["average"], 2) if rating else None,
            "rating_count": rating["count"] if rating else 0,
            "eligible": not reasons,
            "reasons": [_reason(refusal) for refusal in reasons],
        }
        if entry["eligible"] or not only_fit:
            suggestions.append(entry)
    suggestions.sort(
        key=lambda e: (
            not e["eligible"],
            driver_refusals[e["driver_id"]] is not None,
            e["distance_km"] is None,
            e["distance_km"] or 0,
            -(e["rating_average"] or 0),
            e["driver_id"],
        )
    )
    return {
        "order_ids": [order.pk for order in orders],
        "required_kg": required,
        "results": suggestions[:limit],
    }


# --- Figures for the console's overview (staff only; one aggregate query each) -------------


def run_counts_by_status() -> dict[str, int]:
    """Runs still to be driven or under way, by status."""
    rows = (
        Assignment.objects.filter(status__in=Assignment.ACTIVE)
        .values("status")
        .annotate(count=Count("id"))
    )
    return {row["status"]: row["count"] for row in rows}


def driver_counts_by_availability() -> dict[str, int]:
    """Active drivers by availability."""
    rows = Driver.objects.filter(is_active=True).values("availability").annotate(count=Count("id"))
    return {row["availability"]: row["count"] for row in rows}


def incident_counts_by_severity(*, since) -> dict[int, int]:
    """Incidents reported since `since`, by severity (1..5)."""
    rows = (
        Incident.objects.filter(created_at__gte=since)
        .values("severity")
        .annotate(count=Count("id"))
    )
    return {row["severity"]: row["count"] for row in rows}


# --- The console's boards (a fixed number of queries per page) ---------------------------------


def with_run_figures(queryset: QuerySet[Assignment]) -> QuerySet[Assignment]:
    """Runs with `stops_total`, `stops_done` (visited or skipped) and `incident_count`,
    counted in the runs' own query."""
    return queryset.annotate(
        stops_total=Count("route__stops", distinct=True),
        stops_done=Count(
            "route__stops",
            filter=~Q(route__stops__status=StopStatus.PENDING),
            distinct=True,
        ),
        incident_count=Count("incidents", distinct=True),
    )


def evidence_by_incident(*, incident_ids: list[int]) -> dict[int, list[Evidence]]:
    """The evidence of these incidents by incident id, oldest first: one MongoDB query
    (per 400 incidents)."""
    found: dict[int, list[Evidence]] = {}
    ids = sorted(set(incident_ids))
    for start in range(0, len(ids), evidence.IN_BATCH):
        for record in Evidence.objects(
            incident_id__in=ids[start : start + evidence.IN_BATCH]
        ).order_by("created_at", "id"):
            found.setdefault(record.incident_id, []).append(record)
    return found


def evidence_of_run(*, assignment: Assignment) -> tuple[list[Evidence], dict[int, list[Evidence]]]:
    """A run's proofs of delivery or failure, and its incidents' evidence by incident id
    (a failed drop-off's photo is both): one MongoDB query."""
    proofs: list[Evidence] = []
    by_incident: dict[int, list[Evidence]] = {}
    for record in evidence.evidence_list(assignment_id=assignment.pk):
        if record.destination_id is not None:
            proofs.append(record)
        if record.incident_id is not None:
            by_incident.setdefault(record.incident_id, []).append(record)
    return proofs, by_incident

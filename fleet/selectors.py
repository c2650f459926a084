"""Fleet reads, narrowed to the caller: staff see all; a driver its own runs and record."""

from decimal import Decimal

from django.db.models import Avg, Count, Q, QuerySet, Sum

from fleet import restriction
from fleet.models import (
    Assignment,
    AssignmentStatus,
    Availability,
    Driver,
    Incident,
    Route,
    Vehicle,
    VehicleStatus,
)
from identity.models import User
from identity.scoping import scoped
from orders.models import Destination, Order, Rating
from orders.selectors import order_list_for
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
    """The scope of the record's owner row (SPEC §2): a proof is seen by staff who read
    runs, the run's driver and the order's customer; incident evidence by staff who read
    incidents and the run's driver."""
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


def package_fits(vehicle: Vehicle, destination: Destination) -> bool:
    """Run creation's rule: a package with all three sides fits the cargo box in some
    axis-aligned orientation (sorted sides within sorted sides); one without is not
    checked."""
    sides = (destination.length_cm, destination.width_cm, destination.height_cm)
    if any(side is None for side in sides):
        return True
    box = sorted((vehicle.length_cm, vehicle.width_cm, vehicle.height_cm))
    return all(side <= room for side, room in zip(sorted(sides), box, strict=True))


def active_loads_kg(vehicle_ids: list[int]) -> dict[int, Decimal]:
    """What each vehicle already carries: pending drop-offs of its active runs."""
    rows = (
        Assignment.objects.filter(vehicle_id__in=vehicle_ids, status__in=Assignment.ACTIVE)
        .values("vehicle_id")
        .annotate(
            load=Sum(
                "orders__destinations__chargeable_weight_kg",
                filter=Q(orders__destinations__status=Destination.Status.PENDING),
            )
        )
    )
    return {row["vehicle_id"]: row["load"] or Decimal("0") for row in rows}


def _order_in_restriction_zone(order: Order, destinations: list[Destination]) -> bool:
    points = [(order.origin_lat, order.origin_lng)] + [(d.lat, d.lng) for d in destinations]
    return any(
        zone.covers(lat=lat, lng=lng)
        for zone in restriction.restriction_zones()
        for lat, lng in points
    )


def driver_suggestions(*, order: Order, limit: int, only_fit: bool = False) -> dict:
    """Available, active drivers with a usable default vehicle, best first for carrying
    `order`: not restricted on the order's day, every package fits, enough free capacity,
    nearest last fix to the pickup (none: last), best average rating. `only_fit` keeps
    those that could be given the order now. A fixed number of queries."""
    destinations = list(order.destinations.all())
    required = sum((d.chargeable_weight_kg for d in destinations), Decimal("0"))
    day = restriction.service_day(order.scheduled_for)
    drivers = list(
        Driver.objects.filter(
            is_active=True,
            availability=Availability.AVAILABLE,
            user__is_active=True,
            vehicle__is_active=True,
            vehicle__status=VehicleStatus.OPERATIONAL,
        ).select_related("user", "vehicle")
    )
    plates = {driver.vehicle.plate for driver in drivers}
    restricted_plates = {
        plate for plate in plates if restriction.is_restricted(plate=plate, day=day)
    }
    # MongoDB is asked for the zones only when some candidate's plate is restricted that day.
    in_zone = bool(restricted_plates) and _order_in_restriction_zone(order, destinations)
    loads = active_loads_kg([d.vehicle_id for d in drivers])
    ratings = {
        row["driver_id"]: row
        for row in Rating.objects.filter(driver_id__in=[d.pk for d in drivers])
        .values("driver_id")
        .annotate(average=Avg("score"), count=Count("id"))
    }
    positions = pings.positions_for(driver_ids=[d.pk for d in drivers])
    pickup = Point(lat=float(order.origin_lat), lng=float(order.origin_lng))
    suggestions = []
    for driver in drivers:
        vehicle = driver.vehicle
        load = loads.get(vehicle.pk, Decimal("0"))
        position = positions.get(driver.pk)
        distance_km = None
        if position is not None:
            lng, lat = position["location"]["coordinates"]
            distance_km = round(haversine_m(Point(lat=lat, lng=lng), pickup) / 1000, 3)
        rating = ratings.get(driver.pk)
        entry = {
            "driver_id": driver.pk,
            "driver_name": driver.user.full_name,
            "vehicle_id": vehicle.pk,
            "vehicle_plate": vehicle.plate,
            "restricted": in_zone and vehicle.plate in restricted_plates,
            "fits": all(package_fits(vehicle, d) for d in destinations),
            "has_capacity": load + required <= vehicle.capacity_kg,
            "capacity_kg": vehicle.capacity_kg,
            "load_kg": load,
            "distance_km": distance_km,
            "last_fix_at": position["recorded_at"] if position else None,
            "rating_average": round(rating["average"], 2) if rating else None,
            "rating_count": rating["count"] if rating else 0,
        }
        entry["eligible"] = not entry["restricted"] and entry["fits"] and entry["has_capacity"]
        if entry["eligible"] or not only_fit:
            suggestions.append(entry)
    suggestions.sort(
        key=lambda e: (
            e["restricted"],
            not e["fits"],
            not e["has_capacity"],
            e["distance_km"] is None,
            e["distance_km"] or 0,
            -(e["rating_average"] or 0),
            e["driver_id"],
        )
    )
    return {
        "order_id": order.pk,
        "service_day": day,
        "required_kg": required,
        "results": suggestions[:limit],
    }

"""Run-aware tracking reads and checks: whose run a fix or a track belongs to, the live
fleet, drivers near a point and an order's tracking. Every list costs a fixed number of
queries whatever the fleet's size (MongoDB `$in` lists are cut in chunks of 400)."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from fleet.models import Assignment, AssignmentStatus, Driver, StopKind, StopStatus
from fleet.selectors import proofs_for_order
from identity import catalogue
from identity.models import User
from identity.scoping import scoped
from orders.models import Order, OrderStatus
from orders.selectors import order_get_for
from rappi.errors import NotFoundError
from rappi.precompiled import Precompiled
from rappi.selectors import get_or_404
from tracking import geofences, pings
from tracking.errors import NotADriverError, RunNotInProgressError
from tracking.models import ZONES_SCOPE, GeofenceGeneration


def _runs_for(user: User):
    return scoped(
        Assignment.objects.select_related("vehicle", "driver__user"),
        user=user,
        driver_lookup="driver__user",
    )


def require_driver(user: User) -> None:
    """Fixes come from drivers only (403): staff cannot post them in a driver's name."""
    if user.scope != catalogue.DRIVER:
        raise NotADriverError()


def ping_run_for(*, user: User, assignment_id: int) -> Assignment:
    """The run `user` may send fixes for: 403 for anyone but a driver, 404 for a run that
    is not the driver's own, 409 unless it is in progress. One query, which also reads
    the generations of the geofences its fixes are weighed against (`geofence_generations`:
    zones, the run's corridor) so the ingest may use the ones it keeps in memory."""
    require_driver(user)
    run = _ping_run.get_or_404(user=user, assignment_id=assignment_id)
    # Annotations of the query: attributes the model does not declare.
    run.geofence_generations = (run.zones_generation, run.corridor_generation)  # type: ignore[attr-defined]
    if run.status != AssignmentStatus.IN_PROGRESS:
        raise RunNotInProgressError(assignment_id=run.pk, status=run.status)
    return run


def _ping_run_query(*, user: User, assignment_id: int):
    generation = GeofenceGeneration.objects.values("generation")
    return (
        _runs_for(user)
        .annotate(
            zones_generation=Subquery(generation.filter(scope=ZONES_SCOPE)),
            corridor_generation=Subquery(generation.filter(scope=OuterRef("pk"))),
        )
        .filter(pk=assignment_id)[:1]
    )


# Compiled once: a third of a ping's CPU was building and compiling this query.
_ping_run = Precompiled(Assignment, _ping_run_query, ids=("assignment_id",), users=("user",))


def track_run_for(*, user: User, assignment_id: int) -> Assignment:
    """A run whose track `user` may read: staff any, a driver its own; 404 otherwise."""
    return get_or_404(_runs_for(user), assignment_id)


def fleet_entries(*, stale: bool | None = None, now=None) -> list[dict]:
    """Every run in progress with its driver, vehicle, last fix (of that run), staleness
    and route geometry, oldest start first; with `stale`, only the runs that are (True) or
    are not (False)."""
    now = now or timezone.now()
    runs = list(
        Assignment.objects.filter(status=AssignmentStatus.IN_PROGRESS)
        .select_related("driver__user", "vehicle", "route")
        .order_by("started_at", "pk")
    )
    positions = pings.positions_for(assignment_ids=[run.pk for run in runs])
    entries = []
    for run in runs:
        position = positions.get(run.pk)
        fix = pings.fix_output(position, now=now) if position else None
        route = getattr(run, "route", None)
        entries.append(
            {
                "assignment_id": run.pk,
                "driver_id": run.driver_id,
                "driver_name": run.driver.user.full_name,
                "vehicle_id": run.vehicle_id,
                "vehicle_plate": run.vehicle.plate,
                "started_at": run.started_at,
                "lat": fix["lat"] if fix else None,
                "lng": fix["lng"] if fix else None,
                "recorded_at": fix["recorded_at"] if fix else None,
                "speed_kmh": fix["speed_kmh"] if fix else None,
                "heading": fix["heading"] if fix else None,
                "accuracy_m": fix["accuracy_m"] if fix else None,
                "age_s": fix["age_s"] if fix else None,
                # A run that has not sent a fix yet is as unknown as a silent one.
                "stale": fix["stale"] if fix else True,
                "route_id": route.pk if route else None,
                "route_geometry": route.geometry if route else None,
            }
        )
    return [entry for entry in entries if stale is None or entry["stale"] == stale]


def nearby_drivers(
    *, lat: float, lng: float, radius_m: float, window_min: int, limit: int, now=None
) -> list[dict]:
    """Active drivers whose last fix is at most `window_min` minutes old and within
    `radius_m` metres (great circle), nearest first."""
    now = now or timezone.now()
    near = pings.positions_near(
        lat=lat,
        lng=lng,
        radius_m=radius_m,
        since=now - timedelta(minutes=window_min),
        limit=settings.API_MAX_PAGE_SIZE,
    )
    drivers = Driver.objects.select_related("user").in_bulk([doc["driver_id"] for doc in near])
    found = []
    for doc in near:
        driver = drivers.get(doc["driver_id"])
        if driver is None or not driver.is_active:
            continue
        fix = pings.fix_output(doc, now=now)
        found.append(
            {
                "driver_id": driver.pk,
                "driver_name": driver.user.full_name,
                "availability": driver.availability,
                "assignment_id": doc["assignment_id"],
                "vehicle_plate": doc["vehicle_plate"],
                "distance_m": round(doc["distance_m"], 1),
                **{key: fix[key] for key in ("lat", "lng", "recorded_at", "age_s")},
            }
        )
    return found[:limit]


# --- An order's tracking -------------------------------------------------------------------------


def _order_run(*, user: User, order: Order) -> Assignment | None:
    """The run the order is (or was last) carried on: its latest run that was not
    cancelled; for a driver, its own such run."""
    runs = Assignment.objects.filter(orders=order).exclude(status=AssignmentStatus.CANCELLED)
    if user.scope == catalogue.DRIVER:
        runs = runs.filter(driver__user=user)
    return (
        runs.select_related("driver__user", "vehicle", "route")
        .order_by("-created_at", "-pk")
        .first()
    )


def order_tracking_for(*, user: User, order_id: int, now=None) -> dict:
    """What the order's customer follows: the order and its run, the driver's last fix
    while the order is on its way, the order's own stops with their ETAs, its proofs, and
    the route with its corridor. Staff and the driver of a run carrying the order see it
    too; anyone else gets 404. A customer sees the route geometry and corridor only when
    the run carries no other customer's orders: they pass other people's doors."""
    now = now or timezone.now()
    if user.scope == catalogue.DRIVER:
        order = Order.objects.filter(pk=order_id).first()
        run = _order_run(user=user, order=order) if order else None
        if order is None or run is None:
            raise NotFoundError()
    else:
        order = order_get_for(user=user, pk=order_id)
        run = _order_run(user=user, order=order)
    route = getattr(run, "route", None) if run else None
    stops = []
    if route is not None:
        origin = (order.origin_lat, order.origin_lng)
        stops = [
            stop
            for stop in route.stops.all().order_by("sequence")
            if (stop.destination_id and stop.order_id == order.pk)
            or (stop.kind == StopKind.PICKUP and (stop.lat, stop.lng) == origin)
        ]
    private = (
        user.scope == catalogue.CUSTOMER
        and run is not None
        and run.orders.exclude(customer_id=order.customer_id).exists()
    )
    fix = None
    if (
        run is not None
        and run.status == AssignmentStatus.IN_PROGRESS
        and order.status == OrderStatus.IN_TRANSIT
    ):
        position = pings.positions_for(driver_ids=[run.driver_id]).get(run.driver_id)
        if position is not None and position["assignment_id"] == run.pk:
            fix = pings.fix_output(position, now=now)
    pending_etas = [
        stop.eta
        for stop in stops
        if stop.destination_id and stop.status == StopStatus.PENDING and stop.eta is not None
    ]
    corridor = None
    if run is not None and route is not None and not private:
        corridor = geofences.corridor_for(assignment_id=run.pk)
    return {
        "order_id": order.pk,
        "order_status": order.status,
        "eta": max(pending_etas) if pending_etas else None,
        "assignment": run,
        "last_fix": fix,
        "route": None
        if route is None
        else {
            "id": route.pk,
            "geometry": None if private else route.geometry,
            "distance_m": route.distance_m,
            "duration_s": route.duration_s,
        },
        "stops": stops,
        "proofs": proofs_for_order(order=order),
        "geofences": [corridor] if corridor is not None and corridor.active else [],
    }


def fix_freshness(*, since) -> dict:
    """Right now: drivers whose last fix was recorded at `since` or later, runs in
    progress, and those of them without such a fix (or none at all). One MongoDB
    aggregation over the last positions (one per driver) and one SQL query, whatever the
    fleet."""
    recent = pings.positions_since(since=since)
    # A driver drives one live run: a recent position names the run it came from.
    runs = Assignment.objects.filter(status=AssignmentStatus.IN_PROGRESS).aggregate(
        in_progress=Count("pk"),
        with_fix=Count("pk", filter=Q(pk__in=recent["assignment_ids"])),
    )
    return {
        "drivers_with_fix": recent["drivers"],
        "runs_in_progress": runs["in_progress"],
        "runs_without_fix": runs["in_progress"] - runs["with_fix"],
    }

"""Routes and stops: planning, optimising and re-sequencing a run's route (with its
corridor), plans for orders not yet in a run, and visiting a pickup."""

from datetime import timedelta
from functools import partial

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from fleet import restriction
from fleet.errors import (
    AssignmentNotInProgressError,
    DeliveryStopNeedsProofError,
    InvalidSequenceError,
    RouteWithoutRunError,
    RunClosedError,
)
from fleet.models import Assignment, AssignmentStatus, Route, Stop, StopKind, StopStatus
from fleet.services import locks
from orders.models import Destination, DestinationStatus, Order
from rappi.errors import IllegalTransitionError, NotFoundError
from rappi.routing import Point, get_router, optimise_order
from tracking import geofences


def _point(lat, lng) -> Point:
    return Point(lat=float(lat), lng=float(lng))


def _write_route(*, assignment: Assignment | None, stops: list[dict], started) -> Route:
    """Store a route through `stops` (dicts with kind, lat, lng, order, destination, status)
    in that order, with geometry, totals and an ETA for every stop; a run's route replaces
    its previous one and gets its corridor."""
    router = get_router()
    if assignment is not None:
        Route.objects.filter(assignment=assignment).delete()
    if len(stops) >= 2:
        path = _route_path(assignment, stops)
        planned = router.route(path.points)
        geometry, distance, duration, legs = (
            planned.geometry,
            planned.distance_m,
            planned.duration_s,
            path.stop_legs(planned.legs),
        )
    else:
        geometry = {"type": "LineString", "coordinates": []}
        distance = duration = 0.0
        legs = []
    route = Route.objects.create(
        assignment=assignment,
        geometry=geometry,
        distance_m=distance,
        duration_s=duration,
        provider=router.name,
    )
    if assignment is not None:
        # The corridor follows the committed route: a plan rolled back keeps the old one.
        transaction.on_commit(
            partial(
                _replace_corridor, assignment_id=assignment.pk, route_id=route.pk, line=geometry
            ),
            robust=True,
        )
    # Stops done keep their visit time as ETA; the clock runs from `started` at the last
    # of them (or the first stop) through the pending ones.
    first_pending = next(
        (i for i, stop in enumerate(stops) if stop["status"] == StopStatus.PENDING), len(stops)
    )
    anchor, clock = max(first_pending - 1, 0), started
    for index, stop in enumerate(stops):
        if index > anchor:
            clock = clock + timedelta(seconds=legs[index - 1].duration_s)
            eta = clock
        elif stop["status"] == StopStatus.PENDING:
            eta = started
        else:
            eta = stop.get("visited_at") or started
        Stop.objects.create(route=route, sequence=index + 1, eta=eta, **stop)
    return route


def _replace_corridor(*, assignment_id: int, route_id: int, line: dict) -> None:
    # A newer plan (or the run's deletion) may have committed since: its route replaced
    # this one, and this corridor must not overwrite (or outlive) it.
    if Route.objects.filter(pk=route_id).exists():
        geofences.corridor_replace(assignment_id=assignment_id, route_id=route_id, line=line)


def _route_path(assignment: Assignment | None, stops: list[dict]) -> restriction.Path:
    """The stops with detours round the restriction zones closed to the run's vehicle on
    the days the route may be driven; straight when the plate is free on all of them (or
    no vehicle is known yet)."""
    points = [_point(s["lat"], s["lng"]) for s in stops]
    if assignment is None:
        return restriction.plan_path(points, [])
    days = restriction.run_days(
        orders={stop["order"] for stop in stops if stop["order"] is not None},
        in_progress=assignment.status == AssignmentStatus.IN_PROGRESS,
    )
    zones = restriction.zones_closed_to(plate=assignment.vehicle.plate, days=days)
    return restriction.plan_path(points, zones)


def _delivery_order(start: dict, deliveries: list[dict]) -> list[dict]:
    """Deliveries ordered by the optimiser, starting from `start`."""
    if not deliveries:
        return []
    points = [_point(start["lat"], start["lng"])] + [_point(d["lat"], d["lng"]) for d in deliveries]
    visit = optimise_order(points, start=0, router=get_router())
    return [deliveries[i - 1] for i in visit if i != 0]


_STOP_FOR_DESTINATION: dict[str, str] = {
    DestinationStatus.PENDING: StopStatus.PENDING,
    DestinationStatus.DELIVERED: StopStatus.VISITED,
    DestinationStatus.FAILED: StopStatus.SKIPPED,
}


@transaction.atomic
def route_plan(*, assignment: Assignment) -> Route:
    """Plan (or re-plan) a run's route: its pickups first, in the order the orders came,
    then its drop-offs in the optimiser's order (nearest neighbour + 2-opt over the routing
    provider's distances). Already visited stops keep their place and their state."""
    assignment = locks.locked_run(assignment)
    if assignment.status not in Assignment.ACTIVE:
        raise RunClosedError(status=assignment.status)
    orders = list(Order.objects.filter(assignments=assignment).order_by("pk"))
    made = {
        (stop.lat, stop.lng): stop
        for stop in Stop.objects.filter(route__assignment=assignment, kind=StopKind.PICKUP)
        if stop.status != StopStatus.PENDING
    }
    stops = _planned_stops(orders, pickups_made=made)
    return _write_route(assignment=assignment, stops=stops, started=_plan_start(assignment))


PLAN_WITHOUT_RUN_KEPT = timedelta(days=1)


@transaction.atomic
def route_plan_for_orders(*, orders: list[Order]) -> Route:
    """A route for orders not (yet) in a run, to weigh a grouping before dispatching it:
    stored without a run for a day, straight (no vehicle, so no restriction detours), and
    without a corridor."""
    now = timezone.now()
    # Such plans are for weighing, not keeping: older ones are swept as new ones come.
    Route.objects.filter(assignment=None, created_at__lt=now - PLAN_WITHOUT_RUN_KEPT).delete()
    orders = sorted(orders, key=lambda order: order.pk)
    return _write_route(assignment=None, stops=_planned_stops(orders), started=now)


def _planned_stops(orders: list[Order], *, pickups_made: dict | None = None) -> list[dict]:
    """Pickups (one per distinct origin), then the drop-offs already done, then the
    pending ones in the optimiser's order. A pickup keeps the state of the one it replaces
    (`pickups_made`: stops visited or skipped, by place), and is visited if one of its
    orders' drop-offs was delivered (what was handed over was collected); else pending."""
    pickups_made = pickups_made or {}
    by_id = {order.pk: order for order in orders}
    destinations = list(
        Destination.objects.filter(order__in=orders).order_by("order_id", "sequence")
    )
    first_delivered: dict[tuple, list] = {}
    for d in destinations:
        if d.status == DestinationStatus.DELIVERED:
            origin = by_id[d.order_id].origin_lat, by_id[d.order_id].origin_lng
            first_delivered.setdefault(origin, []).append(d.delivered_at)
    pickups, seen = [], set()
    for order in orders:
        key = (order.origin_lat, order.origin_lng)
        if key in seen:
            continue
        seen.add(key)
        status, visited_at = StopStatus.PENDING, None
        if key in pickups_made:
            status, visited_at = pickups_made[key].status, pickups_made[key].visited_at
        elif key in first_delivered:
            times = [when for when in first_delivered[key] if when is not None]
            status, visited_at = StopStatus.VISITED, min(times, default=None)
        pickups.append(
            {
                "kind": StopKind.PICKUP,
                "lat": order.origin_lat,
                "lng": order.origin_lng,
                "order": order,
                "destination": None,
                "status": status,
                "visited_at": visited_at,
            }
        )
    deliveries = [
        {
            "kind": StopKind.DELIVERY,
            "lat": d.lat,
            "lng": d.lng,
            "order": by_id[d.order_id],
            "destination": d,
            "status": _STOP_FOR_DESTINATION[d.status],
            "visited_at": d.delivered_at,
        }
        for d in destinations
    ]
    done = [d for d in deliveries if d["status"] != StopStatus.PENDING]
    pending = [d for d in deliveries if d["status"] == StopStatus.PENDING]
    anchor = (done or pickups)[-1] if (done or pickups) else None
    ordered = _delivery_order(anchor, pending) if anchor else pending
    return pickups + done + ordered


def _stop_fields(stop: Stop) -> dict:
    return {
        "kind": stop.kind,
        "lat": stop.lat,
        "lng": stop.lng,
        "order": stop.order,
        "destination": stop.destination,
        "status": stop.status,
        "visited_at": stop.visited_at,
    }


@transaction.atomic
def route_optimize(*, route: Route) -> Route:
    """Re-order the pending drop-offs after the last stop done (visited or skipped), from
    where that stop is; done stops keep their places, times and states, and pending
    pickups stay ahead of the drop-offs."""
    assignment = _replannable(route)
    stops = _locked_stops(route)
    done = [stop for stop in stops if stop.status != StopStatus.PENDING]
    pickups = [s for s in stops if s.status == StopStatus.PENDING and s.kind == StopKind.PICKUP]
    deliveries = [
        _stop_fields(s)
        for s in stops
        if s.status == StopStatus.PENDING and s.kind == StopKind.DELIVERY
    ]
    before = [_stop_fields(stop) for stop in done + pickups]
    ordered = _delivery_order(before[-1], deliveries) if before else deliveries
    return _write_route(
        assignment=assignment, stops=before + ordered, started=_plan_start(assignment)
    )


def _replannable(route: Route) -> Assignment:
    """The route's run, locked; only a run still to be driven is re-planned."""
    if route.assignment is None:
        raise RouteWithoutRunError(route_id=route.pk)
    assignment = locks.locked_run(route.assignment)
    if assignment.status not in Assignment.ACTIVE:
        raise RunClosedError(status=assignment.status)
    return assignment


def _locked_stops(route: Route) -> list[Stop]:
    return list(
        Stop.objects.select_for_update(of=("self",))
        .filter(route=route)
        .select_related("order", "destination__order")
        .order_by("sequence")
    )


def _plan_start(assignment: Assignment):
    # A run under way is planned from now: its pending stops cannot be reached earlier.
    return (
        timezone.now()
        if assignment.status == AssignmentStatus.IN_PROGRESS
        else (assignment.started_at or timezone.now())
    )


@transaction.atomic
def route_resequence(*, route: Route, stop_ids: list[int]) -> Route:
    """The dispatcher's own order for the pending stops: `stop_ids` lists every pending
    stop once; stops already visited or skipped keep their places first, and a pending
    pickup must come before the drop-offs of its order. Geometry and ETAs follow."""
    assignment = _replannable(route)
    stops = _locked_stops(route)
    done = [stop for stop in stops if stop.status != StopStatus.PENDING]
    pending = {stop.pk: stop for stop in stops if stop.status == StopStatus.PENDING}
    if len(stop_ids) != len(set(stop_ids)) or set(stop_ids) != set(pending):
        raise InvalidSequenceError(
            _("List every pending stop of the route exactly once: %(ids)s.")
            % {"ids": ", ".join(str(pk) for pk in sorted(pending))},
        )
    ordered = [pending[pk] for pk in stop_ids]
    position = {stop.pk: index for index, stop in enumerate(ordered)}
    pickup_at = {
        (stop.lat, stop.lng): position[stop.pk] for stop in ordered if stop.kind == StopKind.PICKUP
    }
    for stop in ordered:
        if stop.kind != StopKind.DELIVERY:
            continue
        destination = stop.destination
        assert destination is not None  # a delivery stop always has its drop-off
        origin = (destination.order.origin_lat, destination.order.origin_lng)
        if pickup_at.get(origin, -1) > position[stop.pk]:
            raise InvalidSequenceError(
                _("Stop %(stop)s is a drop-off before its pickup.") % {"stop": stop.pk}
            )
    return _write_route(
        assignment=assignment,
        stops=[_stop_fields(stop) for stop in done + ordered],
        started=_plan_start(assignment),
    )


@transaction.atomic
def stop_visit(*, stop: Stop) -> Stop:
    """The driver has collected the loads at a pickup of its run under way. A drop-off is
    done only by delivering it or recording its failure, with the proof; visiting a stop
    already visited changes nothing (a retry)."""
    run_id = stop.route.assignment_id
    if run_id is None:
        raise RouteWithoutRunError(
            _("Only the stops of a run are visited."), route_id=stop.route_id
        )
    assignment = Assignment.objects.select_for_update().get(pk=run_id)
    # Under the run's lock: a re-plan (which replaces the stops) has finished or waits.
    current = Stop.objects.select_for_update().filter(pk=stop.pk).first()
    if current is None:
        raise NotFoundError(_("The route was re-planned: use the stops of the new one."))
    stop = current
    if assignment.status != AssignmentStatus.IN_PROGRESS:
        raise AssignmentNotInProgressError(
            _("Stops are visited only on a run in progress."),
            assignment_id=assignment.pk,
            status=assignment.status,
        )
    if stop.kind == StopKind.DELIVERY:
        ids = {"pk": assignment.pk, "destination_id": stop.destination_id}
        raise DeliveryStopNeedsProofError(
            assignment_id=assignment.pk,
            destination_id=stop.destination_id,
            deliver_url=reverse("assignments-deliver", kwargs=ids),
            fail_url=reverse("assignments-fail", kwargs=ids),
        )
    if stop.status == StopStatus.SKIPPED:
        raise IllegalTransitionError(
            _("This pickup was skipped: its orders were cancelled."),
            current=stop.status,
            target=StopStatus.VISITED,
            allowed=[],
        )
    if stop.status == StopStatus.PENDING:
        stop.status = StopStatus.VISITED
        stop.visited_at = timezone.now()
        stop.save(update_fields=["status", "visited_at"])
    return stop

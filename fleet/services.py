"""Fleet writes: vehicles and drivers, runs, incidents, routes and proofs of delivery."""

import logging
from datetime import timedelta
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from fleet import restriction, rules
from fleet.errors import (
    AssignmentInProgressError,
    AssignmentNotInProgressError,
    DeliveryStopNeedsProofError,
    InactiveUserError,
    InvalidSequenceError,
    OrdersNotPendingError,
    RouteWithoutRunError,
    RunClosedError,
    VehicleUnavailableError,
)
from fleet.models import (
    Assignment,
    AssignmentStatus,
    Availability,
    Driver,
    Incident,
    IncidentOrigin,
    IncidentType,
    Route,
    Stop,
    StopKind,
    StopStatus,
    Vehicle,
    VehicleStatus,
)
from identity import catalogue
from identity import services as identity_services
from identity.models import User
from orders import services as order_services
from orders.models import Destination, Order, OrderEventType, OrderStatus
from orders.timeline import destination_data, order_event_record
from rappi.errors import IllegalTransitionError, NotFoundError
from rappi.routing import Point, get_router, optimise_order
from tracking import events, evidence, geofences, pings

logger = logging.getLogger(__name__)

# --- Vehicles ------------------------------------------------------------------------------


def _normalise_plate(plate: str) -> str:
    return (plate or "").strip().upper()


@transaction.atomic
def vehicle_create(*, plate: str, **fields) -> Vehicle:
    vehicle = Vehicle(plate=_normalise_plate(plate), **fields)
    vehicle.full_clean()
    vehicle.save()
    return vehicle


@transaction.atomic
def vehicle_update(*, vehicle: Vehicle, **changes) -> Vehicle:
    vehicle = Vehicle.objects.select_for_update().get(pk=vehicle.pk)
    if "plate" in changes:
        changes["plate"] = _normalise_plate(changes["plate"])
    for field, value in changes.items():
        setattr(vehicle, field, value)
    vehicle.full_clean()
    vehicle.save()
    if not vehicle.is_usable:
        # Nobody keeps an unusable vehicle as their default.
        Driver.objects.filter(vehicle=vehicle).update(vehicle=None, updated_at=timezone.now())
    return vehicle


@transaction.atomic
def vehicle_deactivate(*, vehicle: Vehicle) -> Vehicle:
    """Soft delete: kept for the history of its runs."""
    return vehicle_update(vehicle=vehicle, is_active=False, status=VehicleStatus.INACTIVE)


# --- Drivers -------------------------------------------------------------------------------


def _usable_vehicle(vehicle: Vehicle | None) -> Vehicle | None:
    if vehicle is None:
        return None
    vehicle = Vehicle.objects.select_for_update().get(pk=vehicle.pk)
    if not vehicle.is_usable:
        raise VehicleUnavailableError(vehicle_id=vehicle.pk, status=vehicle.status)
    return vehicle


@transaction.atomic
def driver_link_user(*, user: User) -> Driver:
    """Give a `driver` login its driver record, or re-link and reactivate the one it had."""
    driver, created = Driver.objects.get_or_create(
        user=user, defaults={"phone": user.phone, "is_active": user.is_active}
    )
    if not created and user.is_active and not driver.is_active:
        driver.is_active = True
        driver.availability = Availability.AVAILABLE
        driver.save(update_fields=["is_active", "availability", "updated_at"])
    return driver


@transaction.atomic
def driver_create(
    *,
    by: User,
    email: str,
    full_name: str,
    password: str,
    phone: str = "",
    licence_number: str | None = None,
    vehicle: Vehicle | None = None,
) -> Driver:
    """A new courier: its `driver` login (which links the record) and its details."""
    user = identity_services.user_create(
        email=email,
        password=password,
        full_name=full_name,
        phone=phone,
        role=catalogue.DRIVER,
        by=by,
    )
    return driver_update(
        driver=Driver.objects.get(user=user),
        phone=phone,
        licence_number=licence_number,
        vehicle=vehicle,
    )


@transaction.atomic
def driver_update(*, driver: Driver, **changes) -> Driver:
    driver = Driver.objects.select_for_update().select_related("user").get(pk=driver.pk)
    is_active = changes.pop("is_active", None)
    if changes.get("availability") == Availability.AVAILABLE:
        _not_on_a_live_run(driver)
    if "vehicle" in changes:
        changes["vehicle"] = _usable_vehicle(changes["vehicle"])
    if "licence_number" in changes:
        changes["licence_number"] = (changes["licence_number"] or "").strip().upper() or None
    for field, value in changes.items():
        setattr(driver, field, value)
    driver.full_clean(exclude=["user"])
    driver.save()
    if is_active is False and driver.is_active:
        driver = driver_deactivate(driver=driver)
    elif is_active is True and not driver.is_active:
        driver = driver_reactivate(driver=driver)
    return driver


def _not_on_a_live_run(driver: Driver) -> None:
    """A driver on a run still to be driven is busy until the run ends: marking it
    available by hand would offer it for a second run."""
    run = rules.live_run(driver_id=driver.pk)
    if run is not None:
        raise IllegalTransitionError(
            _("The driver is on run #%(id)s until it ends.") % {"id": run.pk},
            current=driver.availability,
            target=Availability.AVAILABLE,
            allowed=[],
            assignment_id=run.pk,
        )


@transaction.atomic
def driver_set_vehicle(*, driver: Driver, vehicle: Vehicle | None) -> Driver:
    return driver_update(driver=driver, vehicle=vehicle)


@transaction.atomic
def driver_deactivate(*, driver: Driver) -> Driver:
    """Soft delete; the driver's login is deactivated too (its sessions end)."""
    Driver.objects.filter(pk=driver.pk).update(
        is_active=False, availability=Availability.INACTIVE, updated_at=timezone.now()
    )
    driver.is_active, driver.availability = False, Availability.INACTIVE
    if driver.user.is_active:
        identity_services.user_deactivate(user=driver.user, by=None)
    return driver


@transaction.atomic
def driver_reactivate(*, driver: Driver) -> Driver:
    if not driver.user.is_active:
        raise InactiveUserError(user_id=driver.user_id)
    Driver.objects.filter(pk=driver.pk).update(
        is_active=True, availability=Availability.AVAILABLE, updated_at=timezone.now()
    )
    driver.is_active, driver.availability = True, Availability.AVAILABLE
    return driver


# --- Runs (assignments) ----------------------------------------------------------------------


def _refuse_to_book(driver: Driver, vehicle: Vehicle, **orders) -> None:
    """Raise the first reason the driver or the vehicle (`rules`) cannot take these
    orders on a new live run; both rows are locked by the caller."""
    refusal = rules.driver_refusal(driver, rules.live_run(driver_id=driver.pk))
    if refusal is None:
        refusals = rules.vehicle_refusals(
            vehicle, run=rules.live_run(vehicle_id=vehicle.pk), **orders
        )
        refusal = refusals[0] if refusals else None
    if refusal is not None:
        raise refusal


def _put_on_the_road(write, *, driver: Driver, vehicle: Vehicle):
    """Run `write`, which makes a run live, in a savepoint. The one-live-run indexes back
    up the checks made before it: should a run committed since (by a write that did not
    take the vehicle's lock) hold the driver or the vehicle, the conflict is named as the
    check would have named it, never a 500."""
    try:
        with transaction.atomic():
            return write()
    except IntegrityError:
        refusal = rules.busy_refusal(
            vehicle, rules.live_run(vehicle_id=vehicle.pk)
        ) or rules.driver_refusal(driver, rules.live_run(driver_id=driver.pk))
        if refusal is None:
            raise
        raise refusal from None


@transaction.atomic
def assignment_create(
    *, orders: list[Order], driver: Driver, vehicle: Vehicle, by: User
) -> Assignment:
    """Put pending orders in a run for an available driver and a usable vehicle that are
    on no other live run. Orders, driver and vehicle rows are locked (in id order, so two
    dispatchers cannot deadlock or double-book); capacity is the run's own load."""
    order_ids = sorted({o.pk for o in orders})
    locked_orders = list(Order.objects.select_for_update().filter(pk__in=order_ids).order_by("pk"))
    driver = Driver.objects.select_for_update().select_related("user").get(pk=driver.pk)
    vehicle = Vehicle.objects.select_for_update().get(pk=vehicle.pk)
    not_pending = [o.pk for o in locked_orders if o.status != OrderStatus.PENDING]
    if not_pending or len(locked_orders) != len(order_ids):
        raise OrdersNotPendingError(order_ids=not_pending)
    destinations = list(Destination.objects.filter(order_id__in=order_ids))
    _refuse_to_book(driver, vehicle, orders=locked_orders, destinations=destinations)
    assignment = _put_on_the_road(
        lambda: Assignment.objects.create(driver=driver, vehicle=vehicle, created_by=by),
        driver=driver,
        vehicle=vehicle,
    )
    assignment.orders.set(locked_orders)
    assigned = {
        "assignment_id": assignment.pk,
        "driver_id": driver.pk,
        "driver_name": driver.user.full_name,
        "vehicle_id": vehicle.pk,
        "vehicle_plate": vehicle.plate,
    }
    for order in locked_orders:
        order_services.order_transition(
            order=order,
            to=OrderStatus.ASSIGNED,
            by=by,
            event=OrderEventType.ASSIGNED,
            data=assigned,
        )
    driver.availability = Availability.BUSY
    driver.save(update_fields=["availability", "updated_at"])
    route_plan(assignment=assignment)
    identity_services.notification_send(
        recipient_user_id=driver.user_id,
        kind="run.assigned",
        title=_("New run"),
        body=_("Run #%(id)s: %(count)d order(s).")
        % {"id": assignment.pk, "count": len(locked_orders)},
        data={"assignment_id": assignment.pk},
    )
    return assignment


def _locked_run(assignment: Assignment) -> Assignment:
    return Assignment.objects.select_for_update().get(pk=assignment.pk)


def _locked_orders(assignment: Assignment, **filters) -> QuerySet[Order]:
    """The run's orders (narrowed by `filters`), locked in id order and only themselves
    (not the join rows nor related rows): every path locks several orders the same way."""
    return (
        Order.objects.select_for_update(of=("self",))
        .filter(assignments=assignment, **filters)
        .order_by("pk")
    )


def assignments_lock_for_order(*, order: Order) -> list[Assignment]:
    """Lock the live runs holding `order`, in id order, before the order itself: what
    cancelling it may change (runs before orders, docs/architecture.md, Lock order)."""
    return list(
        Assignment.objects.select_for_update(of=("self",))
        .filter(orders=order, status__in=Assignment.ACTIVE)
        .order_by("pk")
    )


def _free_driver(driver_id: int) -> None:
    Driver.objects.filter(pk=driver_id, availability=Availability.BUSY).update(
        availability=Availability.AVAILABLE, updated_at=timezone.now()
    )


def _refuse(assignment: Assignment, target: str, allowed: list[str]) -> None:
    raise IllegalTransitionError(
        _("A run cannot go from %(current)s to %(target)s.")
        % {
            "current": AssignmentStatus(assignment.status).label.lower(),
            "target": AssignmentStatus(target).label.lower(),
        },
        current=assignment.status,
        target=target,
        allowed=allowed,
    )


@transaction.atomic
def assignment_start(*, assignment: Assignment, by: User) -> Assignment:
    """The run's driver (or staff) sets off: its orders are in transit, customers told."""
    assignment = _locked_run(assignment)
    if assignment.status != AssignmentStatus.ASSIGNED:
        _refuse(assignment, AssignmentStatus.IN_PROGRESS, [])
    assignment.status = AssignmentStatus.IN_PROGRESS
    assignment.started_at = timezone.now()
    assignment.save(update_fields=["status", "started_at", "updated_at"])
    for order in _locked_orders(assignment).select_related("customer"):
        if order.status == OrderStatus.ASSIGNED:
            order_services.order_transition(
                order=order,
                to=OrderStatus.IN_TRANSIT,
                by=by,
                event=OrderEventType.RUN_STARTED,
                data={"assignment_id": assignment.pk},
            )
            if order.customer.user_id:
                identity_services.notification_send(
                    recipient_user_id=order.customer.user_id,
                    kind="run.started",
                    title=_("Your order is on its way"),
                    data={"order_id": order.pk, "assignment_id": assignment.pk},
                )
    return assignment


def _release_orders(assignment: Assignment, *, by: User | None, **data) -> None:
    for order in _locked_orders(assignment, status=OrderStatus.ASSIGNED):
        order_services.order_transition(
            order=order,
            to=OrderStatus.PENDING,
            by=by,
            event=OrderEventType.UNASSIGNED,
            data={"assignment_id": assignment.pk, **data},
        )


@transaction.atomic
def assignment_cancel(
    *, assignment: Assignment, reason: str = "", by: User | None = None
) -> Assignment:
    """Before it starts: its orders go back to pending, its stops are skipped (the orders
    get a new route in their next run) and the driver is free again."""
    assignment = _locked_run(assignment)
    if assignment.status != AssignmentStatus.ASSIGNED:
        _refuse(assignment, AssignmentStatus.CANCELLED, [])
    _release_orders(assignment, by=by, reason=reason)
    Stop.objects.filter(route__assignment=assignment, status=StopStatus.PENDING).update(
        status=StopStatus.SKIPPED
    )
    assignment.status = AssignmentStatus.CANCELLED
    assignment.cancel_reason = reason
    assignment.finished_at = timezone.now()
    assignment.save(update_fields=["status", "cancel_reason", "finished_at", "updated_at"])
    _free_driver(assignment.driver_id)
    return assignment


@transaction.atomic
def assignment_delete(*, assignment: Assignment, by: User | None = None) -> None:
    """Not while in progress; its orders go back to pending and the driver is freed."""
    assignment = _locked_run(assignment)
    if assignment.status == AssignmentStatus.IN_PROGRESS:
        raise AssignmentInProgressError(assignment_id=assignment.pk)
    # A cancelled or finished run holds nothing any more: its orders may be in another
    # run by now, and its driver on another.
    if assignment.status == AssignmentStatus.ASSIGNED:
        _release_orders(assignment, by=by, run_deleted=True)
        _free_driver(assignment.driver_id)
    run_id = assignment.pk
    assignment.delete()
    # MongoDB is not in the transaction: its data goes only once the run is surely gone.
    transaction.on_commit(lambda: run_documents_purge(assignment_id=run_id))


def run_documents_purge(*, assignment_id: int) -> None:
    """Remove a deleted run's MongoDB documents: proofs and incident files, corridor, pings,
    geofence events and states. Each kind on its own, so one failure does not keep the
    others; failures are logged."""
    for purge in (
        evidence.evidence_delete_for,
        geofences.corridor_delete_for,
        pings.pings_delete_for,
        events.events_delete_for,
    ):
        try:
            purge(assignment_id=assignment_id)
        except Exception:  # the run is deleted; leftovers are logged for a later sweep
            logger.exception("Could not purge %s of deleted run %s", purge.__name__, assignment_id)


def _pending_pickups(assignment: Assignment, order: Order):
    """The run's pickup stops still to make at `order`'s origin."""
    return Stop.objects.filter(
        route__assignment=assignment,
        kind=StopKind.PICKUP,
        lat=order.origin_lat,
        lng=order.origin_lng,
        status=StopStatus.PENDING,
    )


@transaction.atomic
def assignment_order_cancelled(*, order: Order) -> None:
    """An order in a run was cancelled: its pending stops are skipped; a run left with no
    live order is cancelled and its driver freed (docs/domain.md, Orders) — or finished, if
    it had already delivered another order."""
    for assignment in assignments_lock_for_order(order=order):
        live = assignment.orders.exclude(status__in=[OrderStatus.CANCELLED, OrderStatus.DELIVERED])
        Stop.objects.filter(
            route__assignment=assignment, destination__order=order, status=StopStatus.PENDING
        ).update(status=StopStatus.SKIPPED)
        # Its pickup too, unless another order still to carry is collected there.
        if not live.filter(origin_lat=order.origin_lat, origin_lng=order.origin_lng).exists():
            _pending_pickups(assignment, order).update(status=StopStatus.SKIPPED)
        if live.exists():
            continue
        if assignment.orders.filter(status=OrderStatus.DELIVERED).exists():
            _close_run(assignment)
            continue
        assignment.status = AssignmentStatus.CANCELLED
        assignment.cancel_reason = "orders cancelled"
        assignment.finished_at = timezone.now()
        assignment.save(update_fields=["status", "cancel_reason", "finished_at", "updated_at"])
        _free_driver(assignment.driver_id)


# --- Incidents, finishing and reopening --------------------------------------------------------


def _notify_dispatchers(*, kind: str, title: str, body: str = "", data: dict) -> None:
    for user_id in User.objects.filter(role__name=catalogue.DISPATCHER, is_active=True).values_list(
        "pk", flat=True
    ):
        identity_services.notification_send(
            recipient_user_id=user_id, kind=kind, title=title, body=body, data=data
        )


@transaction.atomic
def incident_report(
    *,
    assignment: Assignment,
    type: str,
    notes: str = "",
    by: User | None,
    origin: str | None = None,
    severity: int | None = None,
    lat: float | None = None,
    lng: float | None = None,
) -> Incident:
    """Record an incident (and where it happened when the system knows it: `lat`/`lng`);
    severity follows from its type unless staff set it; the dispatchers are told. A driver
    reports on its runs still to be driven; staff (and the system) on any run but one
    cancelled before it started, which never happened."""
    assignment = _locked_run(assignment)
    if by is not None and not by.is_staff_member and assignment.status not in Assignment.ACTIVE:
        raise RunClosedError(
            _("Incidents are reported on a run still to be driven; tell dispatch about this one."),
            assignment_id=assignment.pk,
            status=assignment.status,
        )
    if assignment.status == AssignmentStatus.CANCELLED and assignment.started_at is None:
        raise RunClosedError(
            _("This run was cancelled before it started: nothing happened on it."),
            assignment_id=assignment.pk,
            status=assignment.status,
        )
    if origin is None:
        origin = (
            IncidentOrigin.DRIVER
            if by is not None and not by.is_staff_member
            else IncidentOrigin.STAFF
        )
    incident = Incident.objects.create(
        assignment=assignment,
        type=type,
        severity=severity or Incident.DEFAULT_SEVERITY[type],
        origin=origin,
        notes=notes,
        reported_by=by,
        lat=lat,
        lng=lng,
    )
    _notify_dispatchers(
        kind="incident.reported",
        title=_("Incident on run #%(id)s") % {"id": assignment.pk},
        body=incident.get_type_display(),
        data={"incident_id": incident.pk, "assignment_id": assignment.pk},
    )
    return incident


@transaction.atomic
def incident_update(*, incident: Incident, **changes) -> Incident:
    for field, value in changes.items():
        setattr(incident, field, value)
    incident.full_clean()
    incident.save()
    return incident


def order_close_if_done(
    *,
    order: Order,
    by: User | None = None,
    event: str | None = None,
    destination: Destination | None = None,
    data: dict | None = None,
) -> Order:
    """An order whose drop-offs are all delivered or failed closes: `delivered` if any was
    delivered, else `cancelled` (docs/domain.md, Orders). `event` (with `destination` and
    `data`) is the drop-off change that prompted the check: it is recorded once, carrying
    the order's closing when it closes it; without one, a closing is a plain status
    change."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    statuses = set(order.destinations.values_list("status", flat=True))
    if order.status != OrderStatus.IN_TRANSIT or Destination.Status.PENDING in statuses:
        if event is not None:
            order_event_record(order=order, type=event, by=by, destination=destination, data=data)
        return order
    target = (
        OrderStatus.DELIVERED if Destination.Status.DELIVERED in statuses else OrderStatus.CANCELLED
    )
    return order_services.order_transition(
        order=order,
        to=target,
        by=by,
        event=event or OrderEventType.STATUS_CHANGED,
        destination=destination,
        data=data,
    )


def _close_stops(assignment: Assignment) -> None:
    """A finished run leaves no stop pending: its pickups were made (what it carried was
    collected), its drop-offs' stops follow them (delivered: visited, failed: skipped)."""
    now = timezone.now()
    pending = Stop.objects.filter(route__assignment=assignment, status=StopStatus.PENDING)
    pending.filter(kind=StopKind.PICKUP).update(status=StopStatus.VISITED, visited_at=now)
    for destination_status, stop_status in _STOP_FOR_DESTINATION.items():
        if stop_status != StopStatus.PENDING:
            pending.filter(kind=StopKind.DELIVERY, destination__status=destination_status).update(
                status=stop_status, visited_at=now
            )


def _close_run(assignment: Assignment) -> Assignment:
    _close_stops(assignment)
    assignment.status = AssignmentStatus.FINISHED
    assignment.finished_at = timezone.now()
    assignment.save(update_fields=["status", "finished_at", "updated_at"])
    _free_driver(assignment.driver_id)
    return assignment


@transaction.atomic
def assignment_finish(*, assignment: Assignment, reason: str, by: User) -> Assignment:
    """Staff close a run in progress now: pending drop-offs fail with the reason, orders
    close, the driver is free, and the forced finish is recorded as an incident."""
    assignment = _locked_run(assignment)
    if assignment.status != AssignmentStatus.IN_PROGRESS:
        _refuse(assignment, AssignmentStatus.FINISHED, [])
    orders = list(_locked_orders(assignment))
    pending = Destination.objects.filter(order__in=orders, status=Destination.Status.PENDING)
    failed_ids: dict[int, list[int]] = {}
    for pk, order_id in pending.order_by("pk").values_list("pk", "order_id"):
        failed_ids.setdefault(order_id, []).append(pk)
    pending.update(status=Destination.Status.FAILED, failure_reason=reason[:300])
    incident = incident_report(
        assignment=assignment,
        type=IncidentType.FORCED_FINISH,
        notes=reason,
        by=by,
        origin=IncidentOrigin.STAFF,
    )
    for order in orders:
        if order.pk in failed_ids:  # orders closed before have nothing more to record
            order_close_if_done(
                order=order,
                by=by,
                event=OrderEventType.RUN_FINISHED,
                data={
                    "assignment_id": assignment.pk,
                    "reason": reason,
                    "failed_destination_ids": failed_ids[order.pk],
                    "incident_id": incident.pk,
                },
            )
    before = assignment.status
    finished = _close_run(assignment)
    audit_record(
        action="assignment.force_finish",
        target=finished,
        changes={"status": (before, finished.status), "reason": (None, reason)},
        actor=by,
    )
    return finished


@transaction.atomic
def assignment_reopen(
    *, assignment: Assignment, include_delivered: bool = False, by: User | None = None
) -> Assignment:
    """Staff put a finished run back in progress: its failed drop-offs (and, if asked,
    delivered ones) and their stops are pending again and its orders in transit. Driver
    and vehicle must be free (on no other live run) and the vehicle in service."""
    assignment = _locked_run(assignment)
    if assignment.status != AssignmentStatus.FINISHED:
        _refuse(assignment, AssignmentStatus.IN_PROGRESS, [])
    # Orders, driver, then vehicle: the order run creation locks them in.
    orders = list(_locked_orders(assignment))
    driver = Driver.objects.select_for_update().select_related("user").get(pk=assignment.driver_id)
    vehicle = Vehicle.objects.select_for_update().get(pk=assignment.vehicle_id)
    refusal = (
        rules.driver_refusal(driver, rules.live_run(driver_id=driver.pk))
        or rules.usable_refusal(vehicle)
        or rules.busy_refusal(vehicle, rules.live_run(vehicle_id=vehicle.pk))
    )
    if refusal is not None:
        raise refusal
    reopened = [Destination.Status.FAILED]
    if include_delivered:
        reopened.append(Destination.Status.DELIVERED)
    reopened_by_order: dict[int, list[int]] = {}
    for pk, order_id in (
        Destination.objects.filter(order__in=orders, status__in=reopened)
        .order_by("pk")
        .values_list("pk", "order_id")
    ):
        reopened_by_order.setdefault(order_id, []).append(pk)
    reopened_ids = [pk for ids in reopened_by_order.values() for pk in ids]
    Destination.objects.filter(pk__in=reopened_ids).update(
        status=Destination.Status.PENDING, failure_reason="", delivered_at=None, received_by=""
    )
    Stop.objects.filter(route__assignment=assignment, destination_id__in=reopened_ids).update(
        status=StopStatus.PENDING, visited_at=None
    )
    for order in orders:
        still_open = order.destinations.filter(status=Destination.Status.PENDING).exists()
        if order.status in (OrderStatus.DELIVERED, OrderStatus.CANCELLED) and still_open:
            order_services.order_transition(
                order=order,
                to=OrderStatus.IN_TRANSIT,
                by=by,
                event=OrderEventType.REOPENED,
                data={
                    "assignment_id": assignment.pk,
                    "reopened_destination_ids": reopened_by_order.get(order.pk, []),
                    "include_delivered": include_delivered,
                },
            )
    assignment.status = AssignmentStatus.IN_PROGRESS
    assignment.finished_at = None
    _put_on_the_road(
        lambda: assignment.save(update_fields=["status", "finished_at", "updated_at"]),
        driver=driver,
        vehicle=vehicle,
    )
    driver.availability = Availability.BUSY
    driver.save(update_fields=["availability", "updated_at"])
    audit_record(
        action="assignment.reopen",
        target=assignment,
        changes={
            "status": (AssignmentStatus.FINISHED, assignment.status),
            "include_delivered": (None, include_delivered),
        },
        actor=by,
    )
    return assignment


# --- Routes and stops --------------------------------------------------------------------------


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


_STOP_FOR_DESTINATION = {
    Destination.Status.PENDING: StopStatus.PENDING,
    Destination.Status.DELIVERED: StopStatus.VISITED,
    Destination.Status.FAILED: StopStatus.SKIPPED,
}


@transaction.atomic
def route_plan(*, assignment: Assignment) -> Route:
    """Plan (or re-plan) a run's route: its pickups first, in the order the orders came,
    then its drop-offs in the optimiser's order (nearest neighbour + 2-opt over the routing
    provider's distances). Already visited stops keep their place and their state."""
    assignment = _locked_run(assignment)
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
        if d.status == Destination.Status.DELIVERED:
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
    if route.assignment_id is None:
        raise RouteWithoutRunError(route_id=route.pk)
    assignment = _locked_run(route.assignment)
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
        origin = (stop.destination.order.origin_lat, stop.destination.order.origin_lng)
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
    stop = Stop.objects.select_for_update().filter(pk=stop.pk).first()
    if stop is None:
        raise NotFoundError(_("The route was re-planned: use the stops of the new one."))
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


# --- Proof of delivery ---------------------------------------------------------------------------

Upload = tuple[str, bytes]  # (filename as sent, bytes)


def _deliverable(*, assignment: Assignment, destination_id: int) -> tuple[Assignment, Order]:
    """Lock the run, then the destination's order (runs before orders, as start, cancel,
    finish, reopen and delete do); the destination must be a drop-off of the run."""
    destination = Destination.objects.filter(
        pk=destination_id, order__in=assignment.orders.all()
    ).first()
    if destination is None:
        raise NotFoundError(_("This run has no such destination."))
    assignment = _locked_run(assignment)
    order = Order.objects.select_for_update().get(pk=destination.order_id)
    if assignment.status != AssignmentStatus.IN_PROGRESS:
        raise AssignmentNotInProgressError(status=assignment.status)
    return assignment, order


def _pending_destination(destination_id: int, target: str) -> Destination:
    destination = Destination.objects.select_for_update().get(pk=destination_id)
    if destination.status != Destination.Status.PENDING:
        raise IllegalTransitionError(
            _("This drop-off is already %(status)s.") % {"status": destination.status},
            current=destination.status,
            target=target,
            allowed=[],
        )
    return destination


def _settle(
    *, assignment: Assignment, order: Order, destination: Destination, by: User, **data
) -> None:
    """After a drop-off is delivered or failed: its stop is done, the customer is told, the
    order closes when all its drop-offs are, and the run when all its orders are. The
    drop-off's change is recorded on the order's timeline with `data` (with the closing)."""
    stop_status, now = _STOP_FOR_DESTINATION[destination.status], timezone.now()
    Stop.objects.filter(
        route__assignment=assignment, destination=destination, status=StopStatus.PENDING
    ).update(status=stop_status, visited_at=now)
    # Whatever was handed over (or tried) was collected: its pickup is made.
    _pending_pickups(assignment, order).update(status=StopStatus.VISITED, visited_at=now)
    delivered = destination.status == Destination.Status.DELIVERED
    order = order_close_if_done(
        order=order,
        by=by,
        event=OrderEventType.DELIVERED if delivered else OrderEventType.FAILED,
        destination=destination,
        data={"assignment_id": assignment.pk, **destination_data(destination), **data},
    )
    customer_user_id = order.customer.user_id
    if customer_user_id:
        identity_services.notification_send(
            recipient_user_id=customer_user_id,
            kind="destination.delivered" if delivered else "destination.failed",
            title=(_("Delivered to %(name)s") if delivered else _("Delivery to %(name)s failed"))
            % {"name": destination.recipient_name},
            body=destination.received_by if delivered else destination.failure_reason,
            data={
                "order_id": order.pk,
                "destination_id": destination.pk,
                "order_status": order.status,
            },
        )
    open_orders = assignment.orders.exclude(
        status__in=[OrderStatus.DELIVERED, OrderStatus.CANCELLED]
    )
    if not open_orders.exists():
        _close_run(assignment)


def _store_proofs(items: list[dict]) -> list:
    """Store each evidence record; if one fails, the ones already stored are removed."""
    stored = []
    try:
        for item in items:
            stored.append(evidence.evidence_store(**item))
    except Exception:
        _discard_proofs(stored)
        raise
    return stored


def _discard_proofs(stored: list) -> None:
    for record in stored:
        try:
            evidence.evidence_delete(evidence=record)
        except Exception:  # cleanup must not hide the error that made it necessary
            logger.exception("Could not remove evidence %s of a refused delivery", record.pk)


def destination_deliver(
    *,
    assignment: Assignment,
    destination_id: int,
    received_by: str,
    photo: Upload,
    signature: Upload | None = None,
    lat: float | None = None,
    lng: float | None = None,
    by: User,
) -> Destination:
    """The driver hands a drop-off over: the photo (and signature) are stored as proof,
    the drop-off is delivered and its stop visited; the order and run close when done."""
    # Checked and re-encoded before any lock is taken: the slow part blocks nobody.
    photo_file, *signature_file = evidence.evidence_prepare(
        [photo] + ([signature] if signature is not None else [])
    )
    stored = []
    try:
        with transaction.atomic():
            assignment, order = _deliverable(assignment=assignment, destination_id=destination_id)
            destination = _pending_destination(destination_id, Destination.Status.DELIVERED)
            owner = {
                "uploaded_by": by.pk,
                "destination_id": destination.pk,
                "assignment_id": assignment.pk,
                "order_id": order.pk,
                "lat": lat,
                "lng": lng,
            }
            proofs = [{"kind": "photo", "uploads": [photo_file], **owner}]
            if signature_file:
                proofs.append({"kind": "signature", "uploads": signature_file, **owner})
            stored = _store_proofs(proofs)
            destination.status = Destination.Status.DELIVERED
            destination.delivered_at = timezone.now()
            destination.received_by = received_by
            destination.save(update_fields=["status", "delivered_at", "received_by"])
            _settle(
                assignment=assignment,
                order=order,
                destination=destination,
                by=by,
                received_by=received_by,
            )
    except Exception:
        _discard_proofs(stored)
        raise
    return destination


def destination_fail(
    *,
    assignment: Assignment,
    destination_id: int,
    reason: str,
    photo: Upload,
    lat: float | None = None,
    lng: float | None = None,
    by: User,
) -> Destination:
    """The driver could not hand a drop-off over: the photo is stored as proof (also as
    evidence of the `failed_delivery` incident recorded), the drop-off fails, its stop is
    skipped; the order and run close when done."""
    photo_files = evidence.evidence_prepare([photo])
    stored = []
    try:
        with transaction.atomic():
            assignment, order = _deliverable(assignment=assignment, destination_id=destination_id)
            destination = _pending_destination(destination_id, Destination.Status.FAILED)
            incident = incident_report(
                assignment=assignment, type=IncidentType.FAILED_DELIVERY, notes=reason, by=by
            )
            stored = _store_proofs(
                [
                    {
                        "kind": "photo",
                        "uploads": photo_files,
                        "uploaded_by": by.pk,
                        "destination_id": destination.pk,
                        "assignment_id": assignment.pk,
                        "order_id": order.pk,
                        "incident_id": incident.pk,
                        "note": reason,
                        "lat": lat,
                        "lng": lng,
                    }
                ]
            )
            destination.status = Destination.Status.FAILED
            destination.failure_reason = reason[:300]
            destination.save(update_fields=["status", "failure_reason"])
            _settle(
                assignment=assignment,
                order=order,
                destination=destination,
                by=by,
                reason=reason,
                incident_id=incident.pk,
            )
    except Exception:
        _discard_proofs(stored)
        raise
    return destination


def incident_evidence_add(
    *, incident: Incident, kind: str, uploads: list[Upload], note: str = "", by: User
):
    """Attach files to an incident; they are purged with its run."""
    return evidence.evidence_store(
        kind=kind,
        uploads=uploads,
        uploaded_by=by.pk,
        incident_id=incident.pk,
        assignment_id=incident.assignment_id,
        note=note,
    )


@transaction.atomic
def incident_delete(*, incident: Incident) -> None:
    """Staff remove an incident; its evidence files go once the deletion has committed."""
    incident_id = incident.pk
    incident.delete()
    transaction.on_commit(
        partial(evidence.evidence_delete_for_incident, incident_id=incident_id), robust=True
    )


def incident_evidence_delete(*, record) -> None:
    evidence.evidence_delete(evidence=record)

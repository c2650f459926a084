"""Fleet writes: vehicles and drivers (runs, routes and proofs build on these)."""

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from fleet.errors import (
    AssignmentInProgressError,
    CapacityExceededError,
    DoesNotFitError,
    DriverUnavailableError,
    InactiveUserError,
    OrdersNotPendingError,
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
from orders.models import Destination, Order, OrderStatus
from rappi.errors import IllegalTransitionError
from rappi.routing import Point, get_router, optimise_order

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


def _box(*dims) -> list[Decimal]:
    return sorted(Decimal(d) for d in dims)


def _check_fit(vehicle: Vehicle, destinations) -> None:
    """Every package with all three sides fits the cargo box in some orientation: sorted
    sides against sorted sides is the test for axis-aligned rotations."""
    box = _box(vehicle.length_cm, vehicle.width_cm, vehicle.height_cm)
    for destination in destinations:
        sides = (destination.length_cm, destination.width_cm, destination.height_cm)
        if any(side is None for side in sides):
            continue
        if any(p > b for p, b in zip(_box(*sides), box, strict=True)):
            raise DoesNotFitError(
                destination_id=destination.pk,
                package_cm=[str(s) for s in sides],
                box_cm=[str(vehicle.length_cm), str(vehicle.width_cm), str(vehicle.height_cm)],
            )


def _active_load_kg(vehicle: Vehicle) -> Decimal:
    total = Destination.objects.filter(
        order__assignments__vehicle=vehicle,
        order__assignments__status__in=Assignment.ACTIVE,
        status=Destination.Status.PENDING,
    ).aggregate(total=Sum("chargeable_weight_kg"))["total"]
    return total or Decimal("0")


@transaction.atomic
def assignment_create(
    *, orders: list[Order], driver: Driver, vehicle: Vehicle, by: User
) -> Assignment:
    """Put pending orders in a run for an available driver and a usable vehicle. Orders,
    driver and vehicle rows are locked (in id order, so two dispatchers cannot deadlock or
    double-book); capacity counts what the vehicle already carries on its active runs."""
    order_ids = sorted({o.pk for o in orders})
    locked_orders = list(Order.objects.select_for_update().filter(pk__in=order_ids).order_by("pk"))
    driver = Driver.objects.select_for_update().select_related("user").get(pk=driver.pk)
    vehicle = Vehicle.objects.select_for_update().get(pk=vehicle.pk)
    not_pending = [o.pk for o in locked_orders if o.status != OrderStatus.PENDING]
    if not_pending or len(locked_orders) != len(order_ids):
        raise OrdersNotPendingError(order_ids=not_pending)
    if not driver.is_active or driver.availability != Availability.AVAILABLE:
        raise DriverUnavailableError(driver_id=driver.pk, availability=driver.availability)
    if not vehicle.is_usable:
        raise VehicleUnavailableError(vehicle_id=vehicle.pk, status=vehicle.status)
    destinations = list(Destination.objects.filter(order_id__in=order_ids))
    requested = sum((d.chargeable_weight_kg for d in destinations), Decimal("0"))
    current = _active_load_kg(vehicle)
    if current + requested > vehicle.capacity_kg:
        raise CapacityExceededError(
            capacity_kg=str(vehicle.capacity_kg),
            current_load_kg=str(current),
            requested_kg=str(requested),
        )
    _check_fit(vehicle, destinations)
    assignment = Assignment.objects.create(driver=driver, vehicle=vehicle, created_by=by)
    assignment.orders.set(locked_orders)
    for order in locked_orders:
        order_services.order_transition(order=order, to=OrderStatus.ASSIGNED)
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


def _free_driver(driver_id: int) -> None:
    Driver.objects.filter(pk=driver_id, availability=Availability.BUSY).update(
        availability=Availability.AVAILABLE, updated_at=timezone.now()
    )


def _refuse(assignment: Assignment, target: str, allowed: list[str]) -> None:
    raise IllegalTransitionError(
        _("A run cannot go from %(current)s to %(target)s.")
        % {"current": assignment.status, "target": target},
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
    for order in (
        Order.objects.select_for_update().filter(assignments=assignment).select_related("customer")
    ):
        if order.status == OrderStatus.ASSIGNED:
            order_services.order_transition(order=order, to=OrderStatus.IN_TRANSIT)
            if order.customer.user_id:
                identity_services.notification_send(
                    recipient_user_id=order.customer.user_id,
                    kind="run.started",
                    title=_("Your order is on its way"),
                    data={"order_id": order.pk, "assignment_id": assignment.pk},
                )
    return assignment


def _release_orders(assignment: Assignment) -> None:
    for order in Order.objects.select_for_update().filter(
        assignments=assignment, status=OrderStatus.ASSIGNED
    ):
        order_services.order_transition(order=order, to=OrderStatus.PENDING)


@transaction.atomic
def assignment_cancel(*, assignment: Assignment, reason: str = "") -> Assignment:
    """Before it starts: its orders go back to pending and the driver is free again."""
    assignment = _locked_run(assignment)
    if assignment.status != AssignmentStatus.ASSIGNED:
        _refuse(assignment, AssignmentStatus.CANCELLED, [])
    _release_orders(assignment)
    assignment.status = AssignmentStatus.CANCELLED
    assignment.cancel_reason = reason
    assignment.finished_at = timezone.now()
    assignment.save(update_fields=["status", "cancel_reason", "finished_at", "updated_at"])
    _free_driver(assignment.driver_id)
    return assignment


@transaction.atomic
def assignment_delete(*, assignment: Assignment) -> None:
    """Not while in progress; its orders go back to pending and the driver is freed."""
    assignment = _locked_run(assignment)
    if assignment.status == AssignmentStatus.IN_PROGRESS:
        raise AssignmentInProgressError(assignment_id=assignment.pk)
    _release_orders(assignment)
    if assignment.status == AssignmentStatus.ASSIGNED:
        _free_driver(assignment.driver_id)
    assignment.delete()


@transaction.atomic
def assignment_order_cancelled(*, order: Order) -> None:
    """An order in a run was cancelled: a run left with no live order is cancelled and
    its driver freed (SPEC §5)."""
    for assignment in Assignment.objects.select_for_update().filter(
        orders=order, status__in=Assignment.ACTIVE
    ):
        live = assignment.orders.exclude(status__in=[OrderStatus.CANCELLED, OrderStatus.DELIVERED])
        if live.exists():
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
) -> Incident:
    """Record an incident; severity follows from its type unless staff set it; the
    dispatchers are told."""
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


def order_close_if_done(*, order: Order) -> Order:
    """An order whose drop-offs are all delivered or failed closes: `delivered` if any was
    delivered, else `cancelled` (SPEC §5)."""
    order = Order.objects.select_for_update().get(pk=order.pk)
    statuses = set(order.destinations.values_list("status", flat=True))
    if order.status != OrderStatus.IN_TRANSIT or Destination.Status.PENDING in statuses:
        return order
    target = (
        OrderStatus.DELIVERED if Destination.Status.DELIVERED in statuses else OrderStatus.CANCELLED
    )
    return order_services.order_transition(order=order, to=target)


def _close_run(assignment: Assignment) -> Assignment:
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
    orders = list(Order.objects.select_for_update().filter(assignments=assignment))
    Destination.objects.filter(order__in=orders, status=Destination.Status.PENDING).update(
        status=Destination.Status.FAILED, failure_reason=reason[:300]
    )
    for order in orders:
        order_close_if_done(order=order)
    incident_report(
        assignment=assignment,
        type=IncidentType.FORCED_FINISH,
        notes=reason,
        by=by,
        origin=IncidentOrigin.STAFF,
    )
    return _close_run(assignment)


@transaction.atomic
def assignment_reopen(*, assignment: Assignment, include_delivered: bool = False) -> Assignment:
    """Staff put a finished run back in progress: its failed drop-offs (and, if asked,
    delivered ones) are pending again and its orders in transit; the driver must be free."""
    assignment = _locked_run(assignment)
    if assignment.status != AssignmentStatus.FINISHED:
        _refuse(assignment, AssignmentStatus.IN_PROGRESS, [])
    driver = Driver.objects.select_for_update().get(pk=assignment.driver_id)
    if not driver.is_active or driver.availability != Availability.AVAILABLE:
        raise DriverUnavailableError(driver_id=driver.pk, availability=driver.availability)
    reopened = [Destination.Status.FAILED]
    if include_delivered:
        reopened.append(Destination.Status.DELIVERED)
    orders = list(Order.objects.select_for_update().filter(assignments=assignment))
    Destination.objects.filter(order__in=orders, status__in=reopened).update(
        status=Destination.Status.PENDING, failure_reason="", delivered_at=None, received_by=""
    )
    for order in orders:
        still_open = order.destinations.filter(status=Destination.Status.PENDING).exists()
        if order.status in (OrderStatus.DELIVERED, OrderStatus.CANCELLED) and still_open:
            order_services.order_transition(order=order, to=OrderStatus.IN_TRANSIT)
    assignment.status = AssignmentStatus.IN_PROGRESS
    assignment.finished_at = None
    assignment.save(update_fields=["status", "finished_at", "updated_at"])
    driver.availability = Availability.BUSY
    driver.save(update_fields=["availability", "updated_at"])
    return assignment


# --- Routes and stops --------------------------------------------------------------------------


def _point(lat, lng) -> Point:
    return Point(lat=float(lat), lng=float(lng))


def _write_route(*, assignment: Assignment, stops: list[dict], started) -> Route:
    """Store a route through `stops` (dicts with kind, lat, lng, order, destination, status)
    in that order, with geometry, totals and an ETA for every stop."""
    router = get_router()
    Route.objects.filter(assignment=assignment).delete()
    if len(stops) >= 2:
        planned = router.route([_point(s["lat"], s["lng"]) for s in stops])
        geometry, distance, duration, legs = (
            planned.geometry,
            planned.distance_m,
            planned.duration_s,
            planned.legs,
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
    clock = started
    for index, stop in enumerate(stops):
        if index > 0:
            clock = clock + timedelta(seconds=legs[index - 1].duration_s)
        Stop.objects.create(route=route, sequence=index + 1, eta=clock, **stop)
    return route


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
    orders = list(Order.objects.filter(assignments=assignment).order_by("pk"))
    pickups, seen = [], set()
    for order in orders:
        key = (order.origin_lat, order.origin_lng)
        if key not in seen:
            seen.add(key)
            pickups.append(
                {
                    "kind": StopKind.PICKUP,
                    "lat": order.origin_lat,
                    "lng": order.origin_lng,
                    "order": order,
                    "destination": None,
                    "status": StopStatus.PENDING,
                }
            )
    by_id = {order.pk: order for order in orders}
    deliveries = [
        {
            "kind": StopKind.DELIVERY,
            "lat": d.lat,
            "lng": d.lng,
            "order": by_id[d.order_id],
            "destination": d,
            "status": _STOP_FOR_DESTINATION[d.status],
        }
        for d in Destination.objects.filter(order__in=orders).order_by("order_id", "sequence")
    ]
    if assignment.status == AssignmentStatus.IN_PROGRESS:
        for pickup in pickups:
            pickup["status"] = StopStatus.VISITED  # a run under way has collected its loads
    done = [d for d in deliveries if d["status"] != StopStatus.PENDING]
    pending = [d for d in deliveries if d["status"] == StopStatus.PENDING]
    anchor = (done or pickups)[-1] if (done or pickups) else None
    ordered = _delivery_order(anchor, pending) if anchor else pending
    started = assignment.started_at or timezone.now()
    return _write_route(assignment=assignment, stops=pickups + done + ordered, started=started)


@transaction.atomic
def stop_visit(*, stop: Stop) -> Stop:
    stop = Stop.objects.select_for_update().get(pk=stop.pk)
    if stop.status == StopStatus.PENDING:
        stop.status = StopStatus.VISITED
        stop.visited_at = timezone.now()
        stop.save(update_fields=["status", "visited_at"])
    return stop

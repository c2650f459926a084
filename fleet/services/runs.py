"""Runs (assignments): creation against the rules, start, cancel, deletion (and the
purge of a deleted run's documents), an order cancelled inside a run, finishing and
reopening, and closing an order whose drop-offs are all done."""

import logging
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from fleet import rules
from fleet.errors import AssignmentInProgressError, OrdersNotPendingError
from fleet.models import (
    Assignment,
    AssignmentStatus,
    Availability,
    Driver,
    IncidentOrigin,
    IncidentType,
    Stop,
    StopKind,
    StopStatus,
    Vehicle,
)
from fleet.services import locks
from fleet.services.incidents import incident_report
from fleet.services.routes import _STOP_FOR_DESTINATION, route_plan
from identity import services as identity_services
from identity.models import User
from orders import services as order_services
from orders.models import Destination, DestinationStatus, Order, OrderEventType, OrderStatus
from orders.timeline import order_event_record
from rappi.errors import IllegalTransitionError
from tracking import events, evidence, geofences, pings

logger = logging.getLogger(__name__)


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


def _free_driver(driver_id: int) -> None:
    Driver.objects.filter(pk=driver_id, availability=Availability.BUSY).update(
        availability=Availability.AVAILABLE, updated_at=timezone.now()
    )


def _refuse(assignment: Assignment, target: str, allowed: list[str]) -> None:
    raise IllegalTransitionError.between(
        _("A run cannot go from %(current)s to %(target)s."),
        AssignmentStatus,
        current=assignment.status,
        target=target,
        allowed=allowed,
    )


@transaction.atomic
def assignment_start(*, assignment: Assignment, by: User) -> Assignment:
    """The run's driver (or staff) sets off: its orders are in transit, customers told."""
    assignment = locks.locked_run(assignment)
    if assignment.status != AssignmentStatus.ASSIGNED:
        _refuse(assignment, AssignmentStatus.IN_PROGRESS, [])
    assignment.status = AssignmentStatus.IN_PROGRESS
    assignment.started_at = timezone.now()
    assignment.save(update_fields=["status", "started_at", "updated_at"])
    for order in locks.locked_orders(assignment).select_related("customer"):
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
    for order in locks.locked_orders(assignment, status=OrderStatus.ASSIGNED):
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
    assignment = locks.locked_run(assignment)
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
    assignment = locks.locked_run(assignment)
    if assignment.status == AssignmentStatus.IN_PROGRESS:
        raise AssignmentInProgressError(assignment_id=assignment.pk)
    _delete_runs([assignment], by=by)


@transaction.atomic
def assignments_delete(
    *, assignments: QuerySet[Assignment], by: User | None = None, purge_documents: bool = True
) -> int:
    """Many runs at once, each as `assignment_delete` deletes one (the demo's reset): a run
    in progress only once it carries no order (its orders were deleted), its driver freed.
    `purge_documents=False` is for runs known to have written nothing to MongoDB: a purge
    costs a few round trips a run. Returns how many runs went."""
    ids = set(assignments.values_list("pk", flat=True))
    runs = list(Assignment.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    under_way = [run.pk for run in runs if run.status == AssignmentStatus.IN_PROGRESS]
    carrying = Assignment.objects.filter(pk__in=under_way, orders__isnull=False).first()
    if carrying is not None:
        raise AssignmentInProgressError(assignment_id=carrying.pk)
    _delete_runs(runs, by=by, purge_documents=purge_documents)
    return len(runs)


def _delete_runs(runs: list[Assignment], *, by: User | None, purge_documents: bool = True) -> None:
    """Delete locked runs: one still to be driven gives its orders back (pending) and its
    driver; a cancelled or finished run holds nothing any more (its orders may be in
    another run by now, and its driver on another)."""
    for run in runs:
        if run.status == AssignmentStatus.ASSIGNED:
            _release_orders(run, by=by, run_deleted=True)
        if run.status in Assignment.ACTIVE:
            _free_driver(run.driver_id)
    Assignment.objects.filter(pk__in=[run.pk for run in runs]).delete()
    if purge_documents:
        # MongoDB is not in the transaction: its data goes only once the runs are surely gone.
        for run in runs:
            transaction.on_commit(partial(run_documents_purge, assignment_id=run.pk))


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
    for assignment in locks.assignments_lock_for_order(order=order):
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


# --- Finishing and reopening --------------------------------------------------------------


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
    if order.status != OrderStatus.IN_TRANSIT or DestinationStatus.PENDING in statuses:
        if event is not None:
            order_event_record(order=order, type=event, by=by, destination=destination, data=data)
        return order
    target = (
        OrderStatus.DELIVERED if DestinationStatus.DELIVERED in statuses else OrderStatus.CANCELLED
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
    assignment = locks.locked_run(assignment)
    if assignment.status != AssignmentStatus.IN_PROGRESS:
        _refuse(assignment, AssignmentStatus.FINISHED, [])
    orders = list(locks.locked_orders(assignment))
    pending = Destination.objects.filter(order__in=orders, status=DestinationStatus.PENDING)
    failed_ids: dict[int, list[int]] = {}
    for pk, order_id in pending.order_by("pk").values_list("pk", "order_id"):
        failed_ids.setdefault(order_id, []).append(pk)
    pending.update(status=DestinationStatus.FAILED, failure_reason=reason[:300])
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
    assignment = locks.locked_run(assignment)
    if assignment.status != AssignmentStatus.FINISHED:
        _refuse(assignment, AssignmentStatus.IN_PROGRESS, [])
    # Orders, driver, then vehicle: the order run creation locks them in.
    orders = list(locks.locked_orders(assignment))
    driver = Driver.objects.select_for_update().select_related("user").get(pk=assignment.driver_id)
    vehicle = Vehicle.objects.select_for_update().get(pk=assignment.vehicle_id)
    refusal = (
        rules.driver_refusal(driver, rules.live_run(driver_id=driver.pk))
        or rules.usable_refusal(vehicle)
        or rules.busy_refusal(vehicle, rules.live_run(vehicle_id=vehicle.pk))
    )
    if refusal is not None:
        raise refusal
    reopened = [DestinationStatus.FAILED]
    if include_delivered:
        reopened.append(DestinationStatus.DELIVERED)
    reopened_by_order: dict[int, list[int]] = {}
    for pk, order_id in (
        Destination.objects.filter(order__in=orders, status__in=reopened)
        .order_by("pk")
        .values_list("pk", "order_id")
    ):
        reopened_by_order.setdefault(order_id, []).append(pk)
    reopened_ids = [pk for ids in reopened_by_order.values() for pk in ids]
    Destination.objects.filter(pk__in=reopened_ids).update(
        status=DestinationStatus.PENDING, failure_reason="", delivered_at=None, received_by=""
    )
    Stop.objects.filter(route__assignment=assignment, destination_id__in=reopened_ids).update(
        status=StopStatus.PENDING, visited_at=None
    )
    for order in orders:
        still_open = order.destinations.filter(status=DestinationStatus.PENDING).exists()
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

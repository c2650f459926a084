"""Who and what may go on a new run, written once: run creation and reopening raise the
first refusal as a 409, driver suggestions list every refusal as a reason (the same
`code`, message and details), so the console says why in the words the 409 would.

A driver and a vehicle are each on at most one live (`assigned` or `in_progress`) run;
the database backs that with partial unique indexes. Capacity is the run's own load
against the vehicle's: nothing else can be on a vehicle that is on no other live run.
"""

from decimal import Decimal

from django.utils.translation import gettext as _

from fleet import restriction
from fleet.errors import (
    CapacityExceededError,
    DoesNotFitError,
    DriverUnavailableError,
    NoVehicleError,
    VehicleBusyError,
    VehicleRestrictedError,
    VehicleUnavailableError,
)
from fleet.models import Assignment, AssignmentStatus, Availability, Driver, Vehicle
from orders.models import Destination, Order
from rappi.errors import ConflictError

LIVE_RUN_FIELDS = ("pk", "status", "driver_id", "vehicle_id")


def live_run(*, driver_id: int | None = None, vehicle_id: int | None = None) -> Assignment | None:
    """The live run of a driver or of a vehicle, if any (the indexes allow one)."""
    lookup = {"driver_id": driver_id} if driver_id is not None else {"vehicle_id": vehicle_id}
    return (
        Assignment.objects.filter(status__in=Assignment.ACTIVE, **lookup)
        .only(*LIVE_RUN_FIELDS)
        .first()
    )


def _status_label(status: str) -> str:
    return str(AssignmentStatus(status).label).lower()


def driver_refusal(driver: Driver, run: Assignment | None) -> ConflictError | None:
    """Why the driver cannot take a new run now: on a live run (`run`), or not available."""
    if run is not None:
        return DriverUnavailableError(
            _("%(name)s is on run #%(run)s (%(status)s).")
            % {"name": driver.user.full_name, "run": run.pk, "status": _status_label(run.status)},
            driver_id=driver.pk,
            availability=driver.availability,
            assignment_id=run.pk,
            status=run.status,
        )
    if not driver.is_active or driver.availability != Availability.AVAILABLE:
        return DriverUnavailableError(
            _("%(name)s is not available (%(availability)s).")
            % {"name": driver.user.full_name, "availability": driver.get_availability_display()},
            driver_id=driver.pk,
            availability=driver.availability,
        )
    return None


def no_vehicle(driver: Driver) -> NoVehicleError:
    return NoVehicleError(
        _("%(name)s has no vehicle assigned.") % {"name": driver.user.full_name},
        driver_id=driver.pk,
    )


def usable_refusal(vehicle: Vehicle) -> VehicleUnavailableError | None:
    if vehicle.is_usable:
        return None
    return VehicleUnavailableError(
        _("%(plate)s is not in service (%(status)s).")
        % {"plate": vehicle.plate, "status": vehicle.get_status_display()},
        vehicle_id=vehicle.pk,
        status=vehicle.status,
        is_active=vehicle.is_active,
    )


def busy_refusal(vehicle: Vehicle, run: Assignment | None) -> VehicleBusyError | None:
    if run is None:
        return None
    return VehicleBusyError(
        _("%(plate)s is already on run #%(run)s (%(status)s).")
        % {"plate": vehicle.plate, "run": run.pk, "status": _status_label(run.status)},
        vehicle_id=vehicle.pk,
        assignment_id=run.pk,
        status=run.status,
    )


def load_kg(destinations: list[Destination]) -> Decimal:
    return sum((d.chargeable_weight_kg for d in destinations), Decimal("0"))


def capacity_refusal(vehicle: Vehicle, required_kg: Decimal) -> CapacityExceededError | None:
    if required_kg <= vehicle.capacity_kg:
        return None
    return CapacityExceededError(
        _("The load, %(required)s kg, is more than the %(capacity)s kg %(plate)s carries.")
        % {"required": required_kg, "capacity": vehicle.capacity_kg, "plate": vehicle.plate},
        vehicle_id=vehicle.pk,
        capacity_kg=str(vehicle.capacity_kg),
        requested_kg=str(required_kg),
    )


def _sorted_sides(*sides) -> list[Decimal]:
    return sorted(Decimal(side) for side in sides)


def _cm(sides) -> str:
    return " x ".join(f"{Decimal(side).normalize():f}" for side in sides)


def fit_refusal(vehicle: Vehicle, destinations: list[Destination]) -> DoesNotFitError | None:
    """The first package that does not fit the cargo box in any axis-aligned orientation
    (sorted sides against sorted sides); a package without all three sides is not checked."""
    box = (vehicle.length_cm, vehicle.width_cm, vehicle.height_cm)
    room = _sorted_sides(*box)
    for destination in destinations:
        sides = (destination.length_cm, destination.width_cm, destination.height_cm)
        if any(side is None for side in sides):
            continue
        if any(p > b for p, b in zip(_sorted_sides(*sides), room, strict=True)):
            return DoesNotFitError(
                _(
                    "A %(package)s cm package does not fit the %(box)s cm cargo box of "
                    "%(plate)s, however it is turned."
                )
                % {"package": _cm(sides), "box": _cm(box), "plate": vehicle.plate},
                destination_id=destination.pk,
                package_cm=[str(s) for s in sides],
                box_cm=[str(s) for s in box],
            )
    return None


def restriction_refusal(
    vehicle: Vehicle,
    *,
    orders: list[Order],
    destinations: list[Destination],
    zones: list[restriction.Zone] | None = None,
) -> VehicleRestrictedError | None:
    try:
        restriction.check_stops(
            plate=vehicle.plate, orders=orders, destinations=destinations, zones=zones
        )
    except VehicleRestrictedError as error:
        return error
    return None


def vehicle_refusals(
    vehicle: Vehicle,
    *,
    run: Assignment | None,
    orders: list[Order],
    destinations: list[Destination],
    zones: list[restriction.Zone] | None = None,
) -> list[ConflictError]:
    """Every reason `vehicle` cannot carry these orders on a new run, in the order run
    creation checks them: out of service, on another live run (`run`), too small for the
    load, a package that does not fit, restricted on the orders' day."""
    refusals = [
        usable_refusal(vehicle),
        busy_refusal(vehicle, run),
        capacity_refusal(vehicle, load_kg(destinations)),
        fit_refusal(vehicle, destinations),
        restriction_refusal(vehicle, orders=orders, destinations=destinations, zones=zones),
    ]
    return [refusal for refusal in refusals if refusal is not None]

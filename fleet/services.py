"""Fleet writes: vehicles and drivers (runs, routes and proofs build on these)."""

from django.db import transaction
from django.utils import timezone

from fleet.errors import InactiveUserError, VehicleUnavailableError
from fleet.models import Availability, Driver, Vehicle, VehicleStatus
from identity import catalogue
from identity import services as identity_services
from identity.models import User

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

"""Drivers: their records and logins, default vehicle, availability, (de)activation."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fleet import rules
from fleet.errors import InactiveUserError, VehicleUnavailableError
from fleet.models import Availability, Driver, Vehicle
from identity import catalogue
from identity import services as identity_services
from identity.models import User
from rappi.errors import IllegalTransitionError
from rappi.services import model_update


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
        driver.user = user
        driver = driver_reactivate(driver=driver)
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


# What `driver_update` edits itself; `is_active` goes through (de)activation.
DRIVER_FIELDS = ("licence_number", "phone", "availability", "vehicle")


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
    model_update(instance=driver, fields=DRIVER_FIELDS, data=changes, exclude=["user"])
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
    """Soft delete; the driver's login is deactivated too (its sessions end). A login
    deactivated by itself brings its driver record here too (fleet.receivers)."""
    Driver.objects.filter(pk=driver.pk).update(
        is_active=False, availability=Availability.INACTIVE, updated_at=timezone.now()
    )
    driver.is_active, driver.availability = False, Availability.INACTIVE
    if driver.user.is_active:
        identity_services.user_deactivate(user=driver.user, by=None)
    return driver


@transaction.atomic
def driver_reactivate(*, driver: Driver) -> Driver:
    """Back in service and available, while its login is active (a login reactivated, or
    given the driver role again, brings its record here)."""
    if not driver.user.is_active:
        raise InactiveUserError(user_id=driver.user_id)
    Driver.objects.filter(pk=driver.pk).update(
        is_active=True, availability=Availability.AVAILABLE, updated_at=timezone.now()
    )
    driver.is_active, driver.availability = True, Availability.AVAILABLE
    return driver

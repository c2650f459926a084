"""Vehicles: creation, edits and soft deletion."""

from django.db import transaction
from django.utils import timezone

from fleet.models import Driver, Vehicle, VehicleStatus
from rappi.services import model_update


def _normalise_plate(plate: str) -> str:
    return (plate or "").strip().upper()


@transaction.atomic
def vehicle_create(*, plate: str, **fields) -> Vehicle:
    vehicle = Vehicle(plate=_normalise_plate(plate), **fields)
    vehicle.full_clean()
    vehicle.save()
    return vehicle


# Every column staff keep: all but the id and the times.
VEHICLE_FIELDS = tuple(
    f.name for f in Vehicle._meta.fields if f.name not in ("id", "created_at", "updated_at")
)


@transaction.atomic
def vehicle_update(*, vehicle: Vehicle, **changes) -> Vehicle:
    vehicle = Vehicle.objects.select_for_update().get(pk=vehicle.pk)
    if "plate" in changes:
        changes["plate"] = _normalise_plate(changes["plate"])
    model_update(instance=vehicle, fields=VEHICLE_FIELDS, data=changes)
    if not vehicle.is_usable:
        # Nobody keeps an unusable vehicle as their default.
        Driver.objects.filter(vehicle=vehicle).update(vehicle=None, updated_at=timezone.now())
    return vehicle


@transaction.atomic
def vehicle_deactivate(*, vehicle: Vehicle) -> Vehicle:
    """Soft delete: kept for the history of its runs."""
    return vehicle_update(vehicle=vehicle, is_active=False, status=VehicleStatus.INACTIVE)

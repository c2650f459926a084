"""The edit code of the `*_update` services (`rappi.services.model_update`): the fields a
service allows, validated, written with `updated_at`, and what changed as (old, new)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from fleet.models import Vehicle, VehicleStatus
from fleet.tests.factories import VehicleFactory, driver_user
from rappi.errors import NotFoundError
from rappi.services import model_update

pytestmark = pytest.mark.django_db


def test_a_field_the_service_does_not_allow_is_refused_and_nothing_written():
    vehicle = VehicleFactory()

    with pytest.raises(TypeError, match="is_active"):
        model_update(
            instance=vehicle,
            fields=["capacity_kg"],
            data={"capacity_kg": Decimal("800"), "is_active": False},
        )

    assert Vehicle.objects.filter(pk=vehicle.pk, is_active=True, capacity_kg=900).exists()


def test_what_changed_comes_back_as_old_and_new_a_relation_by_its_id():
    _user, driver = driver_user(phone="+51 900 000 001")
    van = VehicleFactory()

    changes = model_update(
        instance=driver,
        fields=["phone", "vehicle"],
        data={"phone": "+51 900 000 001", "vehicle": van},
        exclude=["user"],
    )

    assert changes == {"vehicle": (None, van.pk)}


def test_only_the_given_fields_and_updated_at_are_written():
    vehicle = VehicleFactory()
    stale = Vehicle.objects.get(pk=vehicle.pk)
    Vehicle.objects.filter(pk=vehicle.pk).update(status=VehicleStatus.MAINTENANCE)

    model_update(instance=stale, fields=["capacity_kg"], data={"capacity_kg": Decimal("800")})

    stored = Vehicle.objects.get(pk=vehicle.pk)
    assert (stored.capacity_kg, stored.status) == (Decimal("800"), VehicleStatus.MAINTENANCE)
    assert stored.updated_at > vehicle.updated_at


def test_an_invalid_value_is_refused_on_its_field_before_anything_is_written():
    vehicle = VehicleFactory()

    with pytest.raises(ValidationError) as refused:
        model_update(instance=vehicle, fields=["capacity_kg"], data={"capacity_kg": Decimal("0")})

    assert list(refused.value.message_dict) == ["capacity_kg"]
    assert Vehicle.objects.get(pk=vehicle.pk).capacity_kg == Decimal("900")


def test_validating_the_given_fields_only_leaves_the_stored_rest_unchecked():
    vehicle = VehicleFactory()
    Vehicle.objects.filter(pk=vehicle.pk).update(plate="old")  # before the plate rule
    vehicle.refresh_from_db()

    model_update(
        instance=vehicle,
        fields=["capacity_kg"],
        data={"capacity_kg": Decimal("800")},
        validate_given_only=True,
    )

    assert Vehicle.objects.get(pk=vehicle.pk).capacity_kg == Decimal("800")


def test_full_validation_checks_the_stored_rest_too():
    vehicle = VehicleFactory()
    Vehicle.objects.filter(pk=vehicle.pk).update(plate="old")
    vehicle.refresh_from_db()

    with pytest.raises(ValidationError) as refused:
        model_update(instance=vehicle, fields=["capacity_kg"], data={"capacity_kg": Decimal("800")})

    assert list(refused.value.message_dict) == ["plate"]


def test_a_row_deleted_since_it_was_read_is_not_found_not_a_server_error():
    vehicle = VehicleFactory()
    Vehicle.objects.filter(pk=vehicle.pk).delete()

    with pytest.raises(NotFoundError), transaction.atomic():  # as inside a service
        model_update(instance=vehicle, fields=["capacity_kg"], data={"capacity_kg": Decimal("1")})

    assert not Vehicle.objects.filter(pk=vehicle.pk).exists()  # not re-inserted either

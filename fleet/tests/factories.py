from decimal import Decimal

import factory

from fleet import services
from fleet.models import Vehicle
from identity.tests.factories import UserFactory


class VehicleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Vehicle

    plate = factory.Sequence(lambda n: f"V{n % 10}A-{n % 1000:03d}")
    type = "van"
    capacity_kg = Decimal("900")
    length_cm = Decimal("250")
    width_cm = Decimal("150")
    height_cm = Decimal("140")


def driver_user(**kwargs):
    """A `driver` login and its driver record (linked by the role signal)."""
    user = UserFactory(role_name="driver", **kwargs)
    return user, services.driver_link_user(user=user)

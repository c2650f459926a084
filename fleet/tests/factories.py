from decimal import Decimal

import factory

from fleet import services
from fleet.models import Assignment, Vehicle
from identity.tests.factories import UserFactory
from orders.tests.factories import CustomerFactory, drop, make_order


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


def make_run(by, *, orders: int = 1, drops_per_order: int = 1) -> Assignment:
    """An assigned run of pending orders (for new customers) with its planned route."""
    _user, driver = driver_user()
    made = [
        make_order(
            customer=CustomerFactory(),
            by=by,
            drops=[drop(lat=f"-16.42{i}{n}") for n in range(drops_per_order)],
        )
        for i in range(orders)
    ]
    return services.assignment_create(
        orders=made, driver=driver, vehicle=VehicleFactory(capacity_kg=Decimal("500")), by=by
    )


def started_run(by, **kwargs) -> Assignment:
    """A run as make_run's, started by its driver's dispatcher `by`."""
    run = make_run(by, **kwargs)
    return services.assignment_start(assignment=run, by=by)

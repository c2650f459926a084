"""Arequipa fleet demo: vehicles with local plates, the demo drivers' records, and two
runs with their routes (one assigned, one under way) for the orders demo's orders tagged
"for run". Idempotent."""

from decimal import Decimal

from django.db import transaction

from fleet import services
from fleet.models import Assignment, Driver, Vehicle, VehicleStatus
from identity.models import User
from orders.models import Order, OrderStatus

VEHICLES = [
    ("V1A-123", "van", "900", "250", "150", "140", VehicleStatus.OPERATIONAL),
    ("V2B-456", "van", "1200", "300", "170", "160", VehicleStatus.OPERATIONAL),
    ("M3C-781", "motorcycle", "40", "50", "40", "40", VehicleStatus.OPERATIONAL),
    ("T4D-902", "truck", "3500", "420", "200", "200", VehicleStatus.MAINTENANCE),
]
DRIVERS = [
    ("driver1@rappi.pe", "Q12345678", "V1A-123"),
    ("driver2@rappi.pe", "Q87654321", "M3C-781"),
]


@transaction.atomic
def seed(*, reset: bool, stdout) -> None:
    if reset:
        # The orders demo has just deleted its orders: their runs go too.
        for run in Assignment.objects.filter(orders__isnull=True):
            run.delete()
        Driver.objects.filter(user__email__in=[e for e, *_ in DRIVERS]).update(
            availability="available"
        )
    for plate, kind, capacity, length, width, height, status in VEHICLES:
        if not Vehicle.objects.filter(plate=plate).exists():
            services.vehicle_create(
                plate=plate,
                type=kind,
                capacity_kg=Decimal(capacity),
                length_cm=Decimal(length),
                width_cm=Decimal(width),
                height_cm=Decimal(height),
                status=status,
            )
    for email, licence, plate in DRIVERS:
        driver = services.driver_link_user(user=User.objects.get(email=email))
        if reset or not driver.licence_number:
            services.driver_update(
                driver=driver, licence_number=licence, vehicle=Vehicle.objects.get(plate=plate)
            )
    _seed_runs()
    stdout.write(
        f"fleet: {Vehicle.objects.count()} vehicles, {Driver.objects.count()} drivers, "
        f"{Assignment.objects.count()} runs"
    )


def _seed_runs() -> None:
    dispatcher = User.objects.get(email="dispatcher@rappi.pe")
    plans = [
        ("[demo] for run assigned", "driver2@rappi.pe", "M3C-781", False),
        ("[demo] for run in progress", "driver1@rappi.pe", "V1A-123", True),
    ]
    for notes, email, plate, start in plans:
        order = Order.objects.filter(notes=notes, status=OrderStatus.PENDING).first()
        driver = Driver.objects.get(user__email=email)
        if order is None or driver.availability != "available":
            continue  # already in a run (seeded before)
        run = services.assignment_create(
            orders=[order], driver=driver, vehicle=Vehicle.objects.get(plate=plate), by=dispatcher
        )
        if start:
            services.assignment_start(assignment=run, by=dispatcher)

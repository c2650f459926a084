"""Arequipa fleet demo: vehicles with local plates and the demo drivers' records. Runs,
routes and proofs come with the dispatch work. Idempotent."""

from decimal import Decimal

from django.db import transaction

from fleet import services
from fleet.models import Driver, Vehicle, VehicleStatus
from identity.models import User

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
    stdout.write(f"fleet: {Vehicle.objects.count()} vehicles, {Driver.objects.count()} drivers")

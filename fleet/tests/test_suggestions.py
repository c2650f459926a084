"""Driver suggestions for an order: who is a candidate, the ranking (restriction, fit,
capacity with the load already carried, distance in km from the last fix, rating),
`only_fit`, staff only, and a fixed query count."""

import math
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fleet import services
from fleet.models import Availability, Driver, VehicleStatus
from fleet.restriction import LIMA
from fleet.tests.factories import VehicleFactory, driver_user
from identity.tests.factories import UserFactory
from orders.models import Rating
from orders.tests.factories import ORIGIN, CustomerFactory, customer_user, drop, make_order
from tracking.documents import DriverPosition, Geofence

pytestmark = pytest.mark.django_db

URL = "/api/v1/assignments/suggestions"
PLAZA = (float(ORIGIN["lat"]), float(ORIGIN["lng"]))  # every test order's pickup


def hand_haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The haversine formula written out, with its own copy of the Earth's mean radius."""
    radius_km = 6371.0088
    phi_a, phi_b = math.radians(a[0]), math.radians(b[0])
    h = (
        math.sin((phi_b - phi_a) / 2) ** 2
        + math.cos(phi_a) * math.cos(phi_b) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    )
    return 2 * radius_km * math.asin(math.sqrt(h))


@pytest.fixture
def staff_user():
    return UserFactory(role_name="dispatcher")


@pytest.fixture
def staff(client_for, staff_user):
    return client_for(staff_user)


def candidate(*, plate=None, at=None, **vehicle) -> Driver:
    """An available driver with a default vehicle, last seen at `at` (lat, lng) if given."""
    _user, driver = driver_user()
    fields = {"capacity_kg": Decimal("900"), **vehicle}
    if plate:
        fields["plate"] = plate
    driver = services.driver_set_vehicle(driver=driver, vehicle=VehicleFactory(**fields))
    if at is not None:
        now = timezone.now()
        DriverPosition._get_collection().insert_one(
            {
                "driver_id": driver.pk,
                "assignment_id": 1,
                "vehicle_plate": driver.vehicle.plate,
                "location": {"type": "Point", "coordinates": [at[1], at[0]]},
                "recorded_at": now - timedelta(minutes=5),
                "received_at": now,
            }
        )
    return driver


def rate(driver: Driver, score: int, by) -> None:
    order = make_order(customer=CustomerFactory(), by=by)
    Rating.objects.create(order=order, driver_id=driver.pk, score=score)


def suggest(staff, order, **params):
    response = staff.get(URL, {"order_id": order.pk, **params})
    assert response.status_code == 200, response.content
    return response.json()


def ids(body) -> list[int]:
    return [entry["driver_id"] for entry in body["results"]]


def test_nearest_last_fix_first_in_km_then_best_rated_without_a_fix(staff, staff_user):
    south = (-16.4090, -71.5375)  # about 1.14 km from the pickup
    west = (-16.3890, -71.5450)  # about 1.39 km
    far = candidate(at=west)
    near = candidate(at=south)
    unseen_good, unseen_poor = candidate(), candidate()
    rate(unseen_good, 5, staff_user)
    rate(unseen_poor, 2, staff_user)
    order = make_order(customer=CustomerFactory(), by=staff_user)

    body = suggest(staff, order)
    assert ids(body) == [near.pk, far.pk, unseen_good.pk, unseen_poor.pk]
    first, second, third, _ = body["results"]
    assert first["distance_km"] == pytest.approx(hand_haversine_km(south, PLAZA), abs=0.001)
    assert first["distance_km"] == pytest.approx(1.136, abs=0.001)
    assert second["distance_km"] == pytest.approx(hand_haversine_km(west, PLAZA), abs=0.001)
    assert second["distance_km"] == pytest.approx(1.391, abs=0.001)
    assert third["distance_km"] is None and third["last_fix_at"] is None
    assert third["rating_average"] == 5.0 and third["rating_count"] == 1
    assert all(entry["eligible"] for entry in body["results"])
    assert Decimal(body["required_kg"]) == Decimal("2.000")
    assert len(suggest(staff, order, limit=2)["results"]) == 2


def test_a_vehicle_whose_box_is_too_small_ranks_last_and_only_fit_drops_it(staff, staff_user):
    cube = {"length_cm": Decimal("50"), "width_cm": Decimal("50"), "height_cm": Decimal("50")}
    small_box = candidate(at=PLAZA, **cube)  # nearest, but 60 cm fits no way round
    roomy = candidate(at=(-16.4090, -71.5375))
    package = {"length_cm": Decimal("60"), "width_cm": Decimal("40"), "height_cm": Decimal("30")}
    order = make_order(customer=CustomerFactory(), by=staff_user, drops=[drop(**package)])

    body = suggest(staff, order)
    assert ids(body) == [roomy.pk, small_box.pk]
    assert body["results"][1]["fits"] is False and body["results"][1]["eligible"] is False
    assert ids(suggest(staff, order, only_fit="true")) == [roomy.pk]


def test_capacity_counts_the_load_already_on_the_vehicles_active_runs(staff, staff_user):
    loaded = candidate(at=PLAZA, capacity_kg=Decimal("5"))
    # The same vehicle already carries 4 kg for another (busy) driver on a run not started.
    _user, other_driver = driver_user()
    services.assignment_create(
        orders=[make_order(customer=CustomerFactory(), by=staff_user, drops=[drop(weight="4")])],
        driver=other_driver,
        vehicle=loaded.vehicle,
        by=staff_user,
    )
    spare = candidate(at=(-16.4090, -71.5375), capacity_kg=Decimal("5"))
    order = make_order(customer=CustomerFactory(), by=staff_user)  # 2 kg

    body = suggest(staff, order)
    assert ids(body) == [spare.pk, loaded.pk]
    heavy = body["results"][1]
    assert heavy["has_capacity"] is False and Decimal(heavy["load_kg"]) == Decimal("4")
    assert body["results"][0]["has_capacity"] is True
    assert ids(suggest(staff, order, only_fit="true")) == [spare.pk]


def _next(weekday: int) -> datetime:
    today = timezone.localdate(timezone=LIMA)
    day = today + timedelta(days=(weekday - today.weekday()) % 7 or 7)
    return datetime.combine(day, time(10), tzinfo=LIMA)


def test_a_plate_restricted_on_the_orders_day_in_a_zone_ranks_first_to_go(staff, staff_user):
    ring = [
        [-71.5393, -16.4011],
        [-71.5345, -16.4011],
        [-71.5345, -16.3965],
        [-71.5393, -16.3965],
        [-71.5393, -16.4011],
    ]  # round the Plaza, the pickup of every test order
    Geofence(
        name="Centro",
        kind="vehicle_restriction",
        geometry={"type": "Polygon", "coordinates": [ring]},
    ).save()
    restricted = candidate(plate="ABC-120", at=PLAZA)  # Mondays: plates ending 0 and 1
    free = candidate(plate="ABC-125", at=(-16.4090, -71.5375))
    monday = make_order(customer=CustomerFactory(), by=staff_user, scheduled_for=_next(0))
    saturday = make_order(customer=CustomerFactory(), by=staff_user, scheduled_for=_next(5))

    body = suggest(staff, monday)
    assert body["service_day"] == _next(0).date().isoformat()
    assert ids(body) == [free.pk, restricted.pk]
    assert body["results"][1]["restricted"] is True and body["results"][1]["eligible"] is False
    assert ids(suggest(staff, monday, only_fit="true")) == [free.pk]
    weekend = suggest(staff, saturday)
    assert ids(weekend) == [restricted.pk, free.pk]  # weekends are free: nearest first
    assert not any(entry["restricted"] for entry in weekend["results"])


def test_only_available_active_drivers_with_a_usable_vehicle_are_candidates(staff, staff_user):
    ready = candidate()
    busy = candidate()
    Driver.objects.filter(pk=busy.pk).update(availability=Availability.BUSY)
    inactive = candidate()
    services.driver_deactivate(driver=inactive)
    in_repair = candidate()
    in_repair.vehicle.__class__.objects.filter(pk=in_repair.vehicle_id).update(
        status=VehicleStatus.MAINTENANCE
    )
    driver_user()  # available, but no vehicle
    order = make_order(customer=CustomerFactory(), by=staff_user)
    assert ids(suggest(staff, order)) == [ready.pk]


def test_the_query_count_does_not_grow_with_the_fleet(staff, staff_user):
    order = make_order(customer=CustomerFactory(), by=staff_user)
    candidate(at=PLAZA)
    with CaptureQueriesContext(connection) as few:
        suggest(staff, order)
    for index in range(5):
        driver = candidate(at=(PLAZA[0] + index / 1000, PLAZA[1]))
        rate(driver, 4, staff_user)
    with CaptureQueriesContext(connection) as many:
        assert len(suggest(staff, order)["results"]) == 6
    assert len(many) == len(few)


def test_suggestions_are_for_staff_and_a_known_order(client_for, staff, staff_user):
    order = make_order(customer=CustomerFactory(), by=staff_user)
    driver, _ = driver_user()
    customer, _ = customer_user()
    for user in (driver, customer):
        response = client_for(user).get(URL, {"order_id": order.pk})
        assert response.status_code == 403
    assert staff.get(URL, {"order_id": 999999}).status_code == 404
    response = staff.get(URL)
    assert (
        response.status_code == 400 and "order_id" in response.json()["error"]["details"]["fields"]
    )

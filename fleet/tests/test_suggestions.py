"""Driver suggestions for an order: every active driver, with the reasons it cannot be
given the order (busy, no vehicle, vehicle busy, out of service, restricted, too small, a
package that does not fit), a spare vehicle offered when its own cannot, the ranking
(eligible first, distance in km from the last fix, rating), `only_fit`, staff only, and
a fixed query count."""

import math
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from fleet import services
from fleet.models import Availability, Driver, Vehicle, VehicleStatus
from fleet.restriction import LIMA
from fleet.tests.factories import VehicleFactory, driver_user
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


def candidate(*, plate=None, at=None, **vehicle) -> Driver:
    """An available driver with a default vehicle, last seen at `at` (lat, lng) if given."""
    _user, driver = driver_user()
    fields = {"capacity_kg": Decimal("900"), **vehicle}
    if plate:
        fields["plate"] = plate
    driver = services.driver_set_vehicle(driver=driver, vehicle=VehicleFactory(**fields))
    assert driver.vehicle is not None
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


def suggest(dispatcher_api, order, **params):
    response = dispatcher_api.get(URL, {"order_id": order.pk, **params})
    assert response.status_code == 200, response.content
    return response.json()


def ids(body) -> list[int]:
    return [entry["driver_id"] for entry in body["results"]]


def entry_of(body, driver) -> dict:
    [entry] = [entry for entry in body["results"] if entry["driver_id"] == driver.pk]
    return entry


def codes(reasons) -> list[str]:
    return [reason["code"] for reason in reasons]


CENTRO = [
    [-71.5393, -16.4011],
    [-71.5345, -16.4011],
    [-71.5345, -16.3965],
    [-71.5393, -16.3965],
    [-71.5393, -16.4011],
]  # round the Plaza, the pickup of every test order


def centro_zone() -> Geofence:
    zone = Geofence(
        name="Centro",
        kind="vehicle_restriction",
        geometry={"type": "Polygon", "coordinates": [CENTRO]},
    )
    zone.save()
    return zone


def test_nearest_last_fix_first_in_km_then_best_rated_without_a_fix(dispatcher_api, dispatcher):
    south = (-16.4090, -71.5375)  # about 1.14 km from the pickup
    west = (-16.3890, -71.5450)  # about 1.39 km
    far = candidate(at=west)
    near = candidate(at=south)
    unseen_good, unseen_poor = candidate(), candidate()
    rate(unseen_good, 5, dispatcher)
    rate(unseen_poor, 2, dispatcher)
    order = make_order(customer=CustomerFactory(), by=dispatcher)

    body = suggest(dispatcher_api, order)
    assert ids(body) == [near.pk, far.pk, unseen_good.pk, unseen_poor.pk]
    first, second, third, _ = body["results"]
    assert first["distance_km"] == pytest.approx(hand_haversine_km(south, PLAZA), abs=0.001)
    assert first["distance_km"] == pytest.approx(1.136, abs=0.001)
    assert second["distance_km"] == pytest.approx(hand_haversine_km(west, PLAZA), abs=0.001)
    assert second["distance_km"] == pytest.approx(1.391, abs=0.001)
    assert third["distance_km"] is None
    assert third["last_fix_at"] is None
    assert third["rating_average"] == 5.0
    assert third["rating_count"] == 1
    assert all(entry["eligible"] and entry["reasons"] == [] for entry in body["results"])
    assert not any(entry["alternative"] for entry in body["results"])
    assert first["vehicle_id"] == near.vehicle_id == first["default_vehicle_id"]
    assert Decimal(body["required_kg"]) == Decimal("2.000")
    assert len(suggest(dispatcher_api, order, limit=2)["results"]) == 2


def test_a_vehicle_whose_box_is_too_small_ranks_last_and_only_fit_drops_it(
    dispatcher_api, dispatcher
):
    cube = {"length_cm": Decimal("50"), "width_cm": Decimal("50"), "height_cm": Decimal("50")}
    small_box = candidate(at=PLAZA, **cube)  # nearest, but 60 cm fits no way round
    roomy = candidate(at=(-16.4090, -71.5375))
    package = {"length_cm": Decimal("60"), "width_cm": Decimal("40"), "height_cm": Decimal("30")}
    order = make_order(customer=CustomerFactory(), by=dispatcher, drops=[drop(**package)])

    body = suggest(dispatcher_api, order)
    # The roomy van is its own driver's: it is not offered to the other as a spare.
    assert ids(body) == [roomy.pk, small_box.pk]
    refused = body["results"][1]
    assert refused["fits"] is False
    assert refused["eligible"] is False
    assert refused["alternative"] is False
    assert refused["vehicle_id"] == small_box.vehicle_id
    [reason] = refused["reasons"]
    assert reason["code"] == "does_not_fit"
    assert reason["details"]["package_cm"] == ["60.0", "40.0", "30.0"]
    assert reason["details"]["box_cm"] == ["50.0", "50.0", "50.0"]
    assert "60 x 40 x 30 cm" in reason["message"]
    assert small_box.vehicle.plate in reason["message"]
    assert ids(suggest(dispatcher_api, order, only_fit="true")) == [roomy.pk]


def test_creating_the_run_refuses_with_the_reason_the_suggestions_give(dispatcher_api, dispatcher):
    """Load and fit are judged once (fleet.rules): the first reason a suggestion gives is
    the 409 creating that run answers with, code, message and details alike."""
    cube = {"length_cm": Decimal("50"), "width_cm": Decimal("50"), "height_cm": Decimal("50")}
    small = candidate(capacity_kg=Decimal("1.5"), **cube)
    package = {"length_cm": Decimal("60"), "width_cm": Decimal("40"), "height_cm": Decimal("30")}
    order = make_order(customer=CustomerFactory(), by=dispatcher, drops=[drop(**package)])
    run = {"order_ids": [order.pk], "driver_id": small.pk, "vehicle_id": small.vehicle_id}

    reasons = entry_of(suggest(dispatcher_api, order), small)["reasons"]
    assert codes(reasons) == ["capacity_exceeded", "does_not_fit"]
    refused = dispatcher_api.post("/api/v1/assignments/", run, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"] == reasons[0]

    Vehicle.objects.filter(pk=small.vehicle_id).update(capacity_kg=Decimal("900"))
    [reason] = entry_of(suggest(dispatcher_api, order), small)["reasons"]
    refused = dispatcher_api.post("/api/v1/assignments/", run, format="json")
    assert reason["code"] == "does_not_fit"
    assert refused.status_code == 409
    assert refused.json()["error"] == reason


def test_a_driver_whose_vehicle_is_on_another_run_is_offered_the_smallest_free_one(
    dispatcher_api, dispatcher
):
    loaded = candidate(at=PLAZA, capacity_kg=Decimal("5"))
    # Its van is already on another driver's run, not started.
    _user, other_driver = driver_user()
    run = services.assignment_create(
        orders=[make_order(customer=CustomerFactory(), by=dispatcher, drops=[drop(weight="4")])],
        driver=other_driver,
        vehicle=loaded.vehicle,
        by=dispatcher,
    )
    small = VehicleFactory(capacity_kg=Decimal("3"))  # enough for the 2 kg order
    VehicleFactory(capacity_kg=Decimal("1"))  # too light
    VehicleFactory(capacity_kg=Decimal("900"))  # bigger than needed
    VehicleFactory(capacity_kg=Decimal("2.5"), status=VehicleStatus.MAINTENANCE)
    order = make_order(customer=CustomerFactory(), by=dispatcher)  # 2 kg

    body = suggest(dispatcher_api, order)
    offered = entry_of(body, loaded)
    assert offered["eligible"] is True
    assert offered["reasons"] == []
    assert offered["alternative"] is True
    assert (offered["vehicle_id"], offered["vehicle_plate"]) == (small.pk, small.plate)
    assert Decimal(offered["capacity_kg"]) == Decimal("3")
    assert offered["default_vehicle_id"] == loaded.vehicle_id
    [why] = offered["default_vehicle_reasons"]
    assert why["code"] == "vehicle_busy"
    assert why["details"] == {
        "vehicle_id": loaded.vehicle_id,
        "assignment_id": run.pk,
        "status": "assigned",
    }
    assert f"#{run.pk}" in why["message"]
    busy = entry_of(body, other_driver)
    assert busy["eligible"] is False
    assert codes(busy["reasons"]) == ["driver_unavailable", "no_vehicle"]
    assert busy["reasons"][0]["details"]["assignment_id"] == run.pk
    assert ids(body) == [loaded.pk, other_driver.pk]
    assert ids(suggest(dispatcher_api, order, only_fit="true")) == [loaded.pk]


def test_the_spare_vehicle_is_the_smallest_that_takes_the_order_where_it_goes(
    dispatcher_api, dispatcher
):
    package = {"length_cm": Decimal("60"), "width_cm": Decimal("40"), "height_cm": Decimal("30")}
    monday = _next(0)  # plates ending in 0 and 1 are kept out of the Centro
    order = make_order(
        customer=CustomerFactory(), by=dispatcher, drops=[drop(**package)], scheduled_for=monday
    )
    _user, walker = driver_user()  # no vehicle of its own
    owner = candidate(plate="OWN-108", capacity_kg=Decimal("20"))  # spoken for: its driver's
    VehicleFactory(
        plate="BOX-105",
        capacity_kg=Decimal("10"),
        length_cm=Decimal("50"),
        width_cm=Decimal("50"),
        height_cm=Decimal("50"),
    )  # light enough, but the package does not fit
    VehicleFactory(plate="RES-101", capacity_kg=Decimal("30"))  # restricted on Mondays
    VehicleFactory(plate="WRK-106", capacity_kg=Decimal("40"), status=VehicleStatus.MAINTENANCE)
    VehicleFactory(plate="OFF-107", capacity_kg=Decimal("45"), is_active=False)
    on_the_road = VehicleFactory(plate="RUN-109", capacity_kg=Decimal("50"))
    services.assignment_create(
        orders=[make_order(customer=CustomerFactory(), by=dispatcher)],
        driver=driver_user()[1],
        vehicle=on_the_road,
        by=dispatcher,
    )
    centro_zone()  # after that run: its plate may be kept out today
    flat = VehicleFactory(
        plate="VAN-115", capacity_kg=Decimal("60"), height_cm=Decimal("60")
    )  # the smaller of two equal vans
    VehicleFactory(plate="VAN-116", capacity_kg=Decimal("60"))
    VehicleFactory(plate="BIG-117", capacity_kg=Decimal("3500"))

    body = suggest(dispatcher_api, order)
    offered = entry_of(body, walker)
    assert offered["eligible"] is True
    assert offered["alternative"] is True
    assert offered["vehicle_plate"] == flat.plate
    assert offered["vehicle_id"] == flat.pk
    assert offered["default_vehicle_id"] is None
    assert codes(offered["default_vehicle_reasons"]) == ["no_vehicle"]
    assert entry_of(body, owner)["alternative"] is False
    assert Vehicle.objects.get(plate="RES-101").is_usable  # refused for the zone, not its state


def _next(weekday: int) -> datetime:
    today = timezone.localdate(timezone=LIMA)
    day = today + timedelta(days=(weekday - today.weekday()) % 7 or 7)
    return datetime.combine(day, time(10), tzinfo=LIMA)


def test_a_plate_restricted_on_the_orders_day_in_a_zone_ranks_first_to_go(
    dispatcher_api, dispatcher
):
    zone = centro_zone()
    restricted = candidate(plate="ABC-120", at=PLAZA)  # Mondays: plates ending 0 and 1
    free = candidate(plate="ABC-125", at=(-16.4090, -71.5375))
    monday = make_order(customer=CustomerFactory(), by=dispatcher, scheduled_for=_next(0))
    saturday = make_order(customer=CustomerFactory(), by=dispatcher, scheduled_for=_next(5))

    body = suggest(dispatcher_api, monday)
    assert body["service_day"] == _next(0).date().isoformat()
    assert ids(body) == [free.pk, restricted.pk]
    assert body["results"][1]["restricted"] is True
    assert body["results"][1]["eligible"] is False
    [reason] = body["results"][1]["reasons"]
    assert reason["code"] == "vehicle_restricted"
    assert {
        k: reason["details"][k] for k in ("plate", "digit", "weekday", "zone_id", "zone_name")
    } == {
        "plate": "ABC-120",
        "digit": 0,
        "weekday": "monday",
        "zone_id": str(zone.pk),
        "zone_name": "Centro",
    }
    assert "ABC-120" in reason["message"]
    assert "Centro" in reason["message"]
    assert ids(suggest(dispatcher_api, monday, only_fit="true")) == [free.pk]
    weekend = suggest(dispatcher_api, saturday)
    assert ids(weekend) == [restricted.pk, free.pk]  # weekends are free: nearest first
    assert not any(entry["restricted"] for entry in weekend["results"])


def test_inactive_drivers_are_left_out_and_the_others_say_why_they_cannot(
    dispatcher_api, dispatcher
):
    ready = candidate()
    busy = candidate()
    run = services.assignment_create(
        orders=[make_order(customer=CustomerFactory(), by=dispatcher)],
        driver=busy,
        vehicle=busy.vehicle,
        by=dispatcher,
    )
    _user, inactive = driver_user()
    services.driver_deactivate(driver=inactive)
    in_repair = candidate()
    Vehicle.objects.filter(pk=in_repair.vehicle_id).update(status=VehicleStatus.MAINTENANCE)
    light = candidate(capacity_kg=Decimal("1.5"))
    _user, walker = driver_user()  # available, but no vehicle
    order = make_order(customer=CustomerFactory(), by=dispatcher)  # 2 kg

    body = suggest(dispatcher_api, order)
    assert inactive.pk not in ids(body)
    assert ids(body)[0] == ready.pk
    assert ids(body)[-1] == busy.pk  # busy drivers last
    assert {entry["driver_id"]: codes(entry["reasons"]) for entry in body["results"]} == {
        ready.pk: [],
        busy.pk: ["driver_unavailable"],
        in_repair.pk: ["vehicle_unavailable"],
        light.pk: ["capacity_exceeded"],
        walker.pk: ["no_vehicle"],
    }
    assert entry_of(body, busy)["reasons"][0]["details"] == {
        "driver_id": busy.pk,
        "availability": "busy",
        "assignment_id": run.pk,
        "status": "assigned",
    }
    capacity = entry_of(body, light)["reasons"][0]
    assert capacity["details"] == {
        "vehicle_id": light.vehicle_id,
        "capacity_kg": "1.5",
        "requested_kg": "2.000",
    }
    assert "2.000 kg" in capacity["message"]
    assert "1.5 kg" in capacity["message"]
    assert entry_of(body, light)["has_capacity"] is False
    nothing = entry_of(body, walker)
    assert nothing["vehicle_id"] is None
    assert nothing["fits"] is None
    assert all(reason["message"] for entry in body["results"] for reason in entry["reasons"])
    assert ids(suggest(dispatcher_api, order, only_fit="true")) == [ready.pk]

    spare = VehicleFactory()  # nobody's: offered to those whose own cannot, not to the busy
    body = suggest(dispatcher_api, order)
    offered = {e["driver_id"] for e in body["results"] if e["alternative"]}
    assert offered == {in_repair.pk, light.pk, walker.pk}
    assert all(entry_of(body, d)["vehicle_id"] == spare.pk for d in (in_repair, light, walker))
    assert codes(entry_of(body, busy)["reasons"]) == ["driver_unavailable"]


@pytest.mark.parametrize("size", [2, 20])
def test_the_query_count_does_not_grow_with_the_fleet(
    dispatcher_api, dispatcher, django_assert_max_num_queries, size
):
    order = make_order(customer=CustomerFactory(), by=dispatcher)
    drivers = [candidate(at=(PLAZA[0] + index / 1000, PLAZA[1])) for index in range(size)]
    for index, driver in enumerate(drivers):
        rate(driver, 4, dispatcher)
        if index % 2:  # half of them cannot take it with their own van
            Vehicle.objects.filter(pk=driver.vehicle_id).update(capacity_kg=Decimal("1"))
    VehicleFactory()  # a spare for them
    Driver.objects.filter(pk=drivers[0].pk).update(availability=Availability.BUSY)
    # auth (2), throttle, the order, its drop-offs, live runs, drivers, spares, ratings
    with django_assert_max_num_queries(9):
        body = suggest(dispatcher_api, order, limit=100)
    assert len(body["results"]) == size
    assert sum(entry["alternative"] for entry in body["results"]) == size // 2


def test_suggestions_are_for_staff_and_a_known_order(client_for, dispatcher_api, dispatcher):
    order = make_order(customer=CustomerFactory(), by=dispatcher)
    driver, _ = driver_user()
    customer, _ = customer_user()
    for user in (driver, customer):
        response = client_for(user).get(URL, {"order_id": order.pk})
        assert response.status_code == 403
    assert dispatcher_api.get(URL, {"order_id": 999999}).status_code == 404
    response = dispatcher_api.get(URL)
    assert response.status_code == 400
    assert "order_id" in response.json()["error"]["details"]["fields"]

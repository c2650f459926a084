"""Reading tracks: a run's history, last fix and stats, the live fleet, drivers nearby and
an order's tracking, with their scopes and distances checked against the haversine
formula worked by hand."""

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fleet import services
from fleet.models import Assignment
from fleet.tests.factories import VehicleFactory, driver_user
from orders.models import Order
from orders.tests.factories import customer_user, drop, make_order
from tracking import pings
from tracking.documents import DriverPosition
from tracking.tests.factories import LAT, LNG, FixFactory, record_fixes, run_in_progress

pytestmark = pytest.mark.django_db


def hand_haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The haversine formula written out, with its own copy of the Earth's mean radius."""
    radius = 6_371_008.8
    phi_a, phi_b = math.radians(a[0]), math.radians(b[0])
    h = (
        math.sin((phi_b - phi_a) / 2) ** 2
        + math.cos(phi_a) * math.cos(phi_b) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    )
    return 2 * radius * math.asin(math.sqrt(h))


@pytest.fixture
def run(dispatcher):
    return run_in_progress(dispatcher, plate="ABC-123")


def put(run, points, *, start=None):
    """Store fixes at (lat, lng, seconds after `start`) for the run, as its phone would."""
    start = start or timezone.now() - timedelta(minutes=30)
    record_fixes(
        run["run"],
        [
            FixFactory(lat=lat, lng=lng, recorded_at=start + timedelta(seconds=s))
            for lat, lng, s in points
        ],
    )
    return start


def track_url(run, what="pings"):
    return f"/api/v1/tracking/assignments/{run['run'].pk}/{what}"


# --- History, last fix, stats ---------------------------------------------------------------------


def test_history_is_in_recorded_order_within_the_range_and_limit(client_for, run):
    start = put(run, [(LAT + 0.0001 * i, LNG, 10 * i) for i in (3, 0, 2, 1, 4)])
    driver = client_for(run["user"])
    body = driver.get(track_url(run)).json()
    assert [round((p["lat"] - LAT) / 0.0001) for p in body] == [0, 1, 2, 3, 4]
    assert set(body[0]) == {
        "lat",
        "lng",
        "recorded_at",
        "received_at",
        "speed_kmh",
        "heading",
        "accuracy_m",
    }
    since, until = (start + timedelta(seconds=10)).isoformat(), (start + timedelta(seconds=40))
    window = driver.get(track_url(run), {"since": since, "until": until.isoformat()}).json()
    assert len(window) == 3  # 10 s, 20 s and 30 s: `since` included, `until` excluded
    assert len(driver.get(track_url(run), {"limit": 2}).json()) == 2
    assert driver.get(track_url(run), {"limit": 0}).status_code == 400


def test_history_as_a_geojson_line_string(client_for, run):
    put(run, [(LAT, LNG, 0), (LAT + 0.001, LNG, 60)])
    response = client_for(run["user"]).get(track_url(run), {"format": "geojson"})
    assert response.status_code == 200, response.content
    feature = response.json()
    assert feature["type"] == "Feature"
    assert feature["geometry"] == {
        "type": "LineString",
        "coordinates": [[LNG, LAT], [LNG, pytest.approx(LAT + 0.001)]],
    }
    assert feature["properties"]["pings"] == 2
    assert feature["properties"]["vehicle_plate"] == "ABC-123"


def test_last_fix_is_the_latest_by_device_time(client_for, run):
    put(run, [(LAT + 0.001, LNG, 60), (LAT, LNG, 0)])
    body = client_for(run["user"]).get(track_url(run, "last")).json()
    assert body["lat"] == pytest.approx(LAT + 0.001)
    assert body["assignment_id"] == run["run"].pk
    assert body["driver_id"] == run["driver"].pk
    assert body["stale"] is True
    assert body["age_s"] > 60 * 29


def test_last_fix_of_a_run_without_fixes_is_404(client_for, run):
    response = client_for(run["user"]).get(track_url(run, "last"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_stats_distance_is_the_haversine_sum_in_recorded_order(client_for, run):
    points = [(LAT, LNG), (LAT + 0.001, LNG), (LAT + 0.001, LNG + 0.001)]
    # Sent out of order: the distance follows recorded time, not arrival.
    put(run, [(*points[2], 120), (*points[0], 0), (*points[1], 60)])
    body = client_for(run["user"]).get(track_url(run, "stats")).json()
    expected = hand_haversine_m(points[0], points[1]) + hand_haversine_m(points[1], points[2])
    assert expected == pytest.approx(217.867, abs=0.001)
    assert body["pings"] == 3
    assert body["distance_m"] == pytest.approx(expected, abs=0.05)
    assert body["duration_s"] == 120
    assert body["avg_speed_kmh"] == pytest.approx(expected / 120 * 3.6, abs=0.01)
    assert body["last_at"] > body["first_at"]


def test_stats_of_an_empty_track(client_for, run):
    body = client_for(run["user"]).get(track_url(run, "stats")).json()
    assert body == {
        "assignment_id": run["run"].pk,
        "pings": 0,
        "distance_m": 0.0,
        "duration_s": 0.0,
        "avg_speed_kmh": None,
        "first_at": None,
        "last_at": None,
    }


@pytest.mark.parametrize("what", ["pings", "last", "stats"])
def test_a_driver_cannot_read_another_drivers_track(client_for, run, dispatcher, what):
    put(run, [(LAT, LNG, 0)])
    other = run_in_progress(dispatcher)
    response = client_for(other["user"]).get(track_url(run, what))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("what", ["pings", "last", "stats"])
def test_a_customer_cannot_read_a_runs_track_but_staff_can(client_for, run, dispatcher, what):
    put(run, [(LAT, LNG, 0)])
    customer, _ = customer_user()
    assert client_for(customer).get(track_url(run, what)).status_code == 404
    assert client_for(dispatcher).get(track_url(run, what)).status_code == 200


# --- The live fleet -------------------------------------------------------------------------------


def test_fleet_shows_each_run_in_progress_with_its_last_fix_and_staleness(
    client_for, dispatcher, run
):
    now = timezone.now()
    put(run, [(LAT, LNG, 0), (LAT + 0.001, LNG, 30)], start=now - timedelta(seconds=40))
    silent = run_in_progress(dispatcher)
    put(silent, [(LAT, LNG + 0.01, 0)], start=now - timedelta(minutes=10))
    waiting = run_in_progress(dispatcher, start=False)
    response = client_for(dispatcher).get("/api/v1/tracking/fleet")
    assert response.status_code == 200, response.content
    entries = {entry["assignment_id"]: entry for entry in response.json()}
    assert set(entries) == {run["run"].pk, silent["run"].pk}
    assert waiting["run"].pk not in entries
    live = entries[run["run"].pk]
    assert live["lat"] == pytest.approx(LAT + 0.001)
    assert live["stale"] is False
    assert live["vehicle_plate"] == "ABC-123"
    assert live["driver_id"] == run["driver"].pk
    assert live["route_geometry"]["type"] == "LineString"
    assert 0 <= live["age_s"] < 60
    assert entries[silent["run"].pk]["stale"] is True
    stale_only = client_for(dispatcher).get("/api/v1/tracking/fleet", {"stale": "true"}).json()
    assert [e["assignment_id"] for e in stale_only] == [silent["run"].pk]


def test_a_run_without_any_fix_is_stale_with_no_position(client_for, dispatcher, run):
    [entry] = client_for(dispatcher).get("/api/v1/tracking/fleet").json()
    assert entry["lat"] is None
    assert entry["recorded_at"] is None
    assert entry["stale"] is True


def test_fleet_costs_the_same_queries_for_one_run_or_many(client_for, dispatcher, run):
    staff = client_for(dispatcher)
    put(run, [(LAT, LNG, 0)])
    with CaptureQueriesContext(connection) as one:
        assert len(staff.get("/api/v1/tracking/fleet").json()) == 1
    for _ in range(3):
        put(run_in_progress(dispatcher), [(LAT, LNG, 0)])
    with CaptureQueriesContext(connection) as many:
        assert len(staff.get("/api/v1/tracking/fleet").json()) == 4
    assert len(many) == len(one)


def test_fleet_and_nearby_are_for_staff(client_for, run):
    customer, _ = customer_user()
    for user in (run["user"], customer):
        for url in ("/api/v1/tracking/fleet", "/api/v1/tracking/drivers/nearby?lat=0&lng=0"):
            assert client_for(user).get(url).status_code == 403


# --- Nearby drivers -------------------------------------------------------------------------------


def place(driver, lat, lng, *, minutes_ago=1.0, assignment_id=1):
    now = timezone.now()
    DriverPosition._get_collection().insert_one(
        {
            "driver_id": driver.pk,
            "assignment_id": assignment_id,
            "vehicle_plate": "ABC-123",
            "location": {"type": "Point", "coordinates": [lng, lat]},
            "recorded_at": now - timedelta(minutes=minutes_ago),
            "received_at": now,
        }
    )


def test_nearby_drivers_nearest_first_in_metres(client_for, dispatcher):
    north = driver_user()[1]  # about 500 m north
    east = driver_user()[1]  # about 1 km east
    far = driver_user()[1]  # about 3 km south: outside the radius
    old = driver_user()[1]  # near, but its fix is older than the window
    place(east, LAT, LNG + 0.0094)
    place(north, LAT + 0.0045, LNG)
    place(far, LAT - 0.027, LNG)
    place(old, LAT + 0.0001, LNG, minutes_ago=30)
    response = client_for(dispatcher).get(
        "/api/v1/tracking/drivers/nearby",
        {"lat": LAT, "lng": LNG, "radius_m": 2000, "window_min": 15},
    )
    assert response.status_code == 200, response.content
    found = response.json()
    assert [d["driver_id"] for d in found] == [north.pk, east.pk]
    assert found[0]["distance_m"] == pytest.approx(
        hand_haversine_m((LAT, LNG), (LAT + 0.0045, LNG)), abs=0.1
    )
    assert found[0]["distance_m"] == pytest.approx(500.378, abs=0.1)
    assert found[1]["distance_m"] == pytest.approx(
        hand_haversine_m((LAT, LNG), (LAT, LNG + 0.0094)), abs=0.1
    )
    assert found[1]["distance_m"] == pytest.approx(1002.714, abs=0.1)
    wider = client_for(dispatcher).get(
        "/api/v1/tracking/drivers/nearby", {"lat": LAT, "lng": LNG, "radius_m": 3100}
    )
    assert [d["driver_id"] for d in wider.json()] == [north.pk, east.pk, far.pk]


def test_the_radius_is_great_circle_metres_not_the_box(client_for, dispatcher):
    # A corner of the search box is farther than the radius: it must not count.
    corner = driver_user()[1]
    place(corner, LAT + 0.0085, LNG + 0.0085)  # about 1.3 km away diagonally
    response = client_for(dispatcher).get(
        "/api/v1/tracking/drivers/nearby", {"lat": LAT, "lng": LNG, "radius_m": 1000}
    )
    assert response.json() == []


@pytest.mark.parametrize(
    "query",
    [{"lat": 91, "lng": 0}, {"lng": 0}, {"lat": 0, "lng": 0, "radius_m": 0}],
)
def test_nearby_refuses_bad_parameters(client_for, dispatcher, query):
    response = client_for(dispatcher).get("/api/v1/tracking/drivers/nearby", query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_search_boxes_near_a_pole_or_the_antimeridian_look_without_one():
    assert pings.search_box(lat=LAT, lng=LNG, radius_m=1000)["type"] == "Polygon"
    assert pings.search_box(lat=89.9, lng=0, radius_m=1000) is None
    assert pings.search_box(lat=0, lng=179.999, radius_m=1000) is None


# --- An order's tracking ----------------------------------------------------------------------------


@pytest.fixture
def shipment(dispatcher, django_capture_on_commit_callbacks):
    """A run in progress carrying an order of customer A (two drops) and one of B."""
    user, driver = driver_user()
    cust_a_user, cust_a = customer_user()
    cust_b_user, cust_b = customer_user()
    order_a = make_order(customer=cust_a, by=dispatcher, drops=[drop(), drop(lat="-16.4100")])
    order_b = make_order(customer=cust_b, by=dispatcher, drops=[drop(lat="-16.3900")])
    with django_capture_on_commit_callbacks(execute=True):
        run = services.assignment_create(
            orders=[order_a, order_b],
            driver=driver,
            vehicle=VehicleFactory(capacity_kg=Decimal("500")),
            by=dispatcher,
        )
        services.assignment_start(assignment=run, by=dispatcher)
    Assignment.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(hours=1))
    return {
        "run": Assignment.objects.get(pk=run.pk),
        "driver": driver,
        "user": user,
        "orders": [order_a, order_b],
        "customers": [cust_a_user, cust_b_user],
    }


def order_url(order):
    return f"/api/v1/tracking/orders/{order.pk}"


def test_the_customer_follows_its_order(client_for, shipment):
    put(
        shipment,
        [(LAT, LNG, 0), (LAT - 0.001, LNG, 60)],
        start=timezone.now() - timedelta(minutes=3),
    )
    order_a = shipment["orders"][0]
    response = client_for(shipment["customers"][0]).get(order_url(order_a))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["order_id"] == order_a.pk
    assert body["order_status"] == "in_transit"
    assert body["assignment"]["id"] == shipment["run"].pk
    assert body["assignment"]["status"] == "in_progress"
    assert body["last_fix"]["lat"] == pytest.approx(LAT - 0.001)
    # Only its own pickup and drop-offs, with ETAs; the ETA is the last pending drop-off's.
    destination_ids = {d.pk for d in order_a.destinations.all()}
    deliveries = [s for s in body["stops"] if s["kind"] == "delivery"]
    assert {s["destination_id"] for s in deliveries} == destination_ids
    assert [s["kind"] for s in body["stops"]].count("pickup") == 1
    assert body["eta"] == max(s["eta"] for s in deliveries)
    assert body["proofs"] == []
    # The run also carries customer B's order: its route would pass B's door.
    assert body["route"]["geometry"] is None
    assert body["geofences"] == []


def test_staff_and_the_runs_driver_see_the_route_and_its_corridor(client_for, shipment, dispatcher):
    order_b = shipment["orders"][1]
    for user in (dispatcher, shipment["user"]):
        body = client_for(user).get(order_url(order_b)).json()
        assert body["route"]["geometry"]["type"] == "LineString"
        [corridor] = body["geofences"]
        assert corridor["kind"] == "route_corridor"
        assert corridor["geometry"]["type"] == "Polygon"


def test_a_customer_alone_on_its_run_sees_the_route(
    client_for, dispatcher, django_capture_on_commit_callbacks
):
    _user, driver = driver_user()
    customer, record = customer_user()
    order = make_order(customer=record, by=dispatcher)
    with django_capture_on_commit_callbacks(execute=True):
        services.assignment_create(
            orders=[order], driver=driver, vehicle=VehicleFactory(), by=dispatcher
        )
    body = client_for(customer).get(order_url(order)).json()
    assert body["assignment"]["status"] == "assigned"
    assert body["last_fix"] is None
    assert body["route"]["geometry"]["type"] == "LineString"
    assert [g["kind"] for g in body["geofences"]] == ["route_corridor"]


def test_the_drivers_position_is_hidden_once_the_order_is_delivered(client_for, shipment):
    put(shipment, [(LAT, LNG, 0)])
    order_a = shipment["orders"][0]
    Order.objects.filter(pk=order_a.pk).update(status="delivered")
    body = client_for(shipment["customers"][0]).get(order_url(order_a)).json()
    assert body["order_status"] == "delivered"
    assert body["last_fix"] is None


def test_an_order_without_a_run_has_no_run_yet(client_for, dispatcher):
    customer, record = customer_user()
    order = make_order(customer=record, by=dispatcher)
    body = client_for(customer).get(order_url(order)).json()
    assert body["assignment"] is None
    assert body["route"] is None
    assert body["stops"] == []


def test_nobody_else_sees_an_orders_tracking(client_for, shipment, dispatcher):
    order_a = shipment["orders"][0]
    other_customer = shipment["customers"][1]
    other_driver = run_in_progress(dispatcher)["user"]
    for user in (other_customer, other_driver):
        response = client_for(user).get(order_url(order_a))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"

"""Vehicle restriction ("plaqueo"): the weekday/last-digit rule in Lima time, stops inside
an active zone refused, routes re-routed round a zone or refused, and the demo zone."""

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from shapely.geometry import LineString, Polygon, shape
from shapely.geometry import Point as ShapelyPoint

from fleet import restriction, services
from fleet.demo import VEHICLES as DEMO_VEHICLES
from fleet.errors import RouteRestrictedError, VehicleRestrictedError
from fleet.models import Assignment, Route
from fleet.restriction import LIMA
from fleet.tests.factories import VehicleFactory, driver_user
from orders import services as order_services
from orders.models import Order, OrderStatus
from orders.tests.factories import CustomerFactory, drop
from rappi.routing import OfflineRouter, Point
from rappi.testing.fake_http import FakeHttpServer
from tracking.demo import HISTORIC_CENTRE, seed_geofences
from tracking.documents import Geofence

pytestmark = pytest.mark.django_db

# A square of about 500 m around the Plaza de Armas, [lng, lat].
ZONE_RING = [
    [-71.5393, -16.4011],
    [-71.5345, -16.4011],
    [-71.5345, -16.3965],
    [-71.5393, -16.3965],
    [-71.5393, -16.4011],
]
PLAZA = ("-16.398800", "-71.536900")
WEST = ("-16.398800", "-71.542000")  # about 500 m west of the Plaza, outside the zone
EAST = ("-16.398800", "-71.532000")  # about 500 m east, outside: west to east crosses it
NORTH_WEST = ("-16.392000", "-71.545000")  # the leg to WEST passes nowhere near the zone
MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY, SATURDAY, SUNDAY = range(7)


def _zone(ring=ZONE_RING, *, name="Centro", active=True, holes=()) -> Geofence:
    zone = Geofence(
        name=name,
        kind="vehicle_restriction",
        geometry={"type": "Polygon", "coordinates": [ring, *holes]},
        active=active,
    )
    zone.save()
    return zone


def _next(weekday: int) -> datetime:
    """10:00 in Lima on the next such weekday, at least a day ahead."""
    today = timezone.localtime(timezone.now(), LIMA).date()
    day = today + timedelta(days=(weekday - today.weekday()) % 7 or 7)
    return datetime.combine(day, time(10), tzinfo=LIMA)


@pytest.fixture
def make_run(dispatcher):
    """Orders from `origin` to `drops` scheduled for `on`, put in a run with a vehicle whose
    plate ends in `digit`."""

    def make(*, digit: int, on: datetime, origin=WEST, drops=(EAST,)):
        order = order_services.order_create(
            by=dispatcher,
            customer=CustomerFactory(),
            origin={"line": "Origen", "district": "Cercado", "lat": origin[0], "lng": origin[1]},
            destinations=[drop(lat=lat, lng=lng) for lat, lng in drops],
            service_level="standard",
            scheduled_for=on,
        )
        _, driver = driver_user()
        return services.assignment_create(
            orders=[order],
            driver=driver,
            vehicle=VehicleFactory(plate=f"ABC-12{digit}", capacity_kg=Decimal("500")),
            by=dispatcher,
        )

    return make


def _route(run: Assignment) -> Route:
    return Route.objects.get(assignment=run)


def _crosses(route: Route, ring=ZONE_RING) -> bool:
    return LineString(route.geometry["coordinates"]).intersects(Polygon(ring))


# --- The rule ----------------------------------------------------------------------------------

RESTRICTED = {MONDAY: {0, 1}, TUESDAY: {2, 3}, WEDNESDAY: {4, 5}, THURSDAY: {6, 7}, FRIDAY: {8, 9}}


@pytest.mark.parametrize("weekday", range(7))
@pytest.mark.parametrize("digit", range(10))
def test_each_weekday_restricts_exactly_its_two_digits(weekday, digit):
    day = date(2026, 11, 23) + timedelta(days=weekday)  # a Monday, then the week after it
    assert day.weekday() == weekday
    expected = digit in RESTRICTED.get(weekday, set())
    assert restriction.is_restricted(plate=f"ABC-12{digit}", day=day) is expected


def test_the_digit_is_the_last_character_of_the_plate():
    assert restriction.plate_digit("ABC-123") == 3
    assert restriction.plate_digit("V1A-780") == 0


def test_the_day_is_the_date_in_lima_not_in_utc():
    # 02:00 UTC on a Tuesday is still Monday 21:00 in Lima.
    late_monday = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    assert restriction.service_day(None, now=late_monday) == date(2026, 11, 23)
    assert restriction.is_restricted(plate="ABC-121", day=restriction.local_day(late_monday))


def test_an_order_scheduled_later_is_checked_on_its_date_and_an_earlier_one_today():
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday in Lima
    thursday = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)
    assert restriction.service_day(thursday, now=now) == date(2026, 11, 26)
    assert restriction.service_day(now - timedelta(days=3), now=now) == date(2026, 11, 23)


def test_a_run_under_way_is_driven_today_and_one_not_started_on_its_orders_days():
    now = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    orders = [
        Order(scheduled_for=datetime(2026, 11, 26, 15, 0, tzinfo=UTC)),
        Order(scheduled_for=None),
    ]
    assert restriction.run_days(orders=orders, in_progress=True, now=now) == {date(2026, 11, 23)}
    assert restriction.run_days(orders=orders, in_progress=False, now=now) == {
        date(2026, 11, 23),
        date(2026, 11, 26),
    }


# --- Stops inside a zone -------------------------------------------------------------------------


@pytest.mark.parametrize("weekday", [MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY])
def test_a_pickup_in_the_zone_is_refused_on_the_plates_restricted_weekday(make_run, weekday):
    _zone()
    digit = min(RESTRICTED[weekday])
    with pytest.raises(VehicleRestrictedError) as refused:
        make_run(digit=digit, on=_next(weekday), origin=PLAZA)
    details = refused.value.details
    assert details["digit"] == digit
    assert details["weekday"] == restriction.WEEKDAYS[weekday]
    assert details["points"][0]["kind"] == "pickup"
    assert not Assignment.objects.exists()
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.PENDING}


@pytest.mark.parametrize("weekday", [MONDAY, TUESDAY, WEDNESDAY, THURSDAY, FRIDAY])
def test_a_plate_free_that_weekday_may_stop_in_the_zone(make_run, weekday):
    _zone()
    digit = (max(RESTRICTED[weekday]) + 1) % 10
    run = make_run(digit=digit, on=_next(weekday), origin=PLAZA)
    assert run.status == "assigned"


@pytest.mark.parametrize("weekday", [SATURDAY, SUNDAY])
@pytest.mark.parametrize("digit", range(10))
def test_weekends_are_free_for_every_plate(make_run, weekday, digit):
    _zone()
    assert make_run(digit=digit, on=_next(weekday), origin=PLAZA).status == "assigned"


def test_a_drop_off_in_the_zone_is_refused_and_named(make_run):
    zone = _zone()
    with pytest.raises(VehicleRestrictedError) as refused:
        make_run(digit=0, on=_next(MONDAY), origin=WEST, drops=[EAST, PLAZA])
    details = refused.value.details
    assert details["zone_id"] == str(zone.pk)
    assert details["zone_name"] == "Centro"
    [point] = details["points"]
    assert point["kind"] == "delivery"
    assert point["destination_id"] is not None
    assert (point["lat"], point["lng"]) == (float(PLAZA[0]), float(PLAZA[1]))


def test_a_stop_on_the_zone_border_counts_as_inside(make_run):
    _zone()
    corner = (f"{ZONE_RING[1][1]:.6f}", f"{ZONE_RING[1][0]:.6f}")
    with pytest.raises(VehicleRestrictedError):
        make_run(digit=1, on=_next(MONDAY), origin=WEST, drops=[corner])


def test_an_inactive_zone_is_ignored(make_run):
    _zone(active=False)
    assert make_run(digit=0, on=_next(MONDAY), origin=PLAZA).status == "assigned"


def test_a_run_with_every_stop_outside_the_zone_is_accepted_and_routed_straight(make_run):
    _zone()
    run = make_run(digit=0, on=_next(MONDAY), origin=WEST, drops=[NORTH_WEST])
    assert len(_route(run).geometry["coordinates"]) == 2


def test_the_api_answers_409_vehicle_restricted_with_the_error_body(client_for, dispatcher):
    zone = _zone()
    order = order_services.order_create(
        by=dispatcher,
        customer=CustomerFactory(),
        origin={"line": "Plaza", "district": "Cercado", "lat": PLAZA[0], "lng": PLAZA[1]},
        destinations=[drop()],
        service_level="standard",
        scheduled_for=_next(WEDNESDAY),
    )
    _, driver = driver_user()
    vehicle = VehicleFactory(plate="AQP-345")
    response = client_for(dispatcher).post(
        "/api/v1/assignments/",
        {"order_ids": [order.pk], "driver_id": driver.pk, "vehicle_id": vehicle.pk},
        format="json",
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "vehicle_restricted"
    assert "AQP-345" in error["message"]
    details = error["details"]
    assert details["plate"] == "AQP-345"
    assert details["digit"] == 5
    assert details["weekday"] == "wednesday"
    assert details["date"] == _next(WEDNESDAY).date().isoformat()
    assert details["zone_id"] == str(zone.pk)
    assert details["zone_name"] == "Centro"
    assert details["points"] == [
        {
            "kind": "pickup",
            "order_id": order.pk,
            "destination_id": None,
            "lat": -16.3988,
            "lng": -71.5369,
            "zone_id": str(zone.pk),
            "date": details["date"],
        }
    ]


# --- Routes round a zone ---------------------------------------------------------------------------


def test_a_route_crossing_the_zone_on_a_restricted_day_goes_round_it(make_run):
    _zone()
    run = make_run(digit=2, on=_next(TUESDAY), origin=WEST, drops=[EAST])
    route = _route(run)
    coordinates = route.geometry["coordinates"]
    assert not _crosses(route)
    assert len(coordinates) > 2  # turns at corners outside the zone
    assert coordinates[0] == [float(WEST[1]), float(WEST[0])]
    assert coordinates[-1] == [float(EAST[1]), float(EAST[0])]
    straight = OfflineRouter().route([Point(*map(float, WEST)), Point(*map(float, EAST))])
    assert route.distance_m > straight.distance_m
    assert route.duration_s > straight.duration_s
    pickup, delivery = route.stops.order_by("sequence")
    assert (delivery.eta - pickup.eta).total_seconds() == pytest.approx(route.duration_s)


def test_the_same_route_goes_straight_for_a_plate_free_that_day(make_run):
    _zone()
    route = _route(make_run(digit=3, on=_next(MONDAY), origin=WEST, drops=[EAST]))
    assert len(route.geometry["coordinates"]) == 2
    assert _crosses(route)


def test_a_route_keeps_out_of_every_zone_it_would_cross(make_run):
    # A second zone east of the first: the way round the first must not cut through it.
    second = [[x + 0.0060, y] for x, y in ZONE_RING]
    _zone(), _zone(second, name="Segundo")
    far_east = ("-16.398800", "-71.524000")
    route = _route(make_run(digit=4, on=_next(WEDNESDAY), origin=WEST, drops=[far_east]))
    assert not _crosses(route)
    assert not _crosses(route, second)


def test_a_stop_in_the_pocket_of_a_concave_zone_is_reached_without_crossing_it():
    # A U open to the south; the target sits in its pocket, the origin north of it.
    u_shape = Polygon(
        [
            (-71.540, -16.400),
            (-71.539, -16.400),
            (-71.539, -16.397),
            (-71.535, -16.397),
            (-71.535, -16.400),
            (-71.534, -16.400),
            (-71.534, -16.396),
            (-71.540, -16.396),
        ]
    )
    zone = restriction.Zone(id="u", name="U", shape=u_shape)
    origin, target = Point(lat=-16.3940, lng=-71.5370), Point(lat=-16.3990, lng=-71.5370)
    path = restriction.plan_path([origin, target], [zone])
    line = LineString([(p.lng, p.lat) for p in path.points])
    assert not line.intersects(u_shape)
    assert path.stop_at == [0, len(path.points) - 1]


def test_a_stop_enclosed_by_a_zone_makes_the_run_409_route_restricted(make_run):
    outer = [[-71.545, -16.406], [-71.529, -16.406], [-71.529, -16.392], [-71.545, -16.392]]
    hole = [[-71.540, -16.402], [-71.534, -16.402], [-71.534, -16.396], [-71.540, -16.396]]
    _zone([*outer, outer[0]], holes=[[*hole, hole[0]]], name="Anillo")
    with pytest.raises(RouteRestrictedError) as refused:
        make_run(digit=6, on=_next(THURSDAY), origin=("-16.410000", "-71.550000"), drops=[PLAZA])
    assert refused.value.details["zone_names"] == ["Anillo"]
    assert not Assignment.objects.exists()


def test_with_osrm_the_detour_corners_are_waypoints_and_legs_add_up_per_stop(make_run, settings):
    _zone()

    def echo(request):
        # Every leg 1 km and 100 s, the geometry through the points asked for.
        positions = [
            [float(n) for n in pair.split(",")]
            for pair in re.search(r"driving/([^?]+)", request.path)[1].split(";")
        ]
        legs = [{"distance": 1000.0, "duration": 100.0} for _ in positions[1:]]
        body = {
            "code": "Ok",
            "routes": [
                {
                    "geometry": {"type": "LineString", "coordinates": positions},
                    "legs": legs,
                    "distance": 1000.0 * len(legs),
                    "duration": 100.0 * len(legs),
                }
            ],
        }
        return 200, body

    with FakeHttpServer() as osrm:
        osrm.add("GET", r"/route/v1/driving/[^/]+", echo)
        settings.OSRM_URL = osrm.url
        route = _route(make_run(digit=8, on=_next(FRIDAY), origin=WEST, drops=[EAST]))
        request = osrm.requests[-1]  # the route's (pricing the order asked for a leg before)
    points = request.path.rsplit("/", 1)[1].split(";")
    assert len(points) > 2  # pickup, the corners round the zone, drop-off
    assert route.provider == "osrm"
    assert not _crosses(route)
    pickup, delivery = route.stops.order_by("sequence")
    legs = len(points) - 1
    assert route.duration_s == 100.0 * legs
    assert (delivery.eta - pickup.eta).total_seconds() == pytest.approx(100.0 * legs)


def test_on_any_two_days_running_one_operational_demo_vehicle_may_enter_the_centre():
    plates = [plate for plate, *_, status in DEMO_VEHICLES if status == "operational"]
    for offset in range(7):
        days = [date(2026, 11, 23) + timedelta(days=offset + i) for i in range(2)]
        assert any(
            not any(restriction.is_restricted(plate=p, day=day) for day in days) for p in plates
        )


# --- The demo zone -------------------------------------------------------------------------------


def test_the_demo_zone_covers_the_plaza_de_armas_and_is_seeded_once():
    seed_geofences()
    seed_geofences()
    [zone] = Geofence.objects(kind="vehicle_restriction")
    assert zone.name == HISTORIC_CENTRE
    assert zone.active
    polygon = shape(zone.geometry)
    assert polygon.is_valid
    assert polygon.exterior.is_ccw
    assert polygon.contains(ShapelyPoint(-71.5369, -16.3988))
    assert not polygon.contains(ShapelyPoint(-71.5217, -16.4210))  # Lambramani, outside


def test_reseeding_with_reset_reactivates_the_demo_zone():
    [zone] = seed_geofences()
    Geofence.objects(pk=zone.pk).update(set__active=False)
    seed_geofences()
    assert not Geofence.objects.get(pk=zone.pk).active
    seed_geofences(reset=True)
    assert Geofence.objects.get(pk=zone.pk).active

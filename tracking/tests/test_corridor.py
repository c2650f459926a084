"""Route corridors: one per run around its route's geometry (80 m by default), written
when the plan commits, replaced on every re-plan, removed with the run's route."""

import math
from decimal import Decimal

import pytest
from django.db import transaction
from mongoengine.errors import NotUniqueError
from shapely.geometry import LineString, shape
from shapely.geometry import Point as ShapelyPoint

from fleet import services
from fleet.models import Route
from fleet.tests.factories import VehicleFactory, driver_user
from orders.tests.factories import CustomerFactory, drop, make_order
from tracking import geofences
from tracking.documents import Geofence

pytestmark = pytest.mark.django_db

# About 1.1 km due north along one meridian, so offsets east are easy to place in metres.
NORTH_LINE = {"type": "LineString", "coordinates": [[-71.5369, -16.4088], [-71.5369, -16.3988]]}
METRES_PER_DEGREE_LNG = 6_371_008.8 * math.pi / 180 * math.cos(math.radians(16.4038))


@pytest.fixture
def run(dispatcher, django_capture_on_commit_callbacks):
    order = make_order(
        customer=CustomerFactory(),
        by=dispatcher,
        drops=[drop(lat="-16.4210", lng="-71.5217"), drop(lat="-16.3891", lng="-71.5456")],
    )
    _, driver = driver_user()
    with django_capture_on_commit_callbacks(execute=True):
        return services.assignment_create(
            orders=[order],
            driver=driver,
            vehicle=VehicleFactory(capacity_kg=Decimal("500")),
            by=dispatcher,
        )


def _corridors(assignment_id: int) -> list[Geofence]:
    return list(Geofence.objects(kind="route_corridor", assignment_id=assignment_id))


def _east_of_line(metres: float) -> ShapelyPoint:
    return ShapelyPoint(-71.5369 + metres / METRES_PER_DEGREE_LNG, -16.4038)


def test_the_corridor_is_a_closed_valid_lng_lat_polygon_round_the_line():
    polygon = geofences.corridor_polygon(NORTH_LINE, tolerance_m=80)
    ring = polygon["coordinates"][0]
    assert polygon["type"] == "Polygon"
    assert ring[0] == ring[-1]
    assert len(ring) >= 4
    assert all(-72 < lng < -71 and -17 < lat < -16 for lng, lat in ring)  # [lng, lat]
    area = shape(polygon)
    assert area.is_valid
    assert area.exterior.is_ccw
    assert area.contains(LineString(NORTH_LINE["coordinates"]))


def test_the_corridor_reaches_the_tolerance_in_metres_and_no_further():
    area = shape(geofences.corridor_polygon(NORTH_LINE, tolerance_m=80))
    assert area.contains(_east_of_line(77))
    assert area.contains(_east_of_line(-77))
    assert not area.contains(_east_of_line(83))
    assert not area.contains(_east_of_line(-83))


def test_a_line_of_fewer_than_two_positions_has_no_corridor():
    assert (
        geofences.corridor_polygon({"type": "LineString", "coordinates": []}, tolerance_m=80)
        is None
    )
    one = {"type": "LineString", "coordinates": [[-71.5369, -16.3988]]}
    assert geofences.corridor_polygon(one, tolerance_m=80) is None


def test_a_run_gets_a_corridor_round_its_route_with_80_m_by_default(run):
    route = Route.objects.get(assignment=run)
    [corridor] = _corridors(run.pk)
    assert corridor.active
    assert corridor.route_id == route.pk
    assert corridor.tolerance_m == 80
    assert shape(corridor.geometry).contains(LineString(route.geometry["coordinates"]))


def test_the_corridor_is_found_by_a_2dsphere_query_on_the_route(run):
    lng, lat = Route.objects.get(assignment=run).geometry["coordinates"][1]
    point = {"type": "Point", "coordinates": [lng, lat]}
    found = Geofence.objects(kind="route_corridor", geometry__geo_intersects=point)
    assert [g.assignment_id for g in found] == [run.pk]


def test_the_tolerance_follows_the_setting(run, settings, django_capture_on_commit_callbacks):
    settings.ROUTE_CORRIDOR_TOLERANCE_M = 150
    with django_capture_on_commit_callbacks(execute=True):
        services.route_plan(assignment=run)
    [corridor] = _corridors(run.pk)
    assert corridor.tolerance_m == 150


def test_re_planning_replaces_the_corridor_keeping_one_per_run(
    run, django_capture_on_commit_callbacks
):
    [before] = _corridors(run.pk)
    with django_capture_on_commit_callbacks(execute=True):
        route = services.route_plan(assignment=run)
    [after] = _corridors(run.pk)
    assert after.route_id == route.pk != before.route_id
    assert after.pk == before.pk  # the same geofence, so its enter/exit history goes on
    assert Geofence.objects(kind="route_corridor").count() == 1


def test_a_plan_rolled_back_leaves_the_previous_corridor(run, django_capture_on_commit_callbacks):
    [before] = _corridors(run.pk)

    def plan_then_fail():
        with transaction.atomic():
            services.route_plan(assignment=run)
            raise RuntimeError("the request failed after planning")

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError):
        plan_then_fail()
    assert callbacks == []
    [after] = _corridors(run.pk)
    assert after.route_id == before.route_id


def test_a_route_of_fewer_than_two_points_removes_the_corridor(run):
    one = {"type": "LineString", "coordinates": [[-71.5369, -16.3988]]}
    assert geofences.corridor_replace(assignment_id=run.pk, route_id=1, line=one) is None
    assert _corridors(run.pk) == []


def test_corridor_delete_for_removes_only_that_runs_corridor(run):
    other = geofences.corridor_replace(assignment_id=run.pk + 1, route_id=1, line=NORTH_LINE)
    assert geofences.corridor_delete_for(assignment_id=run.pk) == 1
    assert geofences.corridor_for(assignment_id=run.pk) is None
    assert geofences.corridor_for(assignment_id=run.pk + 1).pk == other.pk


def test_two_corridors_for_one_run_are_refused_by_the_index(run):
    [corridor] = _corridors(run.pk)
    duplicate = Geofence(
        name="copy", kind="route_corridor", geometry=corridor.geometry, assignment_id=run.pk
    )
    with pytest.raises(NotUniqueError):
        duplicate.save()

"""The run page's map (what the server puts in its scene): the planned route inside its
corridor, the stops numbered in order with their status, the GPS trail simplified on the
server, the last position greyed when silent, and route deviations where they happened;
in a fixed number of queries whatever the run's size, and to those who may see the run."""

import math
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from fleet import services
from fleet.models import Assignment, Incident, Stop, StopStatus
from fleet.tests.factories import make_run, started_run
from identity.tests.factories import RoleFactory, UserFactory
from rappi.testing.console import console_client, page_text
from rappi.testing.mongo_commands import mongo_commands
from tracking import geofences, pings

pytestmark = pytest.mark.django_db

LAT, LNG = -16.4100, -71.5300
METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180


def under_way(by, **kwargs) -> Assignment:
    """A run in progress since an hour ago, with its route's corridor."""
    run = started_run(by, **kwargs)
    Assignment.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(hours=1))
    run = Assignment.objects.select_related("route", "vehicle", "driver__user").get(pk=run.pk)
    geofences.corridor_replace(assignment_id=run.pk, route_id=run.route.pk, line=run.route.geometry)
    return run


def drive(run, count: int, *, heading=None, last_seconds_ago: float = 5) -> list[list[float]]:
    """`count` fixes of the run, 10 m apart northwards with a 30 m swerve every other one
    (nothing to simplify away), a second apart, the last `last_seconds_ago`."""
    now = timezone.now()
    fixes = [
        pings.Fix(
            index=i,
            lat=LAT + i * 10 / METRES_PER_DEGREE,
            lng=LNG + (30 if i % 2 else 0) / METRES_PER_DEGREE,
            recorded_at=now - timedelta(seconds=last_seconds_ago + count - 1 - i),
            heading=heading,
        )
        for i in range(count)
    ]
    for start in range(0, count, 100):
        result = pings.pings_ingest(
            assignment_id=run.pk,
            driver_id=run.driver_id,
            vehicle_plate=run.vehicle.plate,
            started_at=run.started_at,
            fixes=fixes[start : start + 100],
        )
        assert result.accepted == len(fixes[start : start + 100]), result
    return [[fix.lng, fix.lat] for fix in fixes]


def scene_of(client, run, **params) -> dict:
    response = client.get(f"/console/runs/{run.pk}/", params)
    page_text(response)
    return response.context["scene"]


def test_the_map_draws_route_corridor_numbered_stops_trail_and_last_position(console, dispatcher):
    run = under_way(dispatcher, drops_per_order=2)
    Stop.objects.filter(route__assignment=run, sequence=1).update(status=StopStatus.VISITED)
    positions = drive(run, 5, heading=45)
    scene = scene_of(console, run)

    [route, trail] = scene["lines"]
    assert (route["kind"], route["coordinates"]) == ("route", run.route.geometry["coordinates"])
    assert (trail["kind"], trail["coordinates"]) == ("trail", positions)
    [corridor] = scene["zones"]
    assert corridor["kind"] == "route_corridor"
    assert corridor["geometry"] == geofences.corridor_for(assignment_id=run.pk).geometry

    stops = scene["stops"]
    assert [stop["sequence"] for stop in stops] == [1, 2, 3]
    assert [stop["status"] for stop in stops] == ["visited", "pending", "pending"]
    assert [stop["kind"] for stop in stops] == ["pickup", "delivery", "delivery"]
    assert stops[1]["label"].startswith("2. Delivery · Av. Lambramani 325")

    [vehicle] = scene["markers"]
    assert vehicle["kind"] == "vehicle"
    assert vehicle["text"] == run.vehicle.plate
    assert [vehicle["lng"], vehicle["lat"]] == pytest.approx(positions[-1])
    assert vehicle["heading"] == 45
    assert vehicle["stale"] is False
    assert run.driver.user.full_name in vehicle["label"]


def test_a_silent_driver_is_greyed_with_the_age_of_the_fix(console, dispatcher):
    run = under_way(dispatcher)
    drive(run, 2, last_seconds_ago=settings.GPS_STALE_AFTER_S + 600)
    [vehicle] = scene_of(console, run)["markers"]
    assert vehicle["stale"] is True
    assert vehicle["text"].startswith(f"{run.vehicle.plate} · ")
    assert "min ago" in vehicle["text"]


def test_a_run_without_fixes_has_no_trail_and_no_position(console, dispatcher):
    run = make_run(dispatcher)
    scene = scene_of(console, run)
    assert [line["kind"] for line in scene["lines"]] == ["route"]
    assert "markers" not in scene


def test_a_route_deviation_is_a_marker_where_it_happened(console, dispatcher):
    run = under_way(dispatcher)
    deviation = services.incident_report(
        assignment=run, type="route_deviation", origin="system", by=None, lat=LAT, lng=LNG
    )
    services.incident_report(assignment=run, type="traffic", by=dispatcher)  # no place
    [incident] = scene_of(console, run)["markers"]
    assert incident["kind"] == "incident"
    assert (incident["lat"], incident["lng"]) == (LAT, LNG)
    assert incident["url"] == f"#incident-{deviation.pk}"
    assert incident["label"].startswith("Route deviation · ")
    # The marker leads to the incident on the page.
    assert f'id="incident-{deviation.pk}"' in page_text(console.get(f"/console/runs/{run.pk}/"))


def test_a_role_that_may_not_read_incidents_sees_none_on_the_map(dispatcher):
    run = under_way(dispatcher)
    Incident.objects.create(
        assignment=run, type="route_deviation", severity=4, origin="system", lat=LAT, lng=LNG
    )
    reader = UserFactory(role=RoleFactory(grants=["assignments:read"]))
    scene = scene_of(console_client(reader), run)
    assert "markers" not in scene
    assert "Route deviation" not in page_text(
        console_client(reader).get(f"/console/runs/{run.pk}/")
    )


@pytest.mark.parametrize(
    ("grants", "sees"),
    [
        (["assignments:read"], {"route"}),
        (["assignments:read", "tracking:read"], {"route", "trail", "vehicle"}),
        (["assignments:read", "geofences:read"], {"route", "route_corridor"}),
    ],
)
def test_the_track_and_the_corridor_show_only_to_roles_the_api_shows_them_to(
    dispatcher, grants, sees
):
    run = under_way(dispatcher)
    drive(run, 3)
    scene = scene_of(console_client(UserFactory(role=RoleFactory(grants=grants))), run)
    drawn = [
        item["kind"] for layer in ("lines", "zones", "markers") for item in scene.get(layer, [])
    ]
    assert set(drawn) == sees


def test_the_refresh_carries_the_new_position(console, dispatcher):
    run = under_way(dispatcher)
    drive(run, 2, last_seconds_ago=60)
    hx = {"HX-Request": "true"}
    before = console.get(f"/console/runs/{run.pk}/?part=facts", headers=hx).context["scene"]
    pings.pings_ingest(
        assignment_id=run.pk,
        driver_id=run.driver_id,
        vehicle_plate=run.vehicle.plate,
        started_at=run.started_at,
        fixes=[pings.Fix(index=0, lat=LAT + 0.001, lng=LNG, recorded_at=timezone.now())],
    )
    after = console.get(f"/console/runs/{run.pk}/?part=facts", headers=hx).context["scene"]
    assert after["markers"][-1]["lat"] == pytest.approx(LAT + 0.001)
    assert len(after["lines"][1]["coordinates"]) == len(before["lines"][1]["coordinates"]) + 1


def test_an_unknown_run_is_the_404_page_and_its_refresh_too(console):
    assert console.get("/console/runs/999999/").status_code == 404
    hx = {"HX-Request": "true"}
    assert console.get("/console/runs/999999/?part=facts", headers=hx).status_code == 404


@pytest.mark.parametrize("part", ["", "facts"])
def test_the_page_costs_the_same_queries_for_2_stops_and_few_fixes_as_for_20_and_many(
    console, dispatcher, django_assert_max_num_queries, mongo_test_database, part
):
    hx = {"HX-Request": "true"} if part else {}
    small = under_way(dispatcher)  # a pickup and a drop-off
    drive(small, 3)
    Incident.objects.create(
        assignment=small, type="route_deviation", severity=4, origin="system", lat=LAT, lng=LNG
    )
    url = f"/console/runs/{small.pk}/?part={part}" if part else f"/console/runs/{small.pk}/"
    with (
        django_assert_max_num_queries(100) as captured,
        mongo_commands(mongo_test_database) as sent,
    ):
        page_text(console.get(url, headers=hx))
    few, few_mongo = len(captured), sorted(c.name for c in sent if c.name != "getMore")
    assert len(Stop.objects.filter(route__assignment=small)) == 2

    big = under_way(dispatcher, drops_per_order=19)  # a pickup and 19 drop-offs
    drive(big, 300)
    for _ in range(5):
        Incident.objects.create(
            assignment=big, type="route_deviation", severity=4, origin="system", lat=LAT, lng=LNG
        )
    assert len(Stop.objects.filter(route__assignment=big)) == 20
    url = f"/console/runs/{big.pk}/?part={part}" if part else f"/console/runs/{big.pk}/"
    with django_assert_max_num_queries(few), mongo_commands(mongo_test_database) as sent:
        response = console.get(url, headers=hx)
    assert response.status_code == 200
    assert sorted(c.name for c in sent if c.name != "getMore") == few_mongo
    scene = response.context["scene"]
    assert len(scene["stops"]) == 20
    assert len(scene["lines"][1]["coordinates"]) == 300
    placed = Incident.objects.filter(assignment=big, lat__isnull=False).count()
    assert placed >= 5  # and any deviation these fixes made themselves
    assert len([m for m in scene["markers"] if m["kind"] == "incident"]) == placed

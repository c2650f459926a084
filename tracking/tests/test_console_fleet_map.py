"""The fleet map page, /console/fleet/: what its map draws (the API's fleet selector, put
in the page as a scene), the list beside it, "drivers near here" with the API's query
rules, the fragment its refresh reads, and the same few queries whatever the fleet."""

import json
import re
from html import unescape

import pytest
from django.conf import settings

from identity.tests.factories import RoleFactory, UserFactory
from rappi.testing.console import console_client
from rappi.testing.mongo_commands import mongo_commands
from tracking.tests.factories import LAT, LNG, record_fix, run_in_progress

pytestmark = pytest.mark.django_db

URL = "/console/fleet/"


def scene(response) -> dict:
    found = re.search(r'data-map-scene="fleet-map" data-scene="([^"]*)"', response.content.decode())
    assert found, "the page carries no scene for its map"
    return json.loads(unescape(found.group(1)))


def test_each_run_in_progress_is_a_marker_with_its_plate_and_the_silent_one_is_greyed(
    console, dispatcher
):
    live = run_in_progress(dispatcher, plate="ABC-123")
    silent = run_in_progress(dispatcher, plate="XYZ-789")
    never = run_in_progress(dispatcher, plate="NOF-100")
    run_in_progress(
        dispatcher, plate="WAI-200", start=False
    )  # assigned, not under way: not on the map
    record_fix(live["run"], LAT, LNG, seconds_ago=30, heading=45)
    record_fix(silent["run"], LAT + 0.01, LNG, seconds_ago=settings.GPS_STALE_AFTER_S + 180)

    response = console.get(URL)
    assert response.status_code == 200
    markers = {m["text"].split(" · ")[0]: m for m in scene(response)["markers"]}
    # A run that never sent a fix has nowhere to be drawn; the list still names it.
    assert set(markers) == {"ABC-123", "XYZ-789"}
    assert markers["ABC-123"]["stale"] is False
    assert markers["ABC-123"]["heading"] == 45
    assert markers["ABC-123"]["url"] == f"/console/runs/{live['run'].pk}/"
    assert markers["XYZ-789"]["stale"] is True
    assert markers["XYZ-789"]["text"] == "XYZ-789 · 5 min ago"
    assert (markers["ABC-123"]["lat"], markers["ABC-123"]["lng"]) == (LAT, LNG)
    page = response.content.decode()
    assert page.count('class="is-stale"') == 2  # the silent run and the one with no fix
    assert f"/console/runs/{never['run'].pk}/" in page
    assert "3 runs in progress" in page


def test_each_planned_route_is_a_line_that_leads_to_its_run(console, dispatcher):
    run = run_in_progress(dispatcher, plate="ABC-123")
    [line] = scene(console.get(URL))["lines"]
    assert line["kind"] == "route"
    assert line["url"] == f"/console/runs/{run['run'].pk}/"
    assert line["coordinates"] == run["run"].route.geometry["coordinates"]


def test_the_refresh_reads_only_the_live_fragment(console, dispatcher):
    run_in_progress(dispatcher, plate="ABC-123")
    response = console.get(f"{URL}?lat={LAT}&lng={LNG}", headers={"HX-Request": "true"})
    page = response.content.decode()
    assert "<html" not in page
    assert 'id="fleet-live"' in page
    # The fragment polls the same address, point included, so the search survives it.
    assert f'hx-get="{URL}?lat={LAT}&amp;lng={LNG}"' in page


def test_drivers_near_a_point_are_listed_nearest_first_within_the_radius(console, dispatcher):
    near, far, away = (
        run_in_progress(dispatcher, plate=p) for p in ("NEA-001", "FAR-002", "AWA-003")
    )
    record_fix(near["run"], LAT + 0.001, LNG, seconds_ago=20)  # ~111 m
    record_fix(far["run"], LAT + 0.008, LNG, seconds_ago=20)  # ~890 m
    record_fix(away["run"], LAT + 0.05, LNG, seconds_ago=20)  # ~5.6 km: outside 2 km
    response = console.get(URL, {"lat": LAT, "lng": LNG, "radius_m": 2000})
    page = response.content.decode()
    listed = re.findall(r"· ([A-Z]{3}-\d{3})\s*<span class=\"distance\">(\d+) m", page)
    assert listed == [("NEA-001", "111"), ("FAR-002", "890")]
    drawn = scene(response)
    assert drawn["circles"] == [{"lat": LAT, "lng": LNG, "radius_m": 2000.0}]
    assert [m["text"] for m in drawn["markers"] if m["kind"] == "driver"] == [
        "NEA-001 · 111 m",
        "FAR-002 · 890 m",
    ]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"lat": "95", "lng": LNG}, "Latitude"),
        ({"lat": LAT, "lng": "abc"}, "Longitude"),
        ({"lat": LAT}, "Longitude"),
        ({"lat": LAT, "lng": LNG, "radius_m": "0"}, "Radius"),
        ({"lat": LAT, "lng": LNG, "window_min": "99999"}, "Fix no older than (min)"),
    ],
)
def test_a_bad_point_is_a_message_on_the_page_not_an_error(console, dispatcher, query, field):
    run_in_progress(dispatcher, plate="ABC-123")
    response = console.get(URL, query)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'role="alert"' in page
    assert f"{field}:" in page
    assert "near this point" not in page
    assert "circles" not in scene(response)


@pytest.mark.parametrize("count", [1, 6])
def test_the_page_costs_the_same_queries_whatever_the_fleet(
    console, dispatcher, count, django_assert_max_num_queries, mongo_test_database
):
    for n in range(count):
        run = run_in_progress(dispatcher, plate=f"FLT-{n:03}")
        record_fix(run["run"], LAT + 0.001 * n, LNG, seconds_ago=20)
    console.get(URL)
    query = {"lat": LAT, "lng": LNG}
    # A console page's four, the runs in one, the drivers near the point in one.
    with django_assert_max_num_queries(6), mongo_commands(mongo_test_database) as sent:
        response = console.get(URL, query)
    assert len(scene(response)["markers"]) == 2 * count
    assert len([c for c in sent if c.name in ("find", "aggregate")]) <= 3


def test_staff_without_the_tracking_grant_get_the_403_page():
    client = console_client(UserFactory(role=RoleFactory(grants=["orders:read"])))
    assert client.get(URL).status_code == 403


def test_a_point_with_nobody_near_still_draws_its_circle(console, dispatcher):
    response = console.get(URL, {"lat": LAT, "lng": LNG, "radius_m": 500})
    assert "No driver has sent a fix this close in that time." in response.content.decode()
    assert scene(response)["circles"] == [{"lat": LAT, "lng": LNG, "radius_m": 500.0}]

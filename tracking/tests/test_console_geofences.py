"""The console's geofence pages, /console/geofences/ and /console/geofences/<id>/:
`geofences:read`, zones by kind with route corridors apart as routing-managed, both on a
map coloured by kind, each row's events of the last 24 h, each geofence's enter/exit
events with driver and run and its outline on a small map, the API's filters, and the same
few queries at any page size. The editor is tested in test_console_geofence_editor.py."""

import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from fleet.tests.factories import driver_user
from identity.tests.factories import RoleFactory, UserFactory
from rappi.testing.console import console_client
from rappi.testing.mongo_commands import mongo_commands
from tracking import geofences
from tracking.tests.factories import GeofenceEventFactory

pytestmark = pytest.mark.django_db

URL = "/console/geofences/"
T0 = datetime(2030, 5, 1, 17, 0, tzinfo=UTC)  # 12:00 in Lima
SQUARE = [
    [-71.5400, -16.4000],
    [-71.5340, -16.4000],
    [-71.5340, -16.3970],
    [-71.5400, -16.3970],
    [-71.5400, -16.4000],
]
LINE = {"type": "LineString", "coordinates": [[-71.5369, -16.4088], [-71.5369, -16.3988]]}


def zone(name="Cercado", kind="delivery_zone", **fields):
    return geofences.geofence_create(
        name=name, kind=kind, geometry={"type": "Polygon", "coordinates": [SQUARE]}, **fields
    )


def corridor(run: int):
    return geofences.corridor_replace(assignment_id=run, route_id=run * 10, line=LINE)


def event(geofence, *, driver_id: int, run: int, minute: int, **fields):
    GeofenceEventFactory(
        geofence=geofence,
        driver_id=driver_id,
        assignment_id=run,
        at=T0 + timedelta(minutes=minute),
        **fields,
    )


def section(response, heading_id: str) -> str:
    """The HTML of one section of the page (zones or corridors)."""
    page = response.content.decode()
    start = page.index(f'id="{heading_id}"')
    end = page.find("</section>", start)
    return page[start:end]


def links(html: str) -> list[str]:
    return re.findall(r'<a href="/console/geofences/[0-9a-f]{24}/">([^<]+)</a>', html)


def event_rows(response) -> list[str]:
    body = section(response, "events")
    return re.findall(r"<tr>\s*<td><time", body)


def scene(response) -> dict:
    """What the page's map draws."""
    found = re.search(r'data-scene="([^"]*)"', response.content.decode())
    assert found is not None, "no map on the page"
    return json.loads(html.unescape(found[1]))


def run_url(pk: int) -> str | None:
    try:
        return reverse("console:run", args=[pk])
    except NoReverseMatch:  # the run page another part of the console adds
        return None


# --- Access ----------------------------------------------------------------------------------


def test_a_dispatcher_sees_zones_by_kind_and_corridors_apart(console):
    zone("Cercado")
    zone("San Camilo", kind="forbidden", tolerance_m=15)
    zone("Centro", kind="vehicle_restriction", active=False)
    corridor(7)
    response = console.get(URL)
    assert response.status_code == 200
    zones = section(response, "zones")
    assert links(zones) == ["Cercado", "San Camilo", "Centro"]  # by kind, then name
    assert '<span class="badge badge-forbidden">Forbidden area</span>' in zones
    assert '<span class="badge badge-delivery-zone">Delivery zone</span>' in zones
    assert '<span class="badge badge-inactive">Inactive</span>' in zones
    assert "15 m" in zones
    corridors = section(response, "corridors")
    assert links(corridors) == ["Run #7 route corridor"]
    assert "Routing-managed" in corridors
    assert "#7" in corridors
    page = response.content.decode()
    assert 'class="map-placeholder"' not in page
    assert 'id="geofence-map" data-map' in page
    # The map: every row listed, coloured by kind, inactive ones flagged, each a link.
    drawn = scene(response)["zones"]
    assert [(z["kind"], z["active"]) for z in drawn] == [
        ("delivery_zone", True),
        ("forbidden", True),
        ("vehicle_restriction", False),
        ("route_corridor", True),
    ]
    assert drawn[0]["label"] == "Cercado · Delivery zone"
    assert drawn[2]["label"] == "Centro · Vehicle restriction · Inactive"
    assert all(z["url"] == f"{URL}{z['url'].split('/')[-2]}/" for z in drawn)
    assert drawn[0]["geometry"]["type"] == "Polygon"
    legend = page[page.index('class="map-legend"') :]
    for kind in ("delivery_zone", "forbidden", "vehicle_restriction", "route_corridor"):
        assert f"map-swatch--{kind}" in legend
    assert "map-swatch--inactive" in legend


def test_a_dispatcher_is_offered_the_editor(console):
    fence = zone()
    page = console.get(URL).content.decode()
    assert f'href="{URL}new/"' in page
    detail = console.get(f"{URL}{fence.pk}/").content.decode()
    assert f'href="{URL}{fence.pk}/edit/"' in detail
    assert f'action="{URL}{fence.pk}/deactivate/"' in detail


def test_each_row_counts_its_events_of_the_last_24_hours(console):
    busy, quiet = zone("Busy"), zone("Quiet")
    now = timezone.now()
    for fence, hours in ((busy, 0.1), (busy, 1), (busy, 23), (busy, 25), (quiet, 25)):
        GeofenceEventFactory(
            geofence=fence, at=now - timedelta(hours=hours), confirmed_at=now, received_at=now
        )
    zones = section(console.get(URL), "zones")
    assert f'<a href="{URL}{busy.pk}/#events"' in zones
    assert "3 events</a>" in zones
    assert f"{URL}{quiet.pk}/#events" not in zones


def test_a_staff_role_without_geofences_read_gets_the_403_page():
    client = console_client(UserFactory(role=RoleFactory(grants=["orders:read", "audit:read"])))
    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}{zone().pk}/").status_code == 403
    assert 'href="/console/geofences/"' not in client.get("/console/").content.decode()


@pytest.mark.parametrize("role", ["customer", "driver"])
def test_customers_and_drivers_cannot_open_them(role):
    user = UserFactory(role_name=role)
    for path in (URL, f"{URL}{zone().pk}/"):
        client = console_client(user)
        response = client.get(path)
        assert response.status_code == 302
        assert response["Location"] == "/console/login/"
        assert "_auth_user_id" not in client.session


# The last: a well-formed ObjectId no document has (a literal: parallel workers must collect
# the same test ids).
@pytest.mark.parametrize("pk", ["1", "not-an-id", "5f0000000000000000000000"])
def test_an_unknown_geofence_is_a_404(console, pk):
    assert console.get(f"{URL}{pk}/").status_code == 404


# --- Filters ---------------------------------------------------------------------------------


def test_the_kind_and_state_filters_read_as_the_apis(console):
    zone("Cercado")
    zone("San Camilo", kind="forbidden")
    zone("Old", kind="forbidden", active=False)
    corridor(7)
    forbidden = console.get(URL, {"kind": "forbidden"})
    assert links(section(forbidden, "zones")) == ["Old", "San Camilo"]
    assert links(section(forbidden, "corridors")) == []
    inactive = console.get(URL, {"active": "false"})
    assert links(section(inactive, "zones")) == ["Old"]
    only_corridors = console.get(URL, {"kind": "route_corridor"})
    assert links(section(only_corridors, "zones")) == []
    assert links(section(only_corridors, "corridors")) == ["Run #7 route corridor"]


@pytest.mark.parametrize(
    ("query", "field"), [({"kind": "lake"}, "kind"), ({"active": "sometimes"}, "active")]
)
def test_a_bad_filter_is_shown_with_no_rows(console, query, field):
    zone("Cercado")
    corridor(7)
    response = console.get(URL, query)
    assert response.status_code == 200
    assert links(section(response, "zones")) == links(section(response, "corridors")) == []
    assert response.context["filters"].form.errors[field]
    assert 'class="error"' in response.content.decode()


def test_corridors_page_apart_from_zones(console):
    zone("Cercado")
    for run in range(1, 28):
        corridor(run)
    first = console.get(URL)
    assert len(links(section(first, "corridors"))) == 25
    assert links(section(first, "zones")) == ["Cercado"]
    second = console.get(URL, {"corridors_page": 2})
    assert len(links(section(second, "corridors"))) == 2
    assert links(section(second, "zones")) == ["Cercado"]


# --- A geofence and its events ---------------------------------------------------------------


def test_a_zones_events_newest_first_with_driver_run_and_lima_time(console):
    _user, driver = driver_user(full_name="Rosa Quispe")
    fence = zone("San Camilo", kind="forbidden")
    event(fence, driver_id=driver.pk, run=7, minute=0)
    event(fence, driver_id=driver.pk, run=7, minute=5, type="exit")
    response = console.get(f"{URL}{fence.pk}/")
    assert response.status_code == 200
    events = section(response, "events")
    assert events.index("12:05:00") < events.index("12:00:00")  # 17:05 UTC, newest first
    assert "01/05/2030 12:05:00" in events
    assert "Rosa Quispe" in events
    assert '<span class="badge badge-exit">Left</span>' in events
    assert '<span class="badge badge-enter">Entered</span>' in events
    url = run_url(7)
    assert (f'<a href="{url}">#7</a>' if url else "#7") in events


def test_a_corridor_shows_its_run_and_that_routing_manages_it(console):
    found = corridor(7)
    page = console.get(f"{URL}{found.pk}/").content.decode()
    assert "Managed by routing" in page
    assert "#7" in page
    assert 'class="map-placeholder"' not in page
    assert "/edit/" not in page
    assert "/deactivate/" not in page


def test_a_geofences_page_shows_it_on_a_small_map(console):
    fence = zone("San Camilo", kind="forbidden", active=False)
    response = console.get(f"{URL}{fence.pk}/")
    assert 'class="map map--small" id="geofence-map"' in response.content.decode()
    [drawn] = scene(response)["zones"]
    assert drawn["geometry"] == fence.geometry
    assert (drawn["kind"], drawn["active"], drawn["url"]) == ("forbidden", False, None)


def test_only_the_chosen_geofences_events_are_shown(console):
    first, second = zone("A"), zone("B")
    event(first, driver_id=1, run=7, minute=0)
    event(second, driver_id=1, run=8, minute=1)
    assert len(event_rows(console.get(f"{URL}{first.pk}/"))) == 1


def test_an_events_driver_that_no_longer_exists_shows_its_number(console):
    fence = zone()
    event(fence, driver_id=987654, run=7, minute=0)
    assert "#987654" in section(console.get(f"{URL}{fence.pk}/"), "events")


def test_the_event_filters_read_as_the_apis(console):
    fence = zone()
    event(fence, driver_id=1, run=7, minute=0)
    event(fence, driver_id=1, run=7, minute=1, type="exit")
    event(fence, driver_id=2, run=8, minute=2)
    assert len(event_rows(console.get(f"{URL}{fence.pk}/", {"type": "exit"}))) == 1
    assert len(event_rows(console.get(f"{URL}{fence.pk}/", {"driver_id": 2}))) == 1
    assert len(event_rows(console.get(f"{URL}{fence.pk}/", {"assignment_id": 7}))) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [({"type": "hover"}, "type"), ({"driver_id": "x"}, "driver_id"), ({"assignment_id": 0},
                                                                         "assignment_id")],
)  # fmt: skip
def test_a_bad_event_filter_is_shown_with_no_rows(console, query, field):
    fence = zone()
    event(fence, driver_id=1, run=7, minute=0)
    response = console.get(f"{URL}{fence.pk}/", query)
    assert response.status_code == 200
    assert event_rows(response) == []
    assert response.context["filters"].form.errors[field]


# --- Cost ------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 20])
def test_the_list_costs_the_same_queries_at_any_size(
    console, django_assert_max_num_queries, mongo_test_database, count
):
    for n in range(count):
        fence = zone(f"Zone {n:02}")
        corridor(n + 1)
        event(fence, driver_id=1, run=n + 1, minute=0)
    console.get(URL)
    # The session, its user, role and grants: what any console page costs.
    with django_assert_max_num_queries(4), mongo_commands(mongo_test_database) as sent:
        response = console.get(URL)
    assert len(links(section(response, "zones"))) == count
    assert len(scene(response)["zones"]) == 2 * count
    read = [c for c in sent if c.collection == "geofences"]
    # A count and a page each for zones and corridors: the page's outlines are the map's.
    assert sorted(c.name for c in read) == ["aggregate", "aggregate", "find", "find"]
    # Their events of the last 24 h, counted in one go.
    assert [c.name for c in sent if c.collection == "geofence_events"] == ["aggregate"]


@pytest.mark.parametrize("count", [2, 30])
def test_the_events_cost_the_same_queries_at_any_size(
    console, django_assert_max_num_queries, mongo_test_database, count
):
    fence = zone()
    for n in range(count):
        _user, driver = driver_user()
        event(fence, driver_id=driver.pk, run=n + 1, minute=n)
    path = f"{URL}{fence.pk}/"
    console.get(path)
    # A console page's four, and the page's drivers in one.
    with django_assert_max_num_queries(5), mongo_commands(mongo_test_database) as sent:
        response = console.get(path)
    assert len(event_rows(response)) == min(count, 25)
    assert sorted(c.name for c in sent if c.collection == "geofence_events") == [
        "aggregate",
        "find",
    ]

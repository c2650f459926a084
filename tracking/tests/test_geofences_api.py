"""The geofences API (docs/domain.md, Tracking and geofences): polygons validated (closed ring, at least 4 positions,
lng/lat in range, no self-intersection), kinds, soft deactivation, containment with the
border included, enter/exit history; staff only."""

from datetime import UTC, datetime, timedelta

import pytest
from shapely.geometry import shape

from identity import services
from identity.models import Role
from identity.tests.factories import RoleFactory, UserFactory
from tracking import demo, events, geofences
from tracking.documents import Geofence

pytestmark = pytest.mark.django_db

URL = "/api/v1/geofences/"
# Round the Plaza de Armas, clockwise as drawn (stored counter-clockwise).
SQUARE = [
    [-71.5400, -16.4000],
    [-71.5400, -16.3970],
    [-71.5340, -16.3970],
    [-71.5340, -16.4000],
    [-71.5400, -16.4000],
]
NORTH_LINE = {"type": "LineString", "coordinates": [[-71.5369, -16.4088], [-71.5369, -16.3988]]}


def polygon(*rings) -> dict:
    return {"type": "Polygon", "coordinates": [list(ring) for ring in rings]}


def body(**overrides) -> dict:
    return {"name": "Cercado", "kind": "delivery_zone", "geometry": polygon(SQUARE)} | overrides


@pytest.fixture
def zone():
    return geofences.geofence_create(name="Cercado", kind="delivery_zone", geometry=polygon(SQUARE))


def geometry_errors(response) -> list[str]:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    return error["details"]["fields"]["geometry"]


# --- Creating and validating ---------------------------------------------------------------------


def test_staff_draw_a_zone_stored_counter_clockwise(dispatcher_api):
    response = dispatcher_api.post(URL, body(tolerance_m=15), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data | {"id": None, "geometry": None, "created_at": None, "updated_at": None} == {
        "id": None,
        "name": "Cercado",
        "kind": "delivery_zone",
        "geometry": None,
        "active": True,
        "tolerance_m": 15.0,
        "order_id": None,
        "route_id": None,
        "assignment_id": None,
        "created_at": None,
        "updated_at": None,
    }
    stored = Geofence.objects.get(pk=data["id"])
    outline = shape(stored.geometry)
    assert outline.exterior.is_ccw
    assert outline.equals(shape(polygon(SQUARE)))
    assert data["geometry"] == stored.geometry


def test_a_bowtie_polygon_is_refused_naming_where_it_crosses_itself(dispatcher_api):
    bowtie = [[-71.54, -16.40], [-71.53, -16.39], [-71.53, -16.40], [-71.54, -16.39]]
    response = dispatcher_api.post(URL, body(geometry=polygon([*bowtie, bowtie[0]])), format="json")
    [message] = geometry_errors(response)
    # The two diagonals cross half-way: (-16.395, -71.535).
    assert message == "The outline crosses itself near -16.39500, -71.53500."
    assert Geofence.objects.count() == 0


def test_an_unclosed_ring_is_refused(dispatcher_api):
    unclosed = [*SQUARE[:-1], [-71.5399, -16.4000]]
    response = dispatcher_api.post(URL, body(geometry=polygon(unclosed)), format="json")
    assert geometry_errors(response) == [
        "Ring 0 is not closed: its last position must repeat its first."
    ]


def test_a_ring_needs_four_positions(dispatcher_api):
    triangle_without_closing = [[-71.54, -16.40], [-71.53, -16.40], [-71.54, -16.40]]
    response = dispatcher_api.post(
        URL, body(geometry=polygon(triangle_without_closing)), format="json"
    )
    assert "Ring 0 has 3 position(s); a closed ring needs at least 4." in geometry_errors(response)


@pytest.mark.parametrize(
    ("position", "complaint"),
    [
        ([-181.0, -16.4], "longitude -181.0 is outside -180..180"),
        ([-71.53, 91.0], "latitude 91.0 is outside -90..90"),
        ([-71.53], "must be [longitude, latitude], two numbers"),
        ([-71.53, "-16.4"], "must be [longitude, latitude], two numbers"),
    ],
)
def test_positions_out_of_range_or_malformed_are_refused(dispatcher_api, position, complaint):
    ring = [SQUARE[0], position, SQUARE[2], SQUARE[3], SQUARE[0]]
    response = dispatcher_api.post(URL, body(geometry=polygon(ring)), format="json")
    assert geometry_errors(response) == [f"Ring 0, position 1: {complaint}."]


def test_a_hole_outside_the_outline_is_refused(dispatcher_api):
    hole = [
        [-71.60, -16.50],
        [-71.59, -16.50],
        [-71.59, -16.49],
        [-71.60, -16.49],
        [-71.60, -16.50],
    ]
    response = dispatcher_api.post(URL, body(geometry=polygon(SQUARE, hole)), format="json")
    [message] = geometry_errors(response)
    assert message.startswith("Not a valid polygon: Hole lies outside shell")


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "LineString", "coordinates": SQUARE},
        {"type": "Polygon", "coordinates": []},
        {"type": "Polygon"},
        "POLYGON ((0 0, 1 0, 1 1, 0 0))",
    ],
)
def test_anything_but_a_geojson_polygon_is_refused(dispatcher_api, geometry):
    response = dispatcher_api.post(URL, body(geometry=geometry), format="json")
    assert geometry_errors(response)


def test_a_city_sized_zone_is_fine_but_a_continent_is_not(dispatcher_api):
    huge = [[-80.0, -20.0], [-60.0, -20.0], [-60.0, -10.0], [-80.0, -10.0], [-80.0, -20.0]]
    response = dispatcher_api.post(URL, body(geometry=polygon(huge)), format="json")
    assert geometry_errors(response) == ["A geofence spans at most 5.0 degrees each way."]


def test_route_corridors_cannot_be_drawn_by_hand(dispatcher_api):
    response = dispatcher_api.post(URL, body(kind="route_corridor"), format="json")
    assert response.status_code == 400
    assert "kind" in response.json()["error"]["details"]["fields"]


# --- Reading, updating, deactivating ---------------------------------------------------------------


def test_the_list_filters_by_kind_and_state_at_a_constant_query_count(
    dispatcher_api, zone, django_assert_max_num_queries
):
    geofences.geofence_create(name="Market", kind="forbidden", geometry=polygon(SQUARE))
    geofences.corridor_replace(assignment_id=9, route_id=3, line=NORTH_LINE)
    geofences.geofence_deactivate(geofence=zone)
    with django_assert_max_num_queries(6):
        everything = dispatcher_api.get(URL).json()
    assert [g["name"] for g in everything["results"]] == [
        "Cercado",
        "Market",
        "Run #9 route corridor",
    ]
    assert [
        g["name"] for g in dispatcher_api.get(URL, {"kind": "forbidden"}).json()["results"]
    ] == ["Market"]
    active = dispatcher_api.get(URL, {"active": "true", "ordering": "-name"}).json()["results"]
    assert [g["name"] for g in active] == ["Run #9 route corridor", "Market"]
    assert dispatcher_api.get(URL, {"search": "cerc"}).json()["count"] == 1
    assert dispatcher_api.get(URL, {"active": "maybe"}).status_code == 400


def test_a_zone_is_redrawn_and_renamed(dispatcher_api, zone):
    smaller = [[-71.539, -16.399], [-71.535, -16.399], [-71.535, -16.398], [-71.539, -16.398]]
    response = dispatcher_api.patch(
        f"{URL}{zone.pk}",
        {"name": "Cercado norte", "geometry": polygon([*smaller, smaller[0]])},
        format="json",
    )
    assert response.status_code == 200, response.content
    stored = Geofence.objects.get(pk=zone.pk)
    assert stored.name == "Cercado norte"
    assert shape(stored.geometry).area < shape(zone.geometry).area
    assert stored.updated_at > zone.updated_at


def test_a_redrawing_is_validated_too(dispatcher_api, zone):
    response = dispatcher_api.put(
        f"{URL}{zone.pk}", body(geometry=polygon([*SQUARE[:-1], [0, 0]])), format="json"
    )
    assert geometry_errors(response)
    assert Geofence.objects.get(pk=zone.pk).geometry == zone.geometry


def test_a_put_leaves_out_active_and_keeps_it(dispatcher_api, zone):
    geofences.geofence_deactivate(geofence=zone)
    response = dispatcher_api.put(f"{URL}{zone.pk}", body(name="Cercado"), format="json")
    assert response.status_code == 200
    assert response.json()["active"] is False


def test_a_corridor_keeps_the_outline_of_its_route(dispatcher_api):
    corridor = geofences.corridor_replace(assignment_id=9, route_id=3, line=NORTH_LINE)
    response = dispatcher_api.patch(
        f"{URL}{corridor.pk}", {"geometry": polygon(SQUARE)}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "geofence_managed"
    response = dispatcher_api.patch(f"{URL}{corridor.pk}", {"kind": "forbidden"}, format="json")
    assert response.status_code == 409
    # Its name and active flag are the staff's; a full update may send the rest back.
    current = dispatcher_api.get(f"{URL}{corridor.pk}").json()
    response = dispatcher_api.put(
        f"{URL}{corridor.pk}",
        {**current, "name": "Run 9 (detour allowed)", "active": False},
        format="json",
    )
    assert response.status_code == 200, response.content
    stored = Geofence.objects.get(pk=corridor.pk)
    assert (stored.name, stored.active, stored.geometry) == (
        "Run 9 (detour allowed)",
        False,
        corridor.geometry,
    )


def test_delete_deactivates_and_keeps_the_geofence(dispatcher_api, zone):
    response = dispatcher_api.delete(f"{URL}{zone.pk}")
    assert response.status_code == 204
    assert dispatcher_api.get(f"{URL}{zone.pk}").json()["active"] is False
    assert dispatcher_api.delete(f"{URL}{zone.pk}").status_code == 204  # already inactive: the same


def test_an_unknown_geofence_is_404(dispatcher_api):
    assert dispatcher_api.get(f"{URL}{'0' * 24}").status_code == 404
    assert dispatcher_api.get(f"{URL}{'0' * 24}/events").status_code == 404
    assert dispatcher_api.delete(f"{URL}{'0' * 24}").status_code == 404


# --- Containment ---------------------------------------------------------------------------------


def containing(client, lat, lng, **extra) -> list[str]:
    response = client.get(f"{URL}containing", {"lat": lat, "lng": lng, **extra})
    assert response.status_code == 200, response.content
    return [g["name"] for g in response.json()["results"]]


def test_containment_counts_the_border_and_vertices_as_inside(dispatcher_api, zone):
    assert containing(dispatcher_api, -16.3985, -71.5370) == ["Cercado"]  # well inside
    assert containing(dispatcher_api, -16.4000, -71.5370) == ["Cercado"]  # on the southern edge
    assert containing(dispatcher_api, -16.3970, -71.5340) == ["Cercado"]  # on a corner
    assert containing(dispatcher_api, -16.40001, -71.5370) == []  # about a metre south of the edge
    assert containing(dispatcher_api, -16.3985, -71.53399) == []  # about a metre east


def test_containment_skips_inactive_zones_and_filters_by_kind(dispatcher_api, zone):
    geofences.geofence_create(name="Market", kind="forbidden", geometry=polygon(SQUARE))
    assert containing(dispatcher_api, -16.3985, -71.5370) == ["Cercado", "Market"]
    assert containing(dispatcher_api, -16.3985, -71.5370, kind="forbidden") == ["Market"]
    geofences.geofence_deactivate(geofence=zone)
    assert containing(dispatcher_api, -16.3985, -71.5370) == ["Market"]


def test_containment_needs_a_point_in_range(dispatcher_api):
    response = dispatcher_api.get(f"{URL}containing", {"lat": 91, "lng": -71.5})
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]["fields"]) == {"lat"}
    assert dispatcher_api.get(f"{URL}containing", {"lat": -16.4}).status_code == 400


# --- Events --------------------------------------------------------------------------------------


def test_a_geofences_events_newest_first_filtered_by_type(dispatcher_api, zone):
    t0 = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
    inside = {"lat": -16.3985, "lng": -71.5370, "accuracy_m": 5}
    outside = {"lat": -16.3950, "lng": -71.5370, "accuracy_m": 5}
    fixes = [inside] + [outside] * 3 + [inside]
    events.process_fixes(
        assignment_id=4,
        driver_id=8,
        fixes=[
            fix | {"recorded_at": t0 + timedelta(seconds=10 * i)} for i, fix in enumerate(fixes)
        ],
    )
    response = dispatcher_api.get(f"{URL}{zone.pk}/events")
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 3
    assert [(e["type"], e["at"]) for e in data["results"]] == [
        ("enter", "2025-03-03T15:00:40Z"),
        ("exit", "2025-03-03T15:00:10Z"),
        ("enter", "2025-03-03T15:00:00Z"),
    ]
    first = data["results"][-1]
    assert first | {"id": None} == {
        "id": None,
        "geofence_id": str(zone.pk),
        "geofence_kind": "delivery_zone",
        "driver_id": 8,
        "assignment_id": 4,
        "type": "enter",
        "at": "2025-03-03T15:00:00Z",
        "confirmed_at": "2025-03-03T15:00:00Z",
        "lat": -16.3985,
        "lng": -71.537,
        "incident_id": None,
    }
    exits = dispatcher_api.get(f"{URL}{zone.pk}/events", {"type": "exit", "ordering": "at"}).json()
    assert [e["confirmed_at"] for e in exits["results"]] == ["2025-03-03T15:00:30Z"]
    since = dispatcher_api.get(f"{URL}{zone.pk}/events", {"since": "2025-03-03T15:00:10Z"}).json()
    assert since["count"] == 2
    assert dispatcher_api.get(f"{URL}{zone.pk}/events", {"driver_id": 9}).json()["count"] == 0


# --- Access --------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["driver", "customer"])
def test_drivers_and_customers_may_not_read_or_draw_geofences(client_for, zone, role):
    client = client_for(UserFactory(role_name=role))
    for response in (
        client.get(URL),
        client.get(f"{URL}{zone.pk}"),
        client.get(f"{URL}containing", {"lat": -16.3985, "lng": -71.537}),
        client.get(f"{URL}{zone.pk}/events"),
        client.post(URL, body(), format="json"),
        client.delete(f"{URL}{zone.pk}"),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"


def test_drivers_stay_out_even_if_their_role_is_granted_geofences(zone, driver_api):
    # Zones and other runs' corridors are staff's, whatever the driver role is granted.
    role = Role.objects.get(name="driver")
    services.role_set_permissions(
        role=role, permissions=[*role.permission_codes(), "geofences:read"], by=None
    )
    assert driver_api.get(URL).status_code == 403
    assert driver_api.get(f"{URL}{zone.pk}").status_code == 403


def test_staff_without_geofences_write_may_read_but_not_draw(client_for, zone):
    role = RoleFactory(grants=["geofences:read"])
    client = client_for(UserFactory(role=role))
    assert client.get(URL).status_code == 200
    assert client.post(URL, body(), format="json").status_code == 403
    assert client.delete(f"{URL}{zone.pk}").status_code == 403


# --- Demo zones ----------------------------------------------------------------------------------


def test_the_demo_zones_hold_their_districts_addresses_and_are_seeded_once():
    demo.seed_zones()
    demo.seed_zones()
    zones = Geofence.objects(kind__in=["delivery_zone", "forbidden"])
    assert zones.count() == 5
    assert all(shape(z.geometry).is_valid for z in zones)
    # The orders demo's addresses, by the district it gives them.
    for district, lat, lng in [
        ("Cercado", -16.3955, -71.5358),
        ("Yanahuara", -16.3891, -71.5456),
        ("Cayma", -16.3774, -71.5489),
        ("José Luis Bustamante y Rivero", -16.4210, -71.5217),
    ]:
        found = geofences.geofences_containing(lat=lat, lng=lng, kind="delivery_zone")
        assert [z.name for z in found] == [f"Delivery zone {district}"]
    [market] = geofences.geofences_containing(lat=-16.4029, lng=-71.5330, kind="forbidden")
    assert market.name == demo.FORBIDDEN_ZONE


def test_reseeding_with_reset_restores_and_reactivates_the_demo_zones():
    [*_, market] = demo.seed_zones()
    geofences.geofence_update(geofence=market, geometry=polygon(SQUARE), active=False)
    demo.seed_zones()
    assert not Geofence.objects.get(pk=market.pk).active
    demo.seed_zones(reset=True)
    restored = Geofence.objects.get(pk=market.pk)
    assert restored.active
    assert shape(restored.geometry).equals(shape(polygon(demo.FORBIDDEN_RING)))


def test_a_longitude_of_401_digits_is_refused_not_a_server_error(dispatcher_api):
    huge = int("1" + "0" * 400)
    geometry = polygon([[huge, 0], [0, 1], [1, 1], [huge, 0]])
    [message] = geometry_errors(dispatcher_api.post(URL, body(geometry=geometry), format="json"))
    assert message == f"Ring 0, position 0: longitude {huge} is outside -180..180."

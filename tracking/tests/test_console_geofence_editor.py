"""The console's zone editor, /console/geofences/new/ and /console/geofences/<id>/edit/:
a zone saved from the form is the API's (`GET /api/v1/geofences/`); every refusal the API
gives for the same input is a message on the page, with nothing stored, the refused outline
on the map and, for an invalid polygon, a marker where it fails; route corridors are shown,
not edited; `geofences:write` for every change."""

import html
import json
import re

import pytest
from django.test import Client

from identity.tests.factories import RoleFactory, UserFactory
from rappi.testing.console import console_client
from tracking import geofences
from tracking.documents import Geofence

pytestmark = pytest.mark.django_db

NEW = "/console/geofences/new/"
API = "/api/v1/geofences/"
SQUARE = [
    [-71.5400, -16.4000],
    [-71.5340, -16.4000],
    [-71.5340, -16.3970],
    [-71.5400, -16.3970],
    [-71.5400, -16.4000],
]
# Two triangles touching at (-71.535, -16.395): a bow-tie.
BOWTIE = [[-71.54, -16.40], [-71.53, -16.39], [-71.53, -16.40], [-71.54, -16.39], [-71.54, -16.40]]
LINE = {"type": "LineString", "coordinates": [[-71.5369, -16.4088], [-71.5369, -16.3988]]}


def polygon(*rings) -> dict:
    return {"type": "Polygon", "coordinates": [list(ring) for ring in rings]}


def form(**overrides) -> dict:
    """What the editor's form posts: the outline as the textarea's text, the box ticked."""
    data = {
        "name": "Cercado",
        "kind": "delivery_zone",
        "tolerance_m": "",
        "active": "on",
        "geometry": json.dumps(polygon(SQUARE)),
    }
    return {k: v for k, v in (data | overrides).items() if v is not None}


def errors(response) -> list[str]:
    page = response.content.decode()
    found = re.findall(r'<p class="message message-error">(.*?)</p>', page, re.S)
    return [html.unescape(message) for message in found]


def successes(response) -> list[str]:
    page = response.content.decode()
    found = re.findall(r'<p class="message message-success">(.*?)</p>', page, re.S)
    return [html.unescape(message) for message in found]


def scene(response) -> dict:
    page = response.content.decode()
    found = re.search(r'data-map-scene="geofence-map" data-scene="([^"]*)"', page)
    assert found is not None, "no geofence map on the page"
    return json.loads(html.unescape(found[1]))


def api_names(dispatcher_api) -> list[str]:
    response = dispatcher_api.get(API)
    assert response.status_code == 200
    return [row["name"] for row in response.json()["results"]]


def zone(name="Cercado", kind="delivery_zone", **fields):
    return geofences.geofence_create(name=name, kind=kind, geometry=polygon(SQUARE), **fields)


# --- Drawing a new zone ------------------------------------------------------------------------


def test_the_editor_shows_the_form_the_map_and_geoman(console):
    zone("San Camilo", kind="forbidden")
    geofences.corridor_replace(assignment_id=7, route_id=70, line=LINE)
    response = console.get(NEW)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'data-geofence-editor="geofence-map"' in page
    assert 'method="post"' in page
    assert "csrfmiddlewaretoken" in page
    assert 'name="geometry"' in page
    assert "<textarea" in page
    # Geoman after the map's own scripts; no inline script or style.
    assert page.index("console/map.js") < page.index("leaflet-geoman.min.js")
    assert page.index("leaflet-geoman.min.js") < page.index("tracking/geofence-editor.js")
    assert "<script>" not in page
    assert "style=" not in page
    # Corridors are routing's: not a kind the form offers.
    kinds = re.findall(r'<option value="([a-z_]+)"', page)
    assert kinds == ["delivery_zone", "forbidden", "vehicle_restriction"]
    # The other zones and the active corridors, for reference (no links off the editor).
    drawn = scene(response)["zones"]
    assert [(z["kind"], z["url"]) for z in drawn] == [
        ("forbidden", None),
        ("route_corridor", None),
    ]


def test_a_zone_saved_from_the_form_is_in_the_api(console, dispatcher_api):
    response = console.post(NEW, form(name="Yanahuara", kind="forbidden", tolerance_m="12.5"))
    stored = Geofence.objects.get(name="Yanahuara")
    assert response.status_code == 302
    assert response["Location"] == f"/console/geofences/{stored.pk}/"
    assert (stored.kind, stored.active, stored.tolerance_m) == ("forbidden", True, 12.5)
    [row] = dispatcher_api.get(API).json()["results"]
    assert row["id"] == str(stored.pk)
    assert row["name"] == "Yanahuara"
    assert row["geometry"]["coordinates"][0][0] == SQUARE[0]
    page = console.get(response["Location"])
    assert successes(page) == ["Zone “Yanahuara” saved."]


def test_an_unticked_box_saves_an_inactive_zone(console, dispatcher_api):
    console.post(NEW, form(active=None))
    assert Geofence.objects.get(name="Cercado").active is False
    assert dispatcher_api.get(API, {"active": "false"}).json()["results"][0]["name"] == "Cercado"


BAD_GEOMETRIES = {
    "bow-tie": json.dumps(polygon(BOWTIE)),
    "unclosed": json.dumps(polygon([*SQUARE[:-1], [-71.5399, -16.4000]])),
    "three positions": json.dumps(polygon([[-71.54, -16.40], [-71.53, -16.40], [-71.54, -16.40]])),
    "longitude": json.dumps(polygon([SQUARE[0], [-181.0, -16.4], *SQUARE[2:]])),
    "latitude": json.dumps(polygon([SQUARE[0], [-71.53, 91.0], *SQUARE[2:]])),
    "malformed position": json.dumps(polygon([SQUARE[0], [-71.53], *SQUARE[2:]])),
    "hole outside": json.dumps(
        polygon(
            SQUARE,
            [[-71.60, -16.50], [-71.59, -16.50], [-71.59, -16.49], [-71.60, -16.49], [-71.60, -16.50]],
        )
    ),
    "a continent": json.dumps(polygon([[-80, -20], [-70, -20], [-70, -10], [-80, -10], [-80, -20]])),
    "a line": json.dumps({"type": "LineString", "coordinates": SQUARE}),
    "no rings": json.dumps({"type": "Polygon", "coordinates": []}),
    "WKT": "POLYGON ((0 0, 1 0, 1 1, 0 0))",
    "empty": "",
}  # fmt: skip


@pytest.mark.parametrize("text", BAD_GEOMETRIES.values(), ids=BAD_GEOMETRIES.keys())
def test_every_refusal_the_api_gives_for_an_outline_is_a_message(console, dispatcher_api, text):
    try:
        geometry = json.loads(text)
    except ValueError:
        geometry = text  # what a client sends that is not JSON: a string
    if text == "":
        geometry = None
    said = dispatcher_api.post(API, {**form(), "geometry": geometry}, format="json")
    assert said.status_code == 400, said.content
    refusals = said.json()["error"]["details"]["fields"]["geometry"]

    response = console.post(NEW, form(geometry=text))
    assert response.status_code == 200  # the form again, not a redirect
    shown = errors(response)
    assert shown, response.content
    for refusal in refusals if text.startswith("{") else []:
        assert f"Outline (GeoJSON Polygon, [longitude, latitude]): {refusal}" in shown
    assert Geofence.objects.count() == 0
    # The form keeps what was sent, for it to be mended.
    assert html.escape(text, quote=False) in response.content.decode().replace("&quot;", '"')


@pytest.mark.parametrize(
    ("field", "value", "label"),
    [
        ("name", "", "Name"),
        ("name", "x" * 121, "Name"),
        ("kind", "route_corridor", "Kind"),
        ("kind", "lake", "Kind"),
        ("tolerance_m", "1001", "Border tolerance (m)"),
        ("tolerance_m", "-1", "Border tolerance (m)"),
        ("tolerance_m", "wide", "Border tolerance (m)"),
    ],
)
def test_every_refusal_of_the_other_fields_is_a_message_too(
    console, dispatcher_api, field, value, label
):
    sent = {**form(), field: value}
    said = dispatcher_api.post(
        API, {**sent, "geometry": polygon(SQUARE), "active": True}, format="json"
    )
    assert said.status_code == 400
    [refusal] = said.json()["error"]["details"]["fields"][field]
    response = console.post(NEW, form(**{field: value}))
    assert response.status_code == 200
    assert errors(response) == [f"{label}: {refusal}"]
    assert Geofence.objects.count() == 0


def test_a_bowtie_is_drawn_refused_with_a_marker_where_it_crosses(console):
    response = console.post(NEW, form(kind="forbidden", geometry=json.dumps(polygon(BOWTIE))))
    [message] = errors(response)
    assert message == (
        "Outline (GeoJSON Polygon, [longitude, latitude]): "
        "The outline crosses itself near -16.39500, -71.53500."
    )
    drawn = scene(response)
    [refused] = [z for z in drawn["zones"] if z.get("refused")]
    assert refused["geometry"]["coordinates"] == [BOWTIE]
    [marker] = drawn["markers"]
    assert marker["kind"] == "error"
    assert marker["lat"] == pytest.approx(-16.395)
    assert marker["lng"] == pytest.approx(-71.535)
    assert marker["text"] == "Crosses itself here"
    assert 'class="map-swatch map-swatch--refused"' in response.content.decode()


def test_an_unclosed_outline_is_drawn_refused_without_a_marker(console):
    response = console.post(NEW, form(geometry=json.dumps(polygon(SQUARE[:-1]))))
    drawn = scene(response)
    assert [z for z in drawn["zones"] if z.get("refused")]
    assert "markers" not in drawn


def test_an_outline_that_cannot_be_drawn_is_only_a_message(console):
    response = console.post(NEW, form(geometry="not json"))
    assert errors(response)
    assert "zones" not in scene(response)


# --- Editing a zone ----------------------------------------------------------------------------


def test_editing_loads_the_zone_into_the_form_and_leaves_it_off_the_reference_map(console):
    fence = zone("Cercado", tolerance_m=15)
    other = zone("Otro", kind="forbidden")
    response = console.get(f"/console/geofences/{fence.pk}/edit/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'value="Cercado"' in page
    assert 'value="15"' in page
    assert "checked" in page
    assert json.loads(response.context["form"]["geometry"].value()) == fence.geometry
    assert [z["label"] for z in scene(response)["zones"]] == [f"{other.name} · Forbidden area"]


def test_a_zone_is_renamed_redrawn_and_deactivated_through_its_editor(console, dispatcher_api):
    fence = zone("Cercado")
    moved = [[lng + 0.01, lat] for lng, lat in SQUARE]
    response = console.post(
        f"/console/geofences/{fence.pk}/edit/",
        form(name="Cercado Norte", kind="vehicle_restriction", active=None,
             tolerance_m="20", geometry=json.dumps(polygon(moved))),
    )  # fmt: skip
    assert response.status_code == 302
    assert response["Location"] == f"/console/geofences/{fence.pk}/"
    [row] = dispatcher_api.get(API).json()["results"]
    assert (row["name"], row["kind"], row["active"], row["tolerance_m"]) == (
        "Cercado Norte",
        "vehicle_restriction",
        False,
        20.0,
    )
    assert sorted(row["geometry"]["coordinates"][0]) == sorted(moved)
    assert successes(console.get(response["Location"])) == ["Zone “Cercado Norte” saved."]


def test_a_refused_edit_changes_nothing_and_shows_why(console):
    fence = zone("Cercado")
    response = console.post(
        f"/console/geofences/{fence.pk}/edit/",
        form(name="Roto", geometry=json.dumps(polygon(BOWTIE))),
    )
    assert response.status_code == 200
    assert "crosses itself near -16.39500, -71.53500" in errors(response)[0]
    assert [m["kind"] for m in scene(response)["markers"]] == ["error"]
    stored = Geofence.objects.get(pk=fence.pk)
    assert stored.name == "Cercado"
    assert stored.geometry == fence.geometry
    assert "Edit “Cercado”" in response.content.decode()  # the stored name, not the refused


def test_deactivating_keeps_the_zone_and_says_so(console, dispatcher_api):
    fence = zone("Cercado")
    response = console.post(f"/console/geofences/{fence.pk}/deactivate/")
    assert response.status_code == 302
    assert response["Location"] == f"/console/geofences/{fence.pk}/"
    assert dispatcher_api.get(API).json()["results"][0]["active"] is False
    page = console.get(response["Location"])
    assert successes(page) == ["Zone “Cercado” deactivated: it no longer counts."]
    assert "Deactivate" not in page.content.decode()  # nothing left to deactivate


def test_a_corridor_cannot_be_edited(console):
    corridor = geofences.corridor_replace(assignment_id=7, route_id=70, line=LINE)
    path = f"/console/geofences/{corridor.pk}/edit/"
    page = console.get(path)
    assert page.status_code == 200
    assert "Managed by routing" in page.content.decode()
    assert 'id="geofence-form"' not in page.content.decode()
    assert [z["kind"] for z in scene(page)["zones"]] == ["route_corridor"]
    detail = console.get(f"/console/geofences/{corridor.pk}/").content.decode()
    assert path not in detail
    assert "/deactivate/" not in detail

    response = console.post(path, form(name="Mine now", geometry=json.dumps(polygon(SQUARE))))
    assert response.status_code == 200
    assert errors(response) == [str(geofences.GeofenceManagedError.default_message)]
    stored = Geofence.objects.get(pk=corridor.pk)
    assert stored.name == corridor.name
    assert stored.geometry == corridor.geometry


@pytest.mark.parametrize("action", ["edit", "deactivate"])
def test_an_unknown_zone_is_a_404(console, action):
    assert console.post(f"/console/geofences/{'0' * 24}/{action}/").status_code == 404


# --- Who may change zones ----------------------------------------------------------------------


@pytest.fixture
def reader():
    return console_client(UserFactory(role=RoleFactory(grants=["geofences:read", "tracking:read"])))


def test_a_role_without_write_sees_the_maps_but_no_editor(reader):
    fence = zone("Cercado")
    listing = reader.get("/console/geofences/")
    assert listing.status_code == 200
    assert 'id="geofence-map"' in listing.content.decode()
    assert NEW not in listing.content.decode()
    detail = reader.get(f"/console/geofences/{fence.pk}/")
    assert detail.status_code == 200
    assert 'id="geofence-map"' in detail.content.decode()
    assert "/edit/" not in detail.content.decode()
    assert "/deactivate/" not in detail.content.decode()


def test_a_role_without_write_gets_403_on_every_change(reader):
    fence = zone("Cercado")
    for path in (NEW, f"/console/geofences/{fence.pk}/edit/"):
        assert reader.get(path).status_code == 403
        assert reader.post(path, form(name="Nope")).status_code == 403
    assert reader.post(f"/console/geofences/{fence.pk}/deactivate/").status_code == 403
    stored = Geofence.objects.get(pk=fence.pk)
    assert (stored.name, stored.active, Geofence.objects.count()) == ("Cercado", True, 1)


def test_deactivating_takes_the_delete_grant_as_the_apis_delete_does():
    fence = zone("Cercado")
    editor = console_client(
        UserFactory(role=RoleFactory(grants=["geofences:read", "geofences:write"]))
    )
    detail = editor.get(f"/console/geofences/{fence.pk}/").content.decode()
    assert "/edit/" in detail
    assert "/deactivate/" not in detail
    assert editor.post(f"/console/geofences/{fence.pk}/deactivate/").status_code == 403
    assert Geofence.objects.get(pk=fence.pk).active is True

    remover = console_client(
        UserFactory(role=RoleFactory(grants=["geofences:read", "geofences:delete"]))
    )
    detail = remover.get(f"/console/geofences/{fence.pk}/").content.decode()
    assert "/edit/" not in detail
    assert "/deactivate/" in detail
    assert remover.post(f"/console/geofences/{fence.pk}/deactivate/").status_code == 302
    assert Geofence.objects.get(pk=fence.pk).active is False


def test_the_forms_need_their_csrf_token(dispatcher):
    client = Client(enforce_csrf_checks=True)
    client.force_login(dispatcher)
    assert client.post(NEW, form()).status_code == 403
    assert Geofence.objects.count() == 0


# --- Input that must be refused, never a server error --------------------------------------


@pytest.mark.parametrize(
    ("geometry", "refusal"),
    [
        ("[" * 100_000, "Nested deeper than 32 levels."),
        ('{"type": "Polygon", "coordinates": ' + "[" * 40 + "]" * 40 + "}", "Nested deeper than"),
        (
            '{"type": "Polygon", "coordinates": [[[1'
            + "0" * 400
            + ", 0], [0, 1], [1, 1], [0, 0]]]}",
            "Ring 0, position 0: longitude 1" + "0" * 400 + " is outside -180..180.",
        ),
    ],
    ids=["a-deep-array", "deep-coordinates", "a-401-digit-longitude"],
)
def test_an_outline_nested_too_deep_or_with_a_huge_number_is_a_message(console, geometry, refusal):
    response = console.post(NEW, form(geometry=geometry))
    assert response.status_code == 200
    [message] = errors(response)
    assert refusal in message
    assert Geofence.objects.count() == 0


def test_an_empty_post_is_the_form_with_its_refusals(console):
    response = console.post(NEW, {})
    assert response.status_code == 200
    assert any("Name" in message for message in errors(response))
    assert Geofence.objects.count() == 0


def test_editing_keeps_the_tolerance_to_the_last_digit(console):
    fence = zone("Cercado", tolerance_m=12.3456789)
    page = console.get(f"/console/geofences/{fence.pk}/edit/").content.decode()
    assert 'value="12.3456789"' in page

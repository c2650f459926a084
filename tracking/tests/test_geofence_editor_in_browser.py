"""The zone editor in the system Chromium with every tile refused (a closed network), under
the Content-Security-Policy, on a laptop and a tablet, in Spanish and English: a polygon
drawn with Leaflet-Geoman's tool and saved is a geofence; a bow-tie is refused with its
outline drawn as refused and a marker where it crosses itself; an existing zone opens in
edit mode and its name and state are saved."""

import re

import pytest
from playwright.sync_api import expect

from identity.tests.factories import UserFactory
from rappi.testing.browser import (
    SIZES,
    assert_no_sideways_scroll,
    open_console,
    screenshot,
)
from tracking import geofences
from tracking.documents import Geofence

pytestmark = pytest.mark.usefixtures("live_db")

PASSWORD = "Sup3r-Secreta-2026"
LAT, LNG = -16.3989, -71.5369  # Arequipa's main square
LINE = {"type": "LineString", "coordinates": [[-71.5369, -16.4088], [-71.5369, -16.3988]]}
NEIGHBOUR = [
    [-71.5330, -16.4010],
    [-71.5290, -16.4010],
    [-71.5290, -16.3970],
    [-71.5330, -16.3970],
    [-71.5330, -16.4010],
]


def _reference_zones():
    """A zone and a corridor drawn around the editor's map, for reference."""
    geofences.geofence_create(
        name="Vecina", kind="forbidden", geometry={"type": "Polygon", "coordinates": [NEIGHBOUR]}
    )
    geofences.corridor_replace(assignment_id=7, route_id=70, line=LINE)


def _open(browser, live_server, size="laptop", language="en"):
    UserFactory(email="lucia@rappi.pe", password=PASSWORD, role_name="dispatcher")
    return open_console(
        browser, live_server, "lucia@rappi.pe", PASSWORD, size=size, language=language
    )


def _editor_ready(page):
    expect(page.locator("form[data-editor-ready=true]")).to_have_count(1)
    expect(page.locator("#geofence-map .leaflet-pm-toolbar")).not_to_have_count(0)


def _click_at(page, lat, lng):
    """Click the map where (lat, lng) is."""
    point = page.evaluate(
        "([lat, lng]) => { const p = RappiMap.get('geofence-map').map"
        ".latLngToContainerPoint([lat, lng]); return [p.x, p.y]; }",
        [lat, lng],
    )
    page.locator("#geofence-map").click(position={"x": point[0], "y": point[1]}, force=True)
    page.wait_for_timeout(350)  # not a double click


def _draw(page, corners):
    """Geoman's polygon tool: its toolbar button, a click per corner, then the first again.
    The corners are kept right of and below the map's centre, away from the toolbar and
    the Finish / Cancel buttons it opens beside itself."""
    page.evaluate(
        "([lat, lng]) => RappiMap.get('geofence-map').map.setView([lat, lng], 16, {animate: false})",
        [LAT + 0.001, LNG - 0.003],
    )
    page.locator("#geofence-map .leaflet-pm-icon-polygon").click()
    for lat, lng in corners:
        _click_at(page, lat, lng)
    _click_at(page, *corners[0])


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", ["es", "en"])
def test_a_polygon_drawn_with_geoman_and_saved_is_a_geofence(browser, live_server, language, size):
    _reference_zones()
    context, page, violations, refused = _open(browser, live_server, size, language)
    page.locator("nav.nav a[href='/console/geofences/']").click()
    page.locator("a[href='/console/geofences/new/']").click()
    _editor_ready(page)
    # The others are there for reference, translucent corridors included; not editable.
    expect(page.locator("#geofence-map path.map-zone--forbidden")).to_have_count(1)
    expect(page.locator("#geofence-map path.map-zone--route_corridor")).to_have_count(1)

    square = [(LAT - 0.002, LNG - 0.002), (LAT - 0.002, LNG + 0.002),
              (LAT + 0.002, LNG + 0.002), (LAT + 0.002, LNG - 0.002)]  # fmt: skip
    _draw(page, square)
    expect(page.locator("#geofence-map path.map-zone--editing")).to_have_count(1)
    geometry = page.locator("#id_geometry")
    expect(geometry).to_have_value(re.compile(r'^\{"type":"Polygon","coordinates":\[\[\['))
    page.locator("#id_name").fill("Plaza de Armas")
    page.locator("#id_kind").select_option("vehicle_restriction")
    page.locator("#id_tolerance_m").fill("10")
    assert_no_sideways_scroll(page)
    screenshot(page, f"console-geofence-editor-{language}-{size}")
    page.locator("#geofence-form button[type=submit]").click()

    expect(page.locator(".message-success")).to_contain_text("Plaza de Armas")
    expect(page.locator("h1")).to_have_text("Plaza de Armas")
    stored = Geofence.objects.get(name="Plaza de Armas")
    assert (stored.kind, stored.active, stored.tolerance_m) == ("vehicle_restriction", True, 10.0)
    [ring] = stored.geometry["coordinates"]
    assert len(ring) == 5
    assert ring[0] == ring[-1]
    for lat, lng in square:  # every corner where it was clicked, within a few metres
        assert min(abs(p[1] - lat) + abs(p[0] - lng) for p in ring) < 0.0001
    expect(page.locator("#geofence-map path.map-zone--vehicle_restriction")).to_have_count(1)
    assert any("tile.openstreetmap.org" in url for url in refused)
    assert violations == []
    context.close()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", ["es", "en"])
def test_a_bowtie_is_refused_and_shown_where_it_crosses(browser, live_server, language, size):
    context, page, violations, _refused = _open(browser, live_server, size, language)
    page.goto(f"{live_server.url}/console/geofences/new/")
    _editor_ready(page)
    bowtie = [(LAT - 0.002, LNG - 0.002), (LAT + 0.002, LNG + 0.002),
              (LAT - 0.002, LNG + 0.002), (LAT + 0.002, LNG - 0.002)]  # fmt: skip
    _draw(page, bowtie)
    page.locator("#id_name").fill("Lazo")
    page.locator("#geofence-form button[type=submit]").click()

    expect(page.locator(".message-error")).to_contain_text(
        {"es": "se cruza consigo mismo cerca de", "en": "crosses itself near"}[language]
    )
    expect(page.locator("#geofence-map path.map-zone.is-refused")).to_have_count(1)
    marker = page.locator("#geofence-map .map-marker--error")
    expect(marker).to_have_count(1)
    # The marker sits where the two sides cross: the middle of the bow-tie.
    offset = page.evaluate(
        "([lat, lng]) => { const m = document.querySelector('#geofence-map .map-marker--error"
        " .map-marker__dot').getBoundingClientRect(); const p = RappiMap.get('geofence-map')"
        ".map.latLngToContainerPoint([lat, lng]); const c = document.querySelector("
        "'#geofence-map').getBoundingClientRect(); return [m.x + m.width / 2 - c.x - p.x,"
        " m.y + m.height / 2 - c.y - p.y]; }",
        [LAT, LNG],
    )
    assert abs(offset[0]) < 6, offset
    assert abs(offset[1]) < 6, offset
    # The refused outline is back in the form and on the map to be mended.
    expect(page.locator("#id_name")).to_have_value("Lazo")
    expect(page.locator("#geofence-map path.map-zone--editing")).to_have_count(1)
    assert Geofence.objects.count() == 0
    assert_no_sideways_scroll(page)
    screenshot(page, f"console-geofence-refused-{language}-{size}")
    assert violations == []
    context.close()


def test_an_existing_zone_opens_in_edit_mode_and_its_name_and_state_are_saved(browser, live_server):
    _reference_zones()
    zone = geofences.geofence_create(
        name="Cercado",
        kind="delivery_zone",
        geometry={
            "type": "Polygon",
            "coordinates": [[[lng - 0.006, lat] for lng, lat in NEIGHBOUR]],
        },
    )
    context, page, violations, _refused = _open(browser, live_server)
    page.goto(f"{live_server.url}/console/geofences/{zone.pk}/")
    page.locator(f"a[href='/console/geofences/{zone.pk}/edit/']").click()
    _editor_ready(page)
    # Its outline is the one being edited (Geoman's corner handles on it), not a reference.
    expect(page.locator("#geofence-map path.map-zone--editing")).to_have_count(1)
    expect(page.locator("#geofence-map .marker-icon")).not_to_have_count(0)
    expect(
        page.locator("#geofence-map path.map-zone--delivery_zone:not(.map-zone--editing)")
    ).to_have_count(0)
    screenshot(page, "console-geofence-edit")

    page.locator("#id_name").fill("Cercado Histórico")
    page.locator("#id_active").uncheck()
    page.locator("#geofence-form button[type=submit]").click()
    expect(page.locator(".message-success")).to_contain_text("Cercado Histórico")
    stored = Geofence.objects.get(pk=zone.pk)
    assert (stored.name, stored.active) == ("Cercado Histórico", False)
    assert stored.geometry == zone.geometry  # the outline untouched
    expect(page.locator("#geofence-map path.map-zone.is-inactive")).to_have_count(1)
    assert violations == []
    context.close()


def test_dragging_a_corner_in_edit_mode_redraws_the_zone(browser, live_server):
    zone = geofences.geofence_create(
        name="Cercado",
        kind="delivery_zone",
        geometry={"type": "Polygon", "coordinates": [NEIGHBOUR]},
    )
    context, page, violations, _refused = _open(browser, live_server)
    page.goto(f"{live_server.url}/console/geofences/{zone.pk}/edit/")
    _editor_ready(page)
    before = page.locator("#id_geometry").input_value()
    handle = page.locator("#geofence-map .marker-icon:not(.marker-icon-middle)").first
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 40, box["y"] + 30, steps=5)
    page.mouse.up()
    expect(page.locator("#id_geometry")).not_to_have_value(before)
    page.locator("#geofence-form button[type=submit]").click()
    expect(page.locator(".message-success")).to_have_count(1)
    assert Geofence.objects.get(pk=zone.pk).geometry != zone.geometry
    assert violations == []
    context.close()

"""The geofence pages in the system Chromium with every tile refused (a closed network),
under the Content-Security-Policy, on a laptop and a tablet, in Spanish (the console's
default) and English: zones by kind on a map and in a list with corridors apart, then a
zone on a small map with its enter/exit events. The editor: test_geofence_editor_in_browser.py."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from fleet.tests.factories import driver_user
from identity.tests.factories import UserFactory
from rappi.testing.browser import (
    SIZES,
    assert_no_sideways_scroll,
    console_sign_in,
    offline,
    screenshot,
    watch_csp,
)
from tracking import demo, geofences
from tracking.tests.factories import GeofenceEventFactory

pytestmark = pytest.mark.usefixtures("live_db")

PASSWORD = "Sup3r-Secreta-2026"
LANGUAGES = ("es", "en")
LINE = {"type": "LineString", "coordinates": [[-71.5369, -16.4088], [-71.5369, -16.3988]]}


def _zones():
    """The Arequipa demo's zones, two runs' corridors, and a driver's passes through the
    forbidden zone."""
    demo.seed_geofences()
    zones = demo.seed_zones()
    forbidden = next(zone for zone in zones if zone.kind == geofences.FORBIDDEN)
    geofences.geofence_deactivate(geofence=zones[1])  # drawn dashed
    for run in (41, 42):
        geofences.corridor_replace(assignment_id=run, route_id=run, line=LINE)
    _user, driver = driver_user(full_name="Rosa Quispe Mamani")
    now = datetime.now(UTC)
    for minutes, kind, run in ((50, "enter", 41), (44, "exit", 41), (12, "enter", 42)):
        GeofenceEventFactory(
            geofence=forbidden,
            driver_id=driver.pk,
            assignment_id=run,
            type=kind,
            at=now - timedelta(minutes=minutes),
            location={"type": "Point", "coordinates": [-71.533, -16.403]},
        )
    return forbidden


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_dispatcher_follows_a_zones_events(browser, live_server, language, size):
    UserFactory(email="lucia@rappi.pe", password=PASSWORD, role_name="dispatcher")
    forbidden = _zones()
    context = browser.new_context(viewport=SIZES[size])
    refused = offline(context, live_server)
    page = context.new_page()
    violations = watch_csp(page)
    console_sign_in(page, live_server, "lucia@rappi.pe", PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", "es")
    if language != "es":
        page.locator(f"form.language button[value={language}]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)

    page.locator("nav.nav a[href='/console/geofences/']").click()
    expect(page.locator(".map-placeholder")).to_have_count(0)
    # Every zone and corridor listed is drawn, coloured by kind; corridors translucent.
    expect(page.locator("#geofence-map path.map-zone")).to_have_count(8)
    expect(page.locator("#geofence-map path.map-zone--forbidden")).to_have_count(1)
    expect(page.locator("#geofence-map path.map-zone--route_corridor")).to_have_count(2)
    expect(page.locator("#geofence-map path.map-zone.is-inactive")).to_have_count(1)
    expect(page.locator(".map-legend .map-swatch--inactive")).to_have_count(1)
    # The forbidden zone's three passes are this morning's: counted on its row.
    expect(page.locator(f"a[href='/console/geofences/{forbidden.pk}/#events']")).to_have_count(1)
    zones = page.locator("section[aria-labelledby=zones] tbody tr")
    expect(zones).to_have_count(6)
    expect(page.locator("section[aria-labelledby=zones] .badge-forbidden")).to_have_count(1)
    expect(page.locator("section[aria-labelledby=corridors] tbody tr")).to_have_count(2)
    assert_no_sideways_scroll(page)
    screenshot(page, f"console-geofences-{language}-{size}")

    assert any("tile.openstreetmap.org" in url for url in refused)
    page.locator(f"a[href='/console/geofences/{forbidden.pk}/']").click()
    expect(page.locator("h1")).to_have_text(forbidden.name)
    expect(page.locator("#geofence-map path.map-zone--forbidden")).to_have_count(1)
    events = page.locator("section[aria-labelledby=events] tbody tr")
    expect(events).to_have_count(3)
    expect(events.first).to_contain_text("Rosa Quispe Mamani")
    expect(events.first).to_contain_text("#42")
    assert_no_sideways_scroll(page)
    screenshot(page, f"console-geofence-{language}-{size}")

    page.locator("#id_type").select_option("exit")
    page.locator("form.filters button[type=submit]").click()
    expect(events).to_have_count(1)
    expect(events.first).to_contain_text("#41")
    assert violations == []
    context.close()

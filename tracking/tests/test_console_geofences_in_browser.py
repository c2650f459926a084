"""The geofence pages in the system Chromium, under the Content-Security-Policy, on a
laptop and a tablet, in Spanish (the console's default) and English: zones by kind with
corridors apart, then a zone's enter/exit events."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from fleet.tests.factories import driver_user
from identity.tests.factories import UserFactory
from rappi.testing.browser import SIZES, console_sign_in, screenshot, watch_csp
from tracking import demo, geofences
from tracking.documents import GeofenceEvent

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
    for run in (41, 42):
        geofences.corridor_replace(assignment_id=run, route_id=run, line=LINE)
    _user, driver = driver_user(full_name="Rosa Quispe Mamani")
    now = datetime.now(UTC)
    for minutes, kind, run in ((50, "enter", 41), (44, "exit", 41), (12, "enter", 42)):
        moment = now - timedelta(minutes=minutes)
        GeofenceEvent(
            geofence_id=forbidden.pk,
            geofence_kind=forbidden.kind,
            driver_id=driver.pk,
            assignment_id=run,
            type=kind,
            at=moment,
            confirmed_at=moment,
            location={"type": "Point", "coordinates": [-71.533, -16.403]},
            received_at=moment,
        ).save()
    return forbidden


def _no_sideways_scroll(page) -> None:
    """The page itself never scrolls sideways (wide tables scroll inside their frame)."""
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page is {overflow}px wider than the window"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_a_dispatcher_follows_a_zones_events(browser, live_server, language, size):
    UserFactory(email="lucia@rappi.pe", password=PASSWORD, role_name="dispatcher")
    forbidden = _zones()
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    violations = watch_csp(page)
    console_sign_in(page, live_server, "lucia@rappi.pe", PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", "es")
    if language != "es":
        page.locator(f"form.language button[value={language}]").click()
        expect(page.locator("html")).to_have_attribute("lang", language)

    page.locator("nav.nav a[href='/console/geofences/']").click()
    expect(page.locator(".map-placeholder")).to_be_visible()
    zones = page.locator("section[aria-labelledby=zones] tbody tr")
    expect(zones).to_have_count(6)
    expect(page.locator("section[aria-labelledby=zones] .badge-forbidden")).to_have_count(1)
    expect(page.locator("section[aria-labelledby=corridors] tbody tr")).to_have_count(2)
    _no_sideways_scroll(page)
    screenshot(page, f"console-geofences-{language}-{size}")

    page.locator(f"a[href='/console/geofences/{forbidden.pk}/']").click()
    expect(page.locator("h1")).to_have_text(forbidden.name)
    events = page.locator("section[aria-labelledby=events] tbody tr")
    expect(events).to_have_count(3)
    expect(events.first).to_contain_text("Rosa Quispe Mamani")
    expect(events.first).to_contain_text("#42")
    _no_sideways_scroll(page)
    screenshot(page, f"console-geofence-{language}-{size}")

    page.locator("#id_type").select_option("exit")
    page.locator("form.filters button[type=submit]").click()
    expect(events).to_have_count(1)
    expect(events.first).to_contain_text("#41")
    assert violations == []
    context.close()

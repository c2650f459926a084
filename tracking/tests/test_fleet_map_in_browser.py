"""The fleet map in the system Chromium with every tile refused (a closed network): a
marker per run in progress, the silent one greyed with its age; a new fix moves its
marker on the next refresh without a reload and without losing the dispatcher's zoom;
a click on the map lists the drivers near that point, nearest first. Laptop and tablet,
Spanish and English, under the Content-Security-Policy."""

import re

import pytest
from playwright.sync_api import expect

from identity.tests.factories import UserFactory
from rappi.testing.browser import SIZES, open_console, screenshot
from tracking.tests.factories import LAT, LNG, record_fix, run_in_progress

pytestmark = pytest.mark.usefixtures("live_db")

PASSWORD = "Sup3r-Secreta-2026"


def _fleet():
    staff = UserFactory(email="lucia@rappi.pe", password=PASSWORD, role_name="dispatcher")
    moving = run_in_progress(staff, plate="ABC-123")
    silent = run_in_progress(staff, plate="XYZ-789")
    record_fix(moving["run"], LAT, LNG, seconds_ago=60, heading=90)
    record_fix(silent["run"], LAT + 0.01, LNG + 0.01, seconds_ago=15 * 60)
    return moving, silent


def _open(browser, live_server, size, language):
    _context, page, violations, refused = open_console(
        browser, live_server, "lucia@rappi.pe", PASSWORD, size=size, language=language
    )
    page.locator("nav.nav a[href='/console/fleet/']").click()
    return page, violations, refused


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", ["es", "en"])
def test_the_fleet_map_shows_every_run_and_greys_the_silent_one(
    browser, live_server, language, size
):
    _fleet()
    page, violations, refused = _open(browser, live_server, size, language)
    vehicles = page.locator("#fleet-map .map-marker--vehicle")
    expect(vehicles).to_have_count(2)
    expect(page.locator("#fleet-map .map-marker--vehicle.is-stale")).to_have_count(1)
    stale_caption = page.locator("#fleet-map .is-stale .map-marker__text")
    expect(stale_caption).to_have_text(
        {"es": "XYZ-789 · hace 15 min", "en": "XYZ-789 · 15 min ago"}[language]
    )
    expect(page.locator("#fleet-map .map-marker__heading")).to_have_count(1)
    expect(page.locator(".fleet-runs li")).to_have_count(2)
    expect(page.locator(".fleet-runs li.is-stale")).to_contain_text("XYZ-789")
    assert any("tile.openstreetmap.org" in url for url in refused)
    screenshot(page, f"console-fleet-map-{language}-{size}")
    assert violations == []


def test_a_new_fix_moves_its_marker_without_a_reload_and_keeps_the_view(browser, live_server):
    moving, _silent = _fleet()
    page, violations, _refused = _open(browser, live_server, "laptop", "en")
    # Where the live marker sits, in pixels from the map's centre (the map may be laid
    # out again around it when the list beside it changes).
    offset = (
        "() => { const m = document.querySelector("
        "'#fleet-map .map-marker--vehicle:not(.is-stale) .map-marker__dot');"
        " if (!m) return null; const b = m.getBoundingClientRect();"
        " const c = document.querySelector('#fleet-map').getBoundingClientRect();"
        " return [b.x + b.width / 2 - (c.x + c.width / 2), b.y + b.height / 2 - (c.y + c.height / 2)]; }"
    )
    expect(page.locator("#fleet-map .map-marker--vehicle:not(.is-stale)")).to_have_count(1)
    page.evaluate("window.marked = true")  # gone if the page reloads
    page.evaluate(f"RappiMap.get('fleet-map').map.setView([{LAT}, {LNG}], 14, {{animate: false}})")
    before = page.evaluate(offset)
    # The view is centred on it.
    assert abs(before[0]) < 3
    assert abs(before[1]) < 3

    record_fix(moving["run"], LAT + 0.003, LNG + 0.003, seconds_ago=1)  # ~450 m north-east
    page.wait_for_function(
        f"() => {{ const o = ({offset})(); return o && o[0] > 20; }}", timeout=15_000
    )
    after = page.evaluate(offset)
    # East and north of where it was.
    assert after[0] > 20
    assert after[1] < -20
    assert page.evaluate("window.marked") is True
    assert page.evaluate("RappiMap.get('fleet-map').map.getZoom()") == 14
    screenshot(page, "console-fleet-map-moved")
    assert violations == []


def test_a_click_on_the_map_lists_the_drivers_near_it_nearest_first(browser, live_server):
    _moving, silent = _fleet()
    record_fix(silent["run"], LAT + 0.004, LNG, seconds_ago=30)  # silent no more, ~445 m north
    page, violations, _refused = _open(browser, live_server, "laptop", "en")
    expect(page.locator("#fleet-map .map-marker--vehicle")).to_have_count(2)
    page.evaluate(f"RappiMap.get('fleet-map').map.setView([{LAT}, {LNG}], 15, {{animate: false}})")
    point = page.evaluate(
        "(() => { const p = RappiMap.get('fleet-map').map"
        f".latLngToContainerPoint([{LAT + 0.0005}, {LNG}]); return [p.x, p.y]; }})()"
    )
    page.locator("#fleet-map").click(position={"x": point[0], "y": point[1]}, force=True)
    results = page.locator(".nearby-list li")
    expect(results).to_have_count(2)
    expect(results.nth(0)).to_contain_text("ABC-123")
    expect(results.nth(1)).to_contain_text("XYZ-789")
    expect(page.locator("#fleet-map .map-marker--driver")).to_have_count(2)
    expect(page.locator("#fleet-map path.map-circle")).to_have_count(1)
    assert "lat=" in page.url
    screenshot(page, "console-fleet-map-nearby")
    assert violations == []


def test_a_click_on_a_route_opens_its_run_and_searches_nothing(browser, live_server):
    moving, silent = _fleet()  # both runs drive the same route: either may be on top
    page, violations, _refused = _open(browser, live_server, "laptop", "en")
    expect(page.locator("#fleet-map path.map-line--route")).to_have_count(2)
    # Half-way along the first leg of the moving run's route.
    (lng1, lat1), (lng2, lat2) = moving["run"].route.geometry["coordinates"][:2]
    point = page.evaluate(
        "([lat, lng]) => { const p = RappiMap.get('fleet-map').map"
        ".latLngToContainerPoint([lat, lng]); return [p.x, p.y]; }",
        [(lat1 + lat2) / 2, (lng1 + lng2) / 2],
    )
    page.locator("#fleet-map").click(position={"x": point[0], "y": point[1]}, force=True)
    runs = "|".join(str(run["run"].pk) for run in (moving, silent))
    expect(page).to_have_url(re.compile(rf"/console/runs/({runs})/$"))  # no nearby search
    assert violations == []

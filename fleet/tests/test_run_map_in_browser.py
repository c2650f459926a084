"""The run page's map in the system Chromium with every tile refused (a closed network):
the planned route inside its corridor, the stops numbered in order, the GPS trail, the
driver's last position with its plate, and the route deviation where the driver left the
corridor; a new fix moves the position on the next refresh, without a reload and without
losing the dispatcher's zoom. Laptop and tablet, Spanish and English, under the
Content-Security-Policy."""

import itertools
import math
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from fleet import services
from fleet.models import Assignment, Incident
from fleet.tests.factories import VehicleFactory, driver_user
from identity.tests.factories import PASSWORD
from orders.tests.factories import CustomerFactory, drop, make_order
from rappi.testing.browser import (
    SIZES,
    assert_no_sideways_scroll,
    open_console,
    screenshot,
)
from tracking import geofences, pings

pytestmark = pytest.mark.usefixtures("live_db")

METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180
# Where the vehicle marker is, read from the map itself ([lat, lng]).
VEHICLE_AT = """() => {
  let found = null;
  RappiMap.get('run-map').layers.eachLayer(layer => {
    const el = layer.getElement && layer.getElement();
    if (el && el.querySelector('.map-marker--vehicle')) {
      const at = layer.getLatLng(); found = [at.lat, at.lng];
    }
  });
  return found;
}"""


def _under_way(by) -> Assignment:
    """A run of two drop-offs some 600 m apart in progress since an hour ago, with its
    route's corridor."""
    _user, driver = driver_user()
    order = make_order(
        customer=CustomerFactory(),
        by=by,
        drops=[drop(lat="-16.4200", lng="-71.5217"), drop(lat="-16.4235", lng="-71.5170")],
    )
    run = services.assignment_create(
        orders=[order], driver=driver, vehicle=VehicleFactory(capacity_kg=Decimal("500")), by=by
    )
    services.assignment_start(assignment=run, by=by)
    Assignment.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(hours=1))
    run = Assignment.objects.select_related("route", "vehicle").get(pk=run.pk)
    geofences.corridor_replace(assignment_id=run.pk, route_id=run.route.pk, line=run.route.geometry)
    return run


def _along(route: list[list[float]], share: float, *, step_m: float = 60) -> list[list[float]]:
    """[lng, lat] positions every `step_m` along the first `share` of a route, 8 m east of
    it (a phone's fixes are never quite on the planned line)."""
    cos = math.cos(math.radians(route[0][1]))
    aside = 8 / (METRES_PER_DEGREE * cos)
    legs = [
        (a, b, math.hypot((b[0] - a[0]) * cos, b[1] - a[1]) * METRES_PER_DEGREE)
        for a, b in itertools.pairwise(route)
    ]
    goal = sum(length for _a, _b, length in legs) * share
    points, walked = [], 0.0
    for a, b, length in legs:
        t = 0.0
        while length and walked + t * length <= goal and t <= 1:
            points.append([a[0] + (b[0] - a[0]) * t + aside, a[1] + (b[1] - a[1]) * t])
            t += step_m / length
        walked += length
    return points


def _send(run, positions: list[list[float]], *, last_seconds_ago: float, heading=None) -> None:
    """Fixes at these positions, 15 s apart (a city speed), the last `last_seconds_ago`."""
    now = timezone.now()
    count = len(positions)
    fixes = [
        pings.Fix(
            index=i,
            lng=lng,
            lat=lat,
            recorded_at=now - timedelta(seconds=last_seconds_ago + 15 * (count - 1 - i)),
            accuracy_m=5,
            heading=heading,
        )
        for i, (lng, lat) in enumerate(positions)
    ]
    result = pings.pings_ingest(
        assignment_id=run.pk,
        driver_id=run.driver_id,
        vehicle_plate=run.vehicle.plate,
        started_at=run.started_at,
        fixes=fixes,
    )
    assert result.accepted == count, result


def _drive_with_a_detour(run) -> list[float]:
    """Along the first half of the route, then 250 m off it to the east and on: a
    confirmed exit from the corridor (a route deviation). The last [lng, lat]."""
    on_route = _along(run.route.geometry["coordinates"], 0.5)
    lng, lat = on_route[-1]
    east = 1 / (METRES_PER_DEGREE * math.cos(math.radians(lat)))
    detour = [[lng + metres * east, lat] for metres in (120, 250, 260, 270, 280)]
    _send(run, on_route + detour, last_seconds_ago=20, heading=90)
    return detour[-1]


def _open(browser, live_server, dispatcher, size: str, language: str, run):
    opened = open_console(
        browser, live_server, dispatcher.email, PASSWORD, size=size, language=language
    )
    opened[1].goto(f"{live_server.url}/console/runs/{run.pk}/")
    return opened


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", ["es", "en"])
def test_the_run_map_draws_route_corridor_stops_trail_position_and_deviation(
    browser, live_server, dispatcher, language, size
):
    run = _under_way(dispatcher)
    _drive_with_a_detour(run)
    [deviation] = Incident.objects.filter(assignment=run, type="route_deviation")
    assert deviation.lat is not None  # where the driver left the corridor
    context, page, violations, refused = _open(
        browser, live_server, dispatcher, size, language, run
    )

    the_map = page.locator("#run-map")
    expect(the_map.locator("path.map-line--route")).to_have_count(1)
    expect(the_map.locator("path.map-zone--route_corridor")).to_have_count(1)
    expect(the_map.locator("path.map-line--trail")).to_have_count(1)
    stops = the_map.locator(".map-stop")
    expect(stops).to_have_count(3)  # the shared pickup and two drop-offs
    assert stops.all_inner_texts() == ["1", "2", "3"]
    expect(the_map.locator(".map-stop--pickup")).to_have_count(1)
    vehicle = the_map.locator(".map-marker--vehicle")
    expect(vehicle).to_have_count(1)
    expect(vehicle).not_to_have_class(re.compile(r"\bis-stale\b"))
    expect(vehicle.locator(".map-marker__text")).to_have_text(run.vehicle.plate)
    expect(vehicle.locator(".map-marker__heading")).to_have_count(1)
    expect(the_map.locator(".map-marker--incident")).to_have_count(1)
    # The map, and its legend, sit with the facts; the facts panel is still whole.
    expect(page.locator(".run-legend li")).to_have_count(10)
    expect(page.locator("#run-facts .facts")).to_be_visible()
    assert any("tile.openstreetmap.org" in url for url in refused)
    assert_no_sideways_scroll(page)
    screenshot(page, f"console-run-map-{language}-{size}")
    assert violations == []
    context.close()


def test_a_new_fix_moves_the_position_on_the_next_refresh_and_keeps_the_view(
    browser, live_server, dispatcher
):
    run = _under_way(dispatcher)
    on_route = _along(run.route.geometry["coordinates"], 0.3)
    _send(run, on_route, last_seconds_ago=30, heading=0)
    context, page, violations, _refused = _open(
        browser, live_server, dispatcher, "laptop", "en", run
    )
    expect(page.locator("#run-map .map-marker--vehicle")).to_have_count(1)
    before = page.evaluate(VEHICLE_AT)
    assert before == pytest.approx([on_route[-1][1], on_route[-1][0]])
    trail_points = page.evaluate(
        "() => document.querySelector('#run-map path.map-line--trail').getAttribute('d')"
    )
    page.evaluate("window.marked = true")  # gone if the page reloads
    page.evaluate(
        "([lat, lng]) => RappiMap.get('run-map').map.setView([lat, lng], 15, {animate: false})",
        before,
    )

    ahead = _along(run.route.geometry["coordinates"], 0.4)[len(on_route)]
    _send(run, [ahead], last_seconds_ago=1, heading=0)
    page.wait_for_function(
        f"() => {{ const at = ({VEHICLE_AT})(); return at && at[0] !== {before[0]}; }}",
        timeout=15_000,
    )
    assert page.evaluate(VEHICLE_AT) == pytest.approx([ahead[1], ahead[0]])
    assert page.evaluate("window.marked") is True
    assert page.evaluate("RappiMap.get('run-map').map.getZoom()") == 15
    assert (
        page.evaluate(
            "() => document.querySelector('#run-map path.map-line--trail').getAttribute('d')"
        )
        != trail_points
    )  # the trail grew to it
    screenshot(page, "console-run-map-moved")
    assert violations == []
    context.close()


def test_a_silent_driver_is_greyed_with_the_age_of_the_fix(browser, live_server, dispatcher):
    run = _under_way(dispatcher)
    _send(run, _along(run.route.geometry["coordinates"], 0.2), last_seconds_ago=20 * 60)
    context, page, violations, _refused = _open(
        browser, live_server, dispatcher, "tablet", "en", run
    )
    vehicle = page.locator("#run-map .map-marker--vehicle.is-stale")
    expect(vehicle).to_have_count(1)
    expect(vehicle.locator(".map-marker__text")).to_have_text(f"{run.vehicle.plate} · 20 min ago")
    screenshot(page, "console-run-map-silent-en-tablet")
    assert violations == []
    context.close()

"""The order page's map and the maps that place addresses, in the system Chromium with
every tile refused (a closed network), under the Content-Security-Policy: the order map
draws the pickup, the drop-offs, the run's route and the driver, and moves the driver on
its 10-second refresh; a click on a drop-off's map fills its latitude and longitude and
saving stores them; in the admin, a click on an address row's map fills that row (a row
added with "Add another" too) and saving stores them. Screenshots at laptop and tablet
size, in Spanish and English."""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from identity.tests.factories import PASSWORD, UserFactory
from orders.models import Address
from orders.tests.factories import CustomerFactory, drop, make_order
from orders.tests.helpers import on_its_way
from rappi.testing.browser import (
    SIZES,
    assert_no_sideways_scroll,
    offline,
    open_console,
    screenshot,
    watch_csp,
)
from tracking.tests.factories import record_fix

pytestmark = pytest.mark.usefixtures("live_db")


def no_capture(**_kwargs):
    """On a live server the run's route is planned when its transaction commits."""
    from contextlib import nullcontext

    return nullcontext()


def _open(browser, live_server, user, size="laptop", language="en"):
    return open_console(browser, live_server, user.email, PASSWORD, size=size, language=language)


def _point(page, map_id: str, lat: float, lng: float) -> dict:
    """Where (lat, lng) is inside the map's container, in pixels."""
    x, y = page.evaluate(
        "([id, lat, lng]) => { const p = RappiMap.get(id).map.latLngToContainerPoint([lat, lng]);"
        " return [p.x, p.y]; }",
        [map_id, lat, lng],
    )
    return {"x": x, "y": y}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", ["es", "en"])
def test_the_order_map_draws_pickup_drop_offs_route_and_driver(
    browser, live_server, language, size
):
    dispatcher = UserFactory(role_name="dispatcher")
    order, run = on_its_way(dispatcher, no_capture)
    record_fix(run, -16.4040, -71.5330, heading=135)
    context, page, violations, refused = _open(browser, live_server, dispatcher, size, language)
    page.goto(f"{live_server.url}/console/orders/{order.pk}/")
    the_map = page.locator("#order-map")
    expect(the_map.locator(".map-marker--origin")).to_have_count(1)
    expect(the_map.locator(".map-stop--delivery")).to_have_count(2)
    expect(the_map.locator(".map-stop--delivery")).to_have_text(["1", "2"])
    expect(the_map.locator("path.map-line--route")).to_have_count(1)
    expect(the_map.locator(".map-marker--vehicle")).to_have_count(1)
    expect(the_map.locator(".map-marker--vehicle .map-marker__text")).to_have_text("ABC-123")
    expect(the_map.locator(".map-marker__heading")).to_have_count(1)
    expect(page.locator(".order-legend li")).to_have_count(7)
    assert any("tile.openstreetmap.org" in url for url in refused)
    assert_no_sideways_scroll(page)
    screenshot(page, f"console-order-map-{language}-{size}")
    assert violations == []
    context.close()


def test_the_driver_moves_on_the_next_refresh_without_a_reload(browser, live_server):
    dispatcher = UserFactory(role_name="dispatcher")
    order, run = on_its_way(dispatcher, no_capture)
    record_fix(run, -16.4040, -71.5330, seconds_ago=20)
    context, page, violations, _refused = _open(browser, live_server, dispatcher)
    page.goto(f"{live_server.url}/console/orders/{order.pk}/")
    vehicle = page.locator("#order-map .map-marker--vehicle")
    expect(vehicle).to_have_count(1)
    page.evaluate("window.marked = true")  # gone if the page reloads
    page.evaluate(
        "RappiMap.get('order-map').map.setView([-16.4040, -71.5330], 15, {animate: false})"
    )
    where = (
        "() => { const m = document.querySelector('#order-map .map-marker--vehicle .map-marker__dot');"
        " const b = m.getBoundingClientRect();"
        " const c = document.querySelector('#order-map').getBoundingClientRect();"
        " return [b.x + b.width / 2 - (c.x + c.width / 2), b.y + b.height / 2 - (c.y + c.height / 2)]; }"
    )
    before = page.evaluate(where)
    assert abs(before[0]) < 3
    assert abs(before[1]) < 3
    record_fix(run, -16.4010, -71.5300, seconds_ago=1)  # ~450 m north-east
    page.wait_for_function(f"() => ({where})()[0] > 20", timeout=15_000)
    after = page.evaluate(where)
    assert after[0] > 20
    assert after[1] < -20
    assert page.evaluate("window.marked") is True
    assert page.evaluate("RappiMap.get('order-map').map.getZoom()") == 15
    assert violations == []
    context.close()


def test_a_click_on_a_drop_offs_map_fills_its_position_and_saving_stores_it(browser, live_server):
    dispatcher = UserFactory(role_name="dispatcher")
    order = make_order(
        customer=CustomerFactory(), by=dispatcher, drops=[drop(lat="-16.4100"), drop()]
    )
    second = order.destinations.get(sequence=2)
    context, page, violations, _refused = _open(browser, live_server, dispatcher)
    page.goto(f"{live_server.url}/console/orders/{order.pk}/")
    page.locator(f"#drop-{second.pk} details.edit summary").click()
    map_id = f"drop-map-{second.pk}"
    # The map opens on the drop-off's pin, once its panel has a size.
    # (Leaflet knows the size it is laid out at: it has seen the panel open.)
    page.wait_for_function(
        f"() => {{ const m = RappiMap.get('{map_id}').map, c = m.getContainer();"
        " return c.clientHeight > 100 && m.getSize().y === c.clientHeight"
        " && m.getSize().x === c.clientWidth; }"
    )
    expect(page.locator(f"#{map_id} .map-pin")).to_have_count(1)
    target = (-16.4200, -71.5200)
    page.locator(f"#{map_id}").click(position=_point(page, map_id, *target), force=True)
    lat_input, lng_input = page.locator(f"#d{second.pk}_lat"), page.locator(f"#d{second.pk}_lng")
    expect(lat_input).not_to_have_value("-16.421000")
    lat, lng = Decimal(lat_input.input_value()), Decimal(lng_input.input_value())
    assert abs(lat - Decimal(target[0])) < Decimal("0.0002")
    assert abs(lng - Decimal(target[1])) < Decimal("0.0002")
    screenshot(page, "console-order-drop-off-placed")
    page.locator(f"#drop-{second.pk} form.drop-form button[type=submit]").click()
    expect(page.locator(".message-success")).to_be_visible()
    second.refresh_from_db()
    assert (second.lat, second.lng) == (lat, lng)
    assert violations == []
    context.close()


def test_the_new_drop_offs_map_fills_the_add_form(browser, live_server):
    dispatcher = UserFactory(role_name="dispatcher")
    order = make_order(customer=CustomerFactory(), by=dispatcher)
    context, page, violations, _refused = _open(browser, live_server, dispatcher, "tablet")
    page.goto(f"{live_server.url}/console/orders/{order.pk}/")
    page.locator("details.edit summary").last.click()
    page.wait_for_function("() => RappiMap.get('add-map').map.getSize().y > 100")
    expect(page.locator("#add-map .map-marker--origin")).to_have_count(1)
    # Opened, the map fits the pickup and the drop-offs it shows (it had no size closed).
    page.wait_for_function(
        "() => { const e = RappiMap.get('add-map'); const view = e.map.getBounds();"
        " return e.layers.getLayers().every(l => view.contains(l.getLatLng())); }",
        timeout=3_000,
    )
    page.locator("#add-map").click(position=_point(page, "add-map", -16.41, -71.53), force=True)
    expect(page.locator("#add_lat")).not_to_have_value("")
    assert abs(float(page.locator("#add_lng").input_value()) + 71.53) < 0.0005
    assert_no_sideways_scroll(page)
    screenshot(page, "console-order-add-drop-off-map-tablet")
    assert violations == []
    context.close()


def _admin(browser, live_server, user, path):
    context = browser.new_context(locale="en-GB", viewport=SIZES["laptop"])
    offline(context, live_server)
    page = context.new_page()
    violations = watch_csp(page)
    page.goto(f"{live_server.url}/admin/login/?next={path}")
    page.locator("input[name=username]").fill(user.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    return context, page, violations


def test_a_click_on_an_address_rows_map_in_the_admin_fills_that_row_and_saves(browser, live_server):
    staff = UserFactory(role_name="dispatcher")
    customer = CustomerFactory(full_name="Rosa Quispe")
    Address.objects.create(
        customer=customer,
        label="Casa",
        line="Calle Mercaderes 120",
        district="Cercado",
        lat=Decimal("-16.398800"),
        lng=Decimal("-71.536900"),
        is_primary=True,
    )
    path = f"/admin/orders/customer/{customer.pk}/change/"
    context, page, violations = _admin(browser, live_server, staff, path)
    row = page.locator("#addresses-0")
    expect(row.locator(".admin-map.leaflet-container")).to_have_count(1)
    expect(row.locator(".admin-map .map-pin")).to_have_count(1)  # where it is now
    map_id = row.locator(".admin-map").get_attribute("id")
    page.locator(f"#{map_id}").click(position=_point(page, map_id, -16.3980, -71.5360), force=True)
    expect(page.locator("#id_addresses-0-lat")).not_to_have_value("-16.398800")
    first = (
        Decimal(page.locator("#id_addresses-0-lat").input_value()),
        Decimal(page.locator("#id_addresses-0-lng").input_value()),
    )
    assert abs(first[0] - Decimal("-16.3980")) < Decimal("0.0002")
    # A row added with "Add another" gets its own map, which fills that row only.
    page.locator(".add-row a").click()
    new_row = page.locator("#addresses-1")
    expect(new_row.locator(".admin-map.leaflet-container")).to_have_count(1)
    new_row.locator("input[name=addresses-1-label]").fill("Oficina")
    new_row.locator("input[name=addresses-1-line]").fill("Av. Ejército 101")
    new_row.locator("input[name=addresses-1-district]").fill("Yanahuara")
    new_id = new_row.locator(".admin-map").get_attribute("id")
    page.evaluate(f"RappiMap.get('{new_id}').map.setView([-16.39, -71.54], 15, {{animate: false}})")
    page.locator(f"#{new_id}").click(position=_point(page, new_id, -16.3910, -71.5410), force=True)
    expect(page.locator("#id_addresses-1-lat")).not_to_have_value("")
    second = (
        Decimal(page.locator("#id_addresses-1-lat").input_value()),
        Decimal(page.locator("#id_addresses-1-lng").input_value()),
    )
    assert page.locator("#id_addresses-0-lat").input_value() == str(first[0])
    screenshot(page, "admin-customer-address-maps")
    page.locator("input[name=_continue]").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    saved = {a.label: (a.lat, a.lng) for a in customer.addresses.all()}
    assert saved == {"Casa": first, "Oficina": second}
    assert violations == []
    context.close()


def test_the_admin_shows_an_orders_drop_offs_on_small_maps(browser, live_server):
    staff = UserFactory(role_name="dispatcher")
    order = make_order(customer=CustomerFactory(), by=staff, drops=[drop(), drop(lat="-16.41")])
    path = f"/admin/orders/order/{order.pk}/change/"
    context, page, violations = _admin(browser, live_server, staff, path)
    expect(page.locator(".admin-map.leaflet-container")).to_have_count(2)
    expect(page.locator(".admin-map .map-marker--dropoff")).to_have_count(2)
    screenshot(page, "admin-order-drop-off-maps")
    page.goto(f"{live_server.url}/admin/orders/order/add/")
    expect(page.locator(".admin-map.leaflet-container")).to_have_count(3)  # the blank rows
    screenshot(page, "admin-order-add-drop-off-maps")
    assert violations == []
    context.close()

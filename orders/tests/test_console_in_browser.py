"""The console's orders pages in a real browser, under the Content-Security-Policy: a
dispatcher ticks a pending order on the board, asks for drivers, assigns one and lands on
the run; a refused assignment says why; the order page shows a delivered drop-off's proof
as a thumbnail that opens full size. Screenshots of the board, the assign panel and the
order page at both sizes, in Spanish (the console's default) and English."""

import re

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from fleet import services as fleet_services
from fleet.models import Assignment
from fleet.tests.factories import VehicleFactory, driver_user
from identity.tests.factories import UserFactory
from orders.models import Order, OrderStatus
from orders.tests.factories import CustomerFactory, make_order
from rappi.testing.browser import SIZES, console_sign_in, offline, screenshot, watch_csp

pytestmark = pytest.mark.usefixtures("live_db")

PASSWORD = "Sup3r-Secreta-2026"
DEMO_PASSWORD = "demo12345"


def in_english(page) -> None:
    """The language switcher in the header."""
    page.get_by_role("button", name="EN").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")


@pytest.fixture
def day(live_db):
    """A dispatcher, a pending order, a free driver with a van, and a driver on a run in
    the van V2B-456."""
    dispatcher = UserFactory(email="ops@rappi.pe", password=PASSWORD, role_name="dispatcher")
    order = make_order(customer=CustomerFactory(full_name="Panadería Sol"), by=dispatcher)
    _login, free = driver_user(full_name="Ana Ruta")
    free = fleet_services.driver_set_vehicle(driver=free, vehicle=VehicleFactory(plate="ABC-101"))
    _login, busy = driver_user(full_name="Carla Ocupada")
    busy = fleet_services.driver_set_vehicle(driver=busy, vehicle=VehicleFactory(plate="V2B-456"))
    other = make_order(customer=CustomerFactory(), by=dispatcher)
    run = fleet_services.assignment_create(
        orders=[other], driver=busy, vehicle=busy.vehicle, by=dispatcher
    )
    return {"order": order, "free": free, "busy_run": run}


def open_panel(page, live_server, order) -> None:
    page.goto(f"{live_server.url}/console/orders/?status=pending")
    page.get_by_label(f"Select order #{order.pk}").check()
    page.get_by_role("button", name="Suggest drivers").click()
    expect(page.get_by_role("heading", name="Put the ticked orders in a run")).to_be_visible()


def test_a_dispatcher_ticks_an_order_asks_for_drivers_and_assigns_one(page, live_server, day):
    violations = watch_csp(page)
    page.set_viewport_size(SIZES["laptop"])
    console_sign_in(page, live_server, "ops@rappi.pe", PASSWORD)
    in_english(page)
    open_panel(page, live_server, day["order"])
    # The busy driver says why, in the words the API uses; the free one is first.
    panel = page.locator("#assign-panel")
    expect(panel).to_contain_text(f"Carla Ocupada is on run #{day['busy_run'].pk} (assigned).")
    first = panel.locator("tbody tr").first
    expect(first).to_contain_text("Ana Ruta")
    expect(first.get_by_label("Vehicle for Ana Ruta")).to_have_value(str(day["free"].vehicle_id))
    first.get_by_role("button", name="Assign").click()
    run = Assignment.objects.exclude(pk=day["busy_run"].pk).get()
    expect(page).to_have_url(f"{live_server.url}/console/runs/{run.pk}/")
    expect(page.get_by_text(f"Run #{run.pk} created")).to_be_visible()
    assert Order.objects.get(pk=day["order"].pk).status == OrderStatus.ASSIGNED
    assert violations == []


def test_a_refused_assignment_says_why_and_keeps_the_order_ticked(page, live_server, day):
    violations = watch_csp(page)
    page.set_viewport_size(SIZES["laptop"])
    console_sign_in(page, live_server, "ops@rappi.pe", PASSWORD)
    in_english(page)
    open_panel(page, live_server, day["order"])
    row = page.locator("#assign-panel tbody tr", has_text="Ana Ruta")
    busy_van = day["busy_run"].vehicle_id
    row.get_by_label("Vehicle for Ana Ruta").select_option(str(busy_van))
    row.get_by_role("button", name="Assign").click()
    expect(page.locator(".message-error")).to_contain_text(
        f"V2B-456 is already on run #{day['busy_run'].pk} (assigned)."
    )
    expect(page.get_by_label(f"Select order #{day['order'].pk}")).to_be_checked()
    screenshot(page, "console-orders-assign-refused")
    assert Order.objects.get(pk=day["order"].pk).status == OrderStatus.PENDING
    assert violations == []


def test_the_demo_day_board_panel_and_order_page_in_both_languages_and_sizes(browser, live_server):
    call_command("seed_demo")
    delivered = Order.objects.filter(status=OrderStatus.DELIVERED).order_by("pk").first()
    waiting = Order.objects.filter(status=OrderStatus.PENDING).order_by("pk").first()
    unpaid = Order.objects.filter(status=OrderStatus.PENDING_PAYMENT).order_by("pk").first()
    assert delivered is not None
    assert waiting is not None
    assert unpaid is not None
    for language in ("es", "en"):
        for size in SIZES:
            # The browser's own locale too: date pickers follow it, not the page.
            locale = {"es": "es-PE", "en": "en-GB"}[language]
            context = browser.new_context(viewport=SIZES[size], locale=locale)
            offline(context, live_server)  # the order page's map: no tile server
            page = context.new_page()
            violations = watch_csp(page)
            console_sign_in(page, live_server, "dispatcher@rappi.pe", DEMO_PASSWORD)
            if language == "en":
                in_english(page)
            expect(page.locator("html")).to_have_attribute("lang", language)
            page.goto(f"{live_server.url}/console/orders/")
            expect(page.locator("#order-rows tbody tr").first).to_be_visible()
            screenshot(page, f"console-orders-board-{language}-{size}")
            page.get_by_label(re.compile(f"#{waiting.pk}$")).check()
            page.locator("#assign-form button[type=submit]").click()
            expect(page.locator("#assign-panel tbody tr").first).to_be_visible()
            screenshot(page, f"console-orders-assign-panel-{language}-{size}")
            page.goto(f"{live_server.url}/console/orders/{delivered.pk}/")
            thumb = page.locator(".thumbs img").first
            expect(thumb).to_be_visible()
            # The thumbnail's image loads (under the policy, through the session).
            thumb.scroll_into_view_if_needed()
            page.wait_for_function(
                "img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle()
            )
            expect(page.locator(".timeline li").first).to_be_visible()
            expect(page.locator("#order-map .map-marker--origin")).to_have_count(1)
            screenshot(page, f"console-order-page-{language}-{size}")
            with context.expect_page() as opened:
                thumb.click()
            full = opened.value
            full.wait_for_load_state()
            assert full.url.startswith(f"{live_server.url}/console/files/")
            assert full.evaluate("document.images.length") == 1  # the browser shows the image
            full.close()
            # An order still waiting: its actions (only those the state allows).
            page.goto(f"{live_server.url}/console/orders/{unpaid.pk}/")
            expect(page.locator("form[action$='/cancel/']")).to_be_visible()
            page.locator("details.edit summary").last.click()
            screenshot(page, f"console-order-actions-{language}-{size}")
            assert violations == []
            context.close()


def test_ticks_survive_the_ten_second_refresh_of_the_rows(page, live_server, day):
    violations = watch_csp(page)
    console_sign_in(page, live_server, "ops@rappi.pe", PASSWORD)
    in_english(page)
    page.goto(f"{live_server.url}/console/orders/?status=pending")
    box = page.get_by_label(f"Select order #{day['order'].pk}")
    box.check()
    page.locator("h1").click()  # focus leaves the rows: the refresh takes its turn
    with page.expect_response(
        lambda response: (
            "/console/orders/" in response.url
            and response.request.headers.get("hx-request") == "true"
        ),
        timeout=15_000,
    ) as refreshed:
        pass
    assert "order_ids" not in refreshed.value.url
    page.wait_for_timeout(200)  # the swap follows the response
    expect(page.get_by_label(f"Select order #{day['order'].pk}")).to_be_checked()
    assert violations == []

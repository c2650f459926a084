"""The console's own pages in a real browser on the demo data: the sign-in page, the
overview, the drivers, vehicles and customers lists and the 403 page, in Spanish and
English, at laptop and tablet size, under the Content-Security-Policy and without
sideways scrolling. Screenshots for a person to look at."""

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from identity.tests.factories import RoleFactory, UserFactory
from rappi.testing.browser import SIZES, console_sign_in, screenshot, watch_csp

pytestmark = pytest.mark.usefixtures("live_db")

DEMO_PASSWORD = "demo12345"  # the published demo login
PAGES = {
    "overview": ("/console/", {"es": "Resumen", "en": "Overview"}),
    "drivers": ("/console/drivers/", {"es": "Conductores", "en": "Drivers"}),
    "vehicles": ("/console/vehicles/", {"es": "Vehículos", "en": "Vehicles"}),
    "customers": ("/console/customers/", {"es": "Clientes", "en": "Customers"}),
}


def _fits_the_width(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", ["es", "en"])
def test_the_consoles_own_pages_read_well(browser, live_server, language, size):
    call_command("seed_demo", verbosity=0)
    context = browser.new_context(viewport=SIZES[size])
    page = context.new_page()
    violations = watch_csp(page)
    page.goto(f"{live_server.url}/console/login/")
    if language == "en":
        page.get_by_role("button", name="EN").click()
    expect(page.locator("html")).to_have_attribute("lang", language)
    screenshot(page, f"console-sign-in-{language}-{size}")
    console_sign_in(page, live_server, "dispatcher@rappi.pe", DEMO_PASSWORD)
    for name, (path, heading) in PAGES.items():
        page.goto(f"{live_server.url}{path}")
        expect(page.get_by_role("heading", level=1)).to_have_text(heading[language])
        assert _fits_the_width(page), f"{name} scrolls sideways at {size}"
        screenshot(page, f"console-{name}-{language}-{size}")
    page.goto(f"{live_server.url}/console/drivers/?availability=busy")
    expect(page.locator("tbody tr")).to_have_count(2)  # the demo's drivers on runs
    assert violations == []
    context.close()


def test_a_page_outside_the_role_is_the_consoles_403_page(browser, live_server):
    UserFactory(
        email="orders-only@rappi.pe",
        password="Sup3r-Secreta-2026",
        role=RoleFactory(grants=["orders:read"]),
    )
    page = browser.new_page(viewport=SIZES["laptop"])
    console_sign_in(page, live_server, "orders-only@rappi.pe", "Sup3r-Secreta-2026")
    response = page.goto(f"{live_server.url}/console/runs/")
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Acceso no permitido")
    expect(page.locator("nav a", has_text="Recorridos")).to_have_count(0)
    screenshot(page, "console-403-es-laptop")

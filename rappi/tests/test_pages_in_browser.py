"""The Django admin and the API docs work in a real browser under the Content-Security-
Policy: their scripts run, nothing inline is blocked, and a throttled admin sign-in says so
on the page."""

import time

import pytest
from playwright.sync_api import expect

from identity.tests.factories import UserFactory
from orders.tests.factories import customer_user, make_order
from rappi.testing.browser import SIZES, screenshot, watch_csp

pytestmark = pytest.mark.usefixtures("live_db")

PASSWORD = "Sup3r-Secreta-2026"


def _sign_in(page, live_server, email, password=PASSWORD):
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.parametrize("size", SIZES)
def test_staff_sign_in_to_the_admin_and_its_scripts_run_under_the_policy(page, live_server, size):
    page.set_viewport_size(SIZES[size])
    violations = watch_csp(page)
    UserFactory(email="ops@rappi.pe", password=PASSWORD, role_name="admin")
    user, customer = customer_user(email="alice@example.pe")
    make_order(customer=customer, by=user)
    _sign_in(page, live_server, "ops@rappi.pe")
    expect(page.get_by_role("heading", name="Administration", exact=True)).to_be_visible()
    page.goto(f"{live_server.url}/admin/orders/order/")
    # The "select all" box is wired by the admin's own script (actions.js).
    page.locator("#action-toggle").check()
    expect(page.locator(".action-counter")).to_contain_text("1 of 1 selected")
    screenshot(page, f"admin-orders-{size}")
    assert violations == []


def test_a_throttled_admin_sign_in_is_refused_with_a_message_even_with_the_right_password(
    page, live_server
):
    UserFactory(email="ops@rappi.pe", password=PASSWORD, role_name="admin")
    for _attempt in range(5):
        _sign_in(page, live_server, "ops@rappi.pe", "wrong-password")
    _sign_in(page, live_server, "ops@rappi.pe")
    expect(page.get_by_text("Too many sign-in attempts")).to_be_visible()
    expect(page.get_by_role("heading", name="Administration", exact=True)).to_have_count(0)
    screenshot(page, "admin-login-throttled")


def test_the_api_docs_render_every_operation_under_the_policy(page, live_server):
    violations = watch_csp(page)
    page.set_viewport_size(SIZES["laptop"])
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".opblock").first).to_be_visible(timeout=20_000)
    # Past some size Swagger UI draws only the operations near the view: scroll through
    # the page and gather every operation drawn on the way.
    drawn: set[str] = set()
    deadline = time.monotonic() + 60
    while len(drawn) <= 100 and time.monotonic() < deadline:
        drawn.update(page.locator(".opblock").evaluate_all("blocks => blocks.map(b => b.id)"))
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(50)
    assert len(drawn) > 100
    login = page.locator(".opblock-summary", has_text="/api/v1/auth/login").first
    page.mouse.wheel(0, -100_000)
    while not login.count() and time.monotonic() < deadline:
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(50)
    login.click()
    expect(page.get_by_role("button", name="Try it out").first).to_be_visible()
    screenshot(page, "api-docs")
    assert violations == []

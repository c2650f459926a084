"""A run created from the Django admin in a real browser: the orders picker (the admin's
own script) works under the Content-Security-Policy, a refusal is shown over the form
that keeps the choice, and a created run opens on its page; the order then shows its run
and the driver list the driver's last fix."""

import pytest
from playwright.sync_api import expect

from fleet import services
from fleet.models import Assignment
from fleet.tests.factories import VehicleFactory, driver_user
from fleet.tests.helpers import put_position
from identity.tests.factories import PASSWORD, UserFactory
from orders.tests.factories import CustomerFactory, make_order
from rappi.testing.browser import SIZES, screenshot, watch_csp

pytestmark = pytest.mark.usefixtures("live_db")


def test_a_dispatcher_puts_an_order_on_a_run_from_the_admin(browser, live_server):
    dispatcher = UserFactory(role_name="dispatcher")
    order = make_order(customer=CustomerFactory(full_name="Rosa Quispe"), by=dispatcher)
    _user, busy_driver = driver_user()
    busy_van = VehicleFactory(plate="V9Z-901")
    first = services.assignment_create(
        orders=[make_order(customer=CustomerFactory(), by=dispatcher)],
        driver=busy_driver,
        vehicle=busy_van,
        by=dispatcher,
    )
    _user, driver = driver_user(full_name="Juan Mamani")
    free_van = VehicleFactory(plate="V9Z-902")

    context = browser.new_context(locale="en-GB", viewport=SIZES["laptop"])
    page = context.new_page()
    violations = watch_csp(page)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/fleet/assignment/add/")
    page.locator("input[name=username]").fill(dispatcher.email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[type=submit]").click()

    def choose(van):
        page.locator("#id_orders_from").select_option(str(order.pk))
        page.locator("#id_orders_add").click()  # the picker's "Choose" arrow
        page.locator("#id_driver").select_option(str(driver.pk))
        page.locator("#id_vehicle").select_option(str(van.pk))

    choose(busy_van)
    screenshot(page, "admin-run-add")
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist .error")).to_contain_text(
        f"Run not created: V9Z-901 is already on run #{first.pk}"
    )
    expect(page.locator("#id_orders_to option")).to_have_text(
        [f"#{order.pk} · Rosa Quispe · Cercado · 2 kg"]
    )  # the form keeps the order chosen
    screenshot(page, "admin-run-add-refused")

    page.locator("#id_vehicle").select_option(str(free_van.pk))
    page.locator("input[name=_save]").click()
    run = Assignment.objects.exclude(pk=first.pk).get()
    expect(page).to_have_url(f"{live_server.url}/admin/fleet/assignment/{run.pk}/change/")
    expect(page.locator(".messagelist .success")).to_contain_text(f"Run #{run.pk} created.")
    screenshot(page, "admin-run-created")
    assert list(run.orders.values_list("pk", flat=True)) == [order.pk]

    page.goto(f"{live_server.url}/admin/orders/order/{order.pk}/change/")
    expect(page.locator(".field-runs")).to_contain_text(f"Run #{run.pk} (Assigned)")
    screenshot(page, "admin-order-with-run")
    page.goto(f"{live_server.url}/admin/orders/order/?scheduled=unscheduled")
    expect(page.locator(f"#result_list a[href$='/assignment/{run.pk}/change/']")).to_be_visible()
    screenshot(page, "admin-order-list")
    put_position(driver, lat=-16.39881, lng=-71.53692, age_s=30)
    page.goto(f"{live_server.url}/admin/fleet/driver/")
    expect(page.locator("#result_list")).to_contain_text("-16.39881, -71.53692 · live")
    screenshot(page, "admin-driver-list")
    assert violations == []
    context.close()

"""Runs created from the Django admin through the service, and drivers' last fixes in the
driver admin at a fixed number of queries."""

import re

import mongoengine
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pymongo import monitoring

from fleet import services
from fleet.models import Assignment, Driver
from fleet.tests.factories import VehicleFactory, driver_user
from fleet.tests.helpers import put_position
from identity.tests.factories import UserFactory
from orders.models import Order
from orders.tests.factories import CustomerFactory, drop, make_order
from rappi import mongo
from rappi.testing.concurrency import deadlocked
from rappi.testing.console import messages_of

pytestmark = pytest.mark.django_db

ADD_URL = "/admin/fleet/assignment/add/"


def pending_order(by, **drop_kwargs):
    customer = CustomerFactory(full_name="Rosa Quispe")
    return make_order(customer=customer, by=by, drops=[drop(**drop_kwargs)])


def _select(html: str, name: str) -> str:
    found = re.search(rf'<select name="{name}".*?</select>', html, re.S)
    assert found, f"no <select name={name}> on the page"
    return found.group(0)


def option_labels(html: str, name: str) -> dict[str, str]:
    select = _select(html, name)
    return dict(re.findall(r'<option value="(\d+)"[^>]*>([^<]*)</option>', select))


def selected_values(html: str, name: str) -> set[str]:
    select = _select(html, name)
    return set(re.findall(r'<option value="(\d+)"[^>]*selected', select))


# --- Creating a run -----------------------------------------------------------------------------


def test_the_add_form_offers_pending_orders_with_who_where_and_how_heavy(admin_site, dispatcher):
    order = pending_order(dispatcher, district="Yanahuara", weight="3.5")
    unpaid = pending_order(dispatcher)
    Order.objects.filter(pk=unpaid.pk).update(status="pending_payment")
    _user, driver = driver_user(full_name="Juan Mamani")
    vehicle = VehicleFactory(plate="V1A-101")
    response = admin_site.get(ADD_URL)
    assert response.status_code == 200
    html = response.content.decode()
    orders = option_labels(html, "orders")
    assert set(orders) == {str(order.pk)}  # only pending orders can go on a run
    assert orders[str(order.pk)] == f"#{order.pk} · Rosa Quispe · Yanahuara · 3.5 kg"
    assert "Juan Mamani" in option_labels(html, "driver")[str(driver.pk)]
    assert "V1A-101" in option_labels(html, "vehicle")[str(vehicle.pk)]


def test_a_run_created_from_the_admin_goes_through_the_service(
    admin_site, dispatcher, django_capture_on_commit_callbacks
):
    orders = [pending_order(dispatcher), pending_order(dispatcher)]
    _user, driver = driver_user()
    vehicle = VehicleFactory()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_site.post(
            ADD_URL,
            {"orders": [o.pk for o in orders], "driver": driver.pk, "vehicle": vehicle.pk},
        )
    run = Assignment.objects.get()
    assert response.status_code == 302
    assert response.url == f"/admin/fleet/assignment/{run.pk}/change/"
    assert run.status == "assigned"
    assert run.created_by == dispatcher
    assert sorted(run.orders.values_list("pk", flat=True)) == sorted(o.pk for o in orders)
    assert set(Order.objects.values_list("status", flat=True)) == {"assigned"}
    assert Driver.objects.get(pk=driver.pk).availability == "busy"
    assert hasattr(run, "route")  # planned by the service, as from the API
    page = admin_site.get(response.url).content.decode()
    assert f"Run #{run.pk} created." in page


def test_a_refused_run_shows_the_reason_and_keeps_the_form(admin_site, dispatcher):
    vehicle = VehicleFactory(plate="V2B-202")
    _user, busy_driver = driver_user()
    first = services.assignment_create(
        orders=[pending_order(dispatcher)], driver=busy_driver, vehicle=vehicle, by=dispatcher
    )
    order = pending_order(dispatcher)
    _user, driver = driver_user()
    response = admin_site.post(
        ADD_URL, {"orders": [order.pk], "driver": driver.pk, "vehicle": vehicle.pk}
    )
    assert response.status_code == 200
    html = response.content.decode()
    messages = messages_of(response)
    assert messages == [f"Run not created: V2B-202 is already on run #{first.pk} (assigned)."]
    assert "V2B-202 is already on run" in html
    assert selected_values(html, "orders") == {str(order.pk)}
    assert selected_values(html, "driver") == {str(driver.pk)}
    assert selected_values(html, "vehicle") == {str(vehicle.pk)}
    assert Assignment.objects.count() == 1
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert Driver.objects.get(pk=driver.pk).availability == "available"


def test_a_vehicle_put_in_maintenance_in_the_admin_is_no_drivers_default(admin_site):
    vehicle = VehicleFactory(plate="V3C-303")
    _user, driver = driver_user()
    services.driver_set_vehicle(driver=driver, vehicle=vehicle)
    form = {
        "plate": vehicle.plate,
        "type": vehicle.type,
        "capacity_kg": vehicle.capacity_kg,
        "length_cm": vehicle.length_cm,
        "width_cm": vehicle.width_cm,
        "height_cm": vehicle.height_cm,
        "is_active": "on",
    }

    response = admin_site.post(
        f"/admin/fleet/vehicle/{vehicle.pk}/change/", {**form, "status": "maintenance"}
    )

    assert response.status_code == 302
    assert Driver.objects.get(pk=driver.pk).vehicle is None


def test_a_driver_on_a_run_made_available_in_the_admin_is_refused_with_the_reason(
    admin_site, dispatcher
):
    _user, driver = driver_user()
    run = services.assignment_create(
        orders=[pending_order(dispatcher)], driver=driver, vehicle=VehicleFactory(), by=dispatcher
    )

    response = admin_site.post(
        f"/admin/fleet/driver/{driver.pk}/change/",
        {"licence_number": "", "phone": "", "availability": "available", "is_active": "on"},
        follow=True,
    )

    assert response.status_code == 200
    assert f"{driver}: The driver is on run #{run.pk} until it ends." in messages_of(response)
    assert Driver.objects.get(pk=driver.pk).availability == "busy"


def test_an_edit_that_loses_a_deadlock_is_refused_with_a_message_not_a_crash(
    admin_site, monkeypatch
):
    _user, driver = driver_user()
    monkeypatch.setattr(services, "driver_update", deadlocked)

    response = admin_site.post(
        f"/admin/fleet/driver/{driver.pk}/change/",
        {"licence_number": "B-1", "phone": "", "availability": "available", "is_active": "on"},
        follow=True,
    )

    assert response.status_code == 200
    [message] = [m for m in messages_of(response) if m.startswith(f"{driver}:")]
    assert "Someone else changed the same records at the same moment" in message
    assert Driver.objects.get(pk=driver.pk).licence_number != "B-1"


def test_a_run_needs_orders_a_driver_and_a_vehicle(admin_site):
    response = admin_site.post(ADD_URL, {})
    assert response.status_code == 200
    assert set(response.context["adminform"].form.errors) == {"orders", "driver", "vehicle"}
    assert Assignment.objects.count() == 0


def test_an_order_no_longer_pending_is_not_put_on_a_run(admin_site, dispatcher):
    order = pending_order(dispatcher)
    Order.objects.filter(pk=order.pk).update(status="cancelled")
    _user, driver = driver_user()
    response = admin_site.post(
        ADD_URL, {"orders": [order.pk], "driver": driver.pk, "vehicle": VehicleFactory().pk}
    )
    assert response.status_code == 200
    assert "orders" in response.context["adminform"].form.errors
    assert Assignment.objects.count() == 0


def test_a_role_that_may_only_read_runs_cannot_create_one(client):
    from identity.tests.factories import RoleFactory

    client.force_login(UserFactory(role=RoleFactory(grants=["assignments:read"])))
    assert client.get("/admin/fleet/assignment/").status_code == 200
    assert client.get(ADD_URL).status_code == 403
    assert client.post(ADD_URL, {}).status_code == 403


# --- Drivers' last fixes ------------------------------------------------------------------------


class CommandCounter(monitoring.CommandListener):
    """The commands the app sends MongoDB (connection handshakes left out)."""

    IGNORED = {"hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo"}

    def __init__(self):
        self.names: list[str] = []

    def started(self, event):
        if event.command_name not in self.IGNORED:
            self.names.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture
def mongo_commands(mongo_test_database):
    """A CommandCounter on the test database's connection, for this test only."""
    counter = CommandCounter()
    mongoengine.disconnect(alias="default")
    mongoengine.connect(
        db=mongo_test_database["db"],
        host=mongo_test_database["uri"],
        alias="default",
        uuidRepresentation="standard",
        tz_aware=True,
        event_listeners=[counter],
    )
    yield counter
    mongo.connect(mongo_test_database["uri"], db=mongo_test_database["db"])


def driver_rows(html: str) -> dict[str, str]:
    """The changelist's rows by driver id (from the link to the driver's page), as text."""
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    found = {}
    for row in rows:
        link = re.search(r'href="/admin/fleet/driver/(\d+)/change/', row)
        if link:
            found[link.group(1)] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row))
    return found


def test_the_driver_list_shows_each_drivers_last_fix_and_whether_it_is_stale(admin_site):
    _u, fresh = driver_user()
    _u, silent = driver_user()
    _u, never = driver_user()
    put_position(fresh, lat=-16.39881, lng=-71.53692, age_s=30)
    put_position(silent, lat=-16.40102, lng=-71.52001, age_s=3600)
    response = admin_site.get("/admin/fleet/driver/")
    assert response.status_code == 200
    rows = driver_rows(response.content.decode())
    assert "-16.39881, -71.53692" in rows[str(fresh.pk)]
    assert "live" in rows[str(fresh.pk)]
    assert "stale" not in rows[str(fresh.pk)]
    assert "-16.40102, -71.52001" in rows[str(silent.pk)]
    assert "1 hour ago" in rows[str(silent.pk)]
    assert "stale" in rows[str(silent.pk)]
    assert "no fix" in rows[str(never.pk)]


def test_the_driver_page_shows_its_last_fix(admin_site):
    _u, driver = driver_user()
    put_position(driver, lat=-16.39881, lng=-71.53692, age_s=600)
    html = admin_site.get(f"/admin/fleet/driver/{driver.pk}/change/").content.decode()
    html = html.replace("\xa0", " ")  # "10 minutes" is kept on one line
    assert "-16.39881, -71.53692" in html
    assert "10 minutes ago" in html
    assert "stale" in html


@pytest.fixture
def mongodb_down(mongo_test_database):
    """The app pointed at a MongoDB address nothing answers on, for this test only."""
    mongo.connect("mongodb://127.0.0.1:9/", db="unreachable", timeout_ms=300)
    yield
    mongo.connect(mongo_test_database["uri"], db=mongo_test_database["db"])


def test_the_driver_pages_work_without_mongodb(admin_site, mongodb_down):
    _u, driver = driver_user()
    response = admin_site.get("/admin/fleet/driver/")
    assert response.status_code == 200
    assert (
        "unknown (tracking unavailable)" in driver_rows(response.content.decode())[str(driver.pk)]
    )
    page = admin_site.get(f"/admin/fleet/driver/{driver.pk}/change/")
    assert page.status_code == 200
    assert b"unknown (tracking unavailable)" in page.content


def add_drivers(count: int) -> None:
    for index in range(count):
        _u, driver = driver_user()
        driver.vehicle = VehicleFactory()
        driver.save(update_fields=["vehicle"])
        put_position(driver, lat=-16.4, lng=-71.5, age_s=index)


def list_costs(admin_site, mongo_commands, drivers: int) -> tuple[int, list[str]]:
    mongo_commands.names.clear()
    with CaptureQueriesContext(connection) as sql:
        response = admin_site.get("/admin/fleet/driver/")
    assert response.status_code == 200
    assert len(driver_rows(response.content.decode())) == drivers
    return len(sql), list(mongo_commands.names)


def test_the_driver_list_costs_the_same_queries_for_2_or_20_drivers(admin_site, mongo_commands):
    add_drivers(2)
    sql_2, mongo_2 = list_costs(admin_site, mongo_commands, 2)
    add_drivers(18)
    sql_20, mongo_20 = list_costs(admin_site, mongo_commands, 20)
    assert mongo_2 == mongo_20 == ["find"]  # one MongoDB query for the whole page
    assert sql_2 == sql_20

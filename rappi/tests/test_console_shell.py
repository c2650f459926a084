"""The console's shell: sign-in (staff only, the shared sign-in budget, CSRF), sign-out,
session expiry, Spanish by default with English on request, and the overview's figures."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from fleet import services as fleet_services
from fleet.models import Incident
from fleet.tests.factories import VehicleFactory, driver_user
from identity.tests.factories import UserFactory
from orders import services as order_services
from orders.models import Order, Payment
from orders.tests.factories import customer_user, make_order
from rappi.console.overview import lima_day, overview
from tracking import pings

pytestmark = pytest.mark.django_db

PASSWORD = "Sup3r-Secreta-2026"
LIMA = ZoneInfo("America/Lima")


def _sign_in(client, email, password=PASSWORD, **extra):
    return client.post(
        "/console/login/", {"username": email, "password": password}, **extra, follow=False
    )


# --- Sign-in and sign-out -------------------------------------------------------------------


def test_staff_sign_in_and_land_where_they_were_going():
    UserFactory(email="ops@rappi.pe", password=PASSWORD, role_name="dispatcher")
    client = Client()
    assert client.get("/console/orders/")["Location"] == "/console/login/?next=/console/orders/"
    response = client.post(
        "/console/login/?next=/console/orders/",
        {"username": "OPS@rappi.pe", "password": PASSWORD, "next": "/console/orders/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/console/orders/"
    assert client.get("/console/orders/").status_code == 200


@pytest.mark.parametrize("role", ["customer", "driver"])
def test_customers_and_drivers_are_refused_at_sign_in_with_a_clear_message(role):
    UserFactory(email="someone@example.pe", password=PASSWORD, role_name=role)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = _sign_in(client, "someone@example.pe")
    assert response.status_code == 200
    assert b"The console is for Rappi staff" in response.content
    assert "_auth_user_id" not in client.session


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong():
    UserFactory(email="ops@rappi.pe", password=PASSWORD, role_name="dispatcher")
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = _sign_in(client, "ops@rappi.pe", "nope")
    assert response.status_code == 200
    assert b"Wrong email or password." in response.content
    assert _sign_in(client, "nobody@rappi.pe", "nope").content.count(b"Wrong email") == 1


def test_the_console_spends_the_same_sign_in_budget_as_the_api(api):
    UserFactory(email="ops@rappi.pe", password=PASSWORD, role_name="dispatcher")
    for attempt in range(5):
        api.post(
            "/api/v1/auth/login",
            {"email": "ops@rappi.pe", "password": "wrong"},
            format="json",
            REMOTE_ADDR=f"10.2.0.{attempt}",
        )
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = _sign_in(client, "ops@rappi.pe", REMOTE_ADDR="10.2.0.99")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert b"Too many sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session  # even with the right password


def test_the_sign_in_form_needs_its_csrf_token():
    UserFactory(email="ops@rappi.pe", password=PASSWORD, role_name="dispatcher")
    response = _sign_in(Client(enforce_csrf_checks=True), "ops@rappi.pe")
    assert response.status_code == 403


def test_sign_out_is_a_post_and_ends_the_session():
    client = Client()
    client.force_login(UserFactory(role_name="dispatcher"))
    assert client.get("/console/logout/").status_code == 405
    assert client.post("/console/logout/")["Location"] == "/console/login/"
    assert client.get("/console/")["Location"].startswith("/console/login/")


def test_a_session_ends_after_a_shift():
    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    client = Client()
    client.force_login(UserFactory(role_name="dispatcher"))
    assert client.get("/console/").status_code == 200
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert client.get("/console/")["Location"].startswith("/console/login/")


# --- Language -------------------------------------------------------------------------------


def test_the_console_speaks_spanish_until_asked_otherwise_and_the_api_keeps_its_default(api):
    client = Client(HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    client.force_login(UserFactory(role_name="dispatcher"))
    page = client.get("/console/").content.decode()
    assert '<html lang="es">' in page
    assert "Pedidos" in page
    switched = client.post("/i18n/setlang/", {"language": "en", "next": "/console/"})
    assert switched.status_code == 302
    page = client.get("/console/").content.decode()
    assert '<html lang="en">' in page
    assert ">Orders<" in page
    answer = api.post("/api/v1/auth/login", {"email": "x@y.pe", "password": "z"}, format="json")
    assert answer.json()["error"]["message"] == "Email or password is incorrect."


# --- Overview -------------------------------------------------------------------------------


def test_the_lima_day_runs_from_local_midnight_to_local_midnight():
    start, end = lima_day(datetime(2026, 12, 5, 4, 30, tzinfo=ZoneInfo("UTC")))  # 23:30 Lima
    assert (start, end) == (
        datetime(2026, 12, 4, tzinfo=LIMA),
        datetime(2026, 12, 5, tzinfo=LIMA),
    )


def _tile(tiles, label):
    return next(tile for tile in tiles if str(tile.label) == label)


def test_the_overview_counts_the_day_the_waiting_and_the_road(django_assert_max_num_queries):
    staff = UserFactory(role_name="dispatcher")
    user, customer = customer_user()
    now = timezone.now()
    start, _end = lima_day(now)
    # Created today: one pending payment, two pending (paid by staff), one cancelled.
    make_order(customer=customer, by=user)
    paid = [make_order(customer=customer, by=staff) for _ in range(2)]
    cancelled = make_order(customer=customer, by=user)
    order_services.order_cancel(order=cancelled, reason="changed", by=user)
    for order in paid:
        order_services.payment_record_manual(
            order=order, amount=order.total, reference="caja", by=staff
        )
    # Unpaid for three days; and one created yesterday (not today's).
    stale = make_order(customer=customer, by=user)
    Order.objects.filter(pk=stale.pk).update(created_at=now - timedelta(days=3))
    # One run under way without any fix (silent), one assigned; incidents of severity 2 and 4.
    (_u1, driver1), (_u2, driver2) = driver_user(), driver_user()
    under_way = fleet_services.assignment_create(
        orders=[paid[0]], driver=driver1, vehicle=VehicleFactory(), by=staff
    )
    fleet_services.assignment_start(assignment=under_way, by=staff)
    fleet_services.assignment_create(
        orders=[paid[1]], driver=driver2, vehicle=VehicleFactory(), by=staff
    )
    fleet_services.incident_report(assignment=under_way, type="traffic", by=staff)
    fleet_services.incident_report(assignment=under_way, type="damaged_package", by=staff)
    old = fleet_services.incident_report(assignment=under_way, type="weather", by=staff)
    Incident.objects.filter(pk=old.pk).update(created_at=now - timedelta(hours=30))

    with django_assert_max_num_queries(8):
        figures = overview(now=now)

    today = {str(tile.label): tile.value for tile in figures["orders_today"]}
    assert today == {
        "Pending payment": 1,
        "Pending": 0,
        "Assigned": 1,
        "In transit": 1,
        "Delivered": 0,
        "Cancelled": 1,
    }
    attention = figures["attention"]
    assert _tile(attention, "Orders waiting for a run").value == 0
    assert _tile(attention, "Unpaid for more than 2 days").value == 1
    assert _tile(attention, "Runs in progress").value == 1
    assert _tile(attention, "Runs assigned, not started").value == 1
    assert _tile(figures["drivers"], "Busy").value == 2
    assert _tile(figures["drivers"], "Silent for 5 min").value == 1
    severities = {str(tile.label): tile.value for tile in figures["incidents"]}
    assert severities == {
        "Severity 5": 0,
        "Severity 4": 1,
        "Severity 3": 0,
        "Severity 2": 1,
        "Severity 1": 0,
    }
    assert figures["revenue_today"] == sum((order.total for order in paid), Decimal("0"))
    assert figures["day"] == start
    assert "status=pending_payment" in _tile(attention, "Unpaid for more than 2 days").url


def test_a_run_with_a_recent_fix_is_not_silent():
    staff = UserFactory(role_name="dispatcher")
    _user, customer = customer_user()
    order = make_order(customer=customer, by=staff)
    order_services.payment_record_manual(order=order, amount=order.total, reference="x", by=staff)
    _u, driver = driver_user()
    run = fleet_services.assignment_create(
        orders=[order], driver=driver, vehicle=VehicleFactory(), by=staff
    )
    fleet_services.assignment_start(assignment=run, by=staff)
    run.refresh_from_db()
    now = timezone.now()
    pings.pings_ingest(
        assignment_id=run.pk,
        driver_id=driver.pk,
        vehicle_plate=run.vehicle.plate,
        started_at=run.started_at,
        fixes=[pings.Fix(index=0, lat=-16.4, lng=-71.53, recorded_at=now, accuracy_m=5)],
        now=now,
    )
    assert _tile(overview(now=now)["drivers"], "Silent for 5 min").value == 0


def test_revenue_counts_the_lima_day_not_the_utc_day():
    staff = UserFactory(role_name="dispatcher")
    _user, customer = customer_user()
    order = make_order(customer=customer, by=staff)
    payment = order_services.payment_record_manual(
        order=order, amount=order.total, reference="x", by=staff
    )
    late_evening = datetime(2026, 12, 4, 23, 30, tzinfo=LIMA)  # 04:30 UTC on the 5th
    Payment.objects.filter(pk=payment.pk).update(paid_at=late_evening)
    assert overview(now=late_evening + timedelta(minutes=10))["revenue_today"] == order.total
    assert overview(now=late_evening + timedelta(hours=1))["revenue_today"] == 0

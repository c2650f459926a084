"""The order admin: an order's runs on its page, the current run and the schedule in the
list, filtered by when orders are scheduled, at a fixed number of queries."""

import re
from datetime import datetime, time, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import formats, timezone, translation

from fleet import services as fleet_services
from fleet.tests.factories import VehicleFactory, driver_user
from orders.models import Order
from orders.tests.factories import CustomerFactory, make_order

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/orders/order/"


def new_order(by, **extra):
    return make_order(customer=CustomerFactory(), by=by, **extra)


def new_run(orders, by):
    _user, driver = driver_user()
    return fleet_services.assignment_create(
        orders=orders, driver=driver, vehicle=VehicleFactory(), by=by
    )


def order_rows(html: str) -> dict[int, str]:
    """The changelist's rows by order id: their cells' HTML, whitespace squeezed."""
    found = {}
    for row in re.findall(r"<tr>(.*?)</tr>", html, re.S):
        checkbox = re.search(r'name="_selected_action" value="(\d+)"', row)
        if checkbox:
            found[int(checkbox.group(1))] = re.sub(r"\s+", " ", row)
    return found


def listed(admin_site, **params) -> set[int]:
    response = admin_site.get(LIST_URL, params)
    assert response.status_code == 200
    return set(order_rows(response.content.decode()))


def run_link(run) -> str:
    return f'href="/admin/fleet/assignment/{run.pk}/change/"'


def test_the_order_page_lists_its_runs_with_links_and_status(admin_site, dispatcher):
    order = new_order(dispatcher)
    cancelled = new_run([order], dispatcher)
    fleet_services.assignment_cancel(assignment=cancelled, reason="wrong van")
    current = new_run([order], dispatcher)
    response = admin_site.get(f"/admin/orders/order/{order.pk}/change/")
    assert response.status_code == 200
    html = re.sub(r"\s+", " ", response.content.decode())
    assert run_link(current) in html
    assert run_link(cancelled) in html
    assert f"Run #{current.pk}</a> (Assigned)" in html
    assert f"Run #{cancelled.pk}</a> (Cancelled)" in html
    assert html.index(run_link(current)) < html.index(run_link(cancelled))  # newest first


def test_an_order_without_runs_says_so(admin_site, dispatcher):
    order = new_order(dispatcher)
    html = admin_site.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    assert "No run yet" in html


def test_the_list_shows_each_orders_current_run_and_its_schedule(admin_site, dispatcher):
    when = timezone.now() + timedelta(days=2)
    in_run = new_order(dispatcher, scheduled_for=when)
    back_to_pending = new_order(dispatcher)
    run = new_run([in_run], dispatcher)
    fleet_services.assignment_cancel(assignment=new_run([back_to_pending], dispatcher))
    rows = order_rows(admin_site.get(LIST_URL).content.decode())
    assert run_link(run) in rows[in_run.pk]
    assert f"Run #{run.pk}" in rows[in_run.pk]
    assert "/admin/fleet/assignment/" not in rows[back_to_pending.pk]  # a cancelled run is over
    with translation.override("en"):
        shown = formats.localize(timezone.localtime(when))
    assert shown in rows[in_run.pk]


def test_the_list_filters_by_schedule_in_lima_days(admin_site, dispatcher):
    today = timezone.localdate()
    zone = timezone.get_current_timezone()

    def at(days: int, hour: int) -> datetime:
        return datetime.combine(today + timedelta(days=days), time(hour), tzinfo=zone)

    earlier, this_morning, tonight, tomorrow, next_week, later = (
        new_order(dispatcher) for _ in range(6)
    )
    unscheduled = new_order(dispatcher)
    for order, when in [
        (earlier, at(-1, 23)),
        (this_morning, at(0, 0)),
        (tonight, at(0, 23)),
        (tomorrow, at(1, 8)),
        (next_week, at(6, 23)),
        (later, at(7, 0)),
    ]:
        Order.objects.filter(pk=order.pk).update(scheduled_for=when)
    assert listed(admin_site, scheduled="today") == {this_morning.pk, tonight.pk}
    assert listed(admin_site, scheduled="tomorrow") == {tomorrow.pk}
    assert listed(admin_site, scheduled="next_7_days") == {
        this_morning.pk,
        tonight.pk,
        tomorrow.pk,
        next_week.pk,
    }
    assert listed(admin_site, scheduled="earlier") == {earlier.pk}
    assert listed(admin_site, scheduled="unscheduled") == {unscheduled.pk}
    assert len(listed(admin_site)) == 7
    html = admin_site.get(LIST_URL).content.decode()
    assert "?scheduled=tomorrow" in html  # offered in the filter sidebar


def test_the_order_list_costs_the_same_queries_for_2_or_20_orders(admin_site, dispatcher):
    def add(count):
        for _ in range(count):
            new_run([new_order(dispatcher, scheduled_for=timezone.now())], dispatcher)

    def cost(size):
        with CaptureQueriesContext(connection) as sql:
            response = admin_site.get(LIST_URL)
        assert len(order_rows(response.content.decode())) == size
        return len(sql)

    add(2)
    two = cost(2)
    add(18)
    assert cost(20) == two

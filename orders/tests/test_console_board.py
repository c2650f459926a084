"""The console's orders board: the API's filters as a form (several statuses, Lima
date-time pickers), search, the API's ordering as clickable headers, paging, the 10-second
refresh, a constant number of queries; and the assign panel: drivers ranked for the ticked
orders with the reasons they cannot take them, and a run created through
`assignment_create`, or refused with its reason and the ticks kept."""

import re
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fleet import services as fleet_services
from fleet.models import Assignment, Availability
from fleet.restriction import LIMA
from fleet.tests.factories import VehicleFactory, driver_user
from identity.tests.factories import RoleFactory, UserFactory
from orders.models import Order, OrderStatus
from orders.tests.factories import CustomerFactory, customer_user, drop, make_order
from rappi.testing.console import console_client, messages_of
from tracking.documents import DriverPosition

pytestmark = pytest.mark.django_db

BOARD = "/console/orders/"
ASSIGN = "/console/orders/assign/"


def order_ids_in(response) -> list[int]:
    """The orders listed on the board, in order (each row links to its page)."""
    return [
        int(pk) for pk in re.findall(r'href="/console/orders/(\d+)/"', response.content.decode())
    ]


def lima(year, month, day, hour, minute) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LIMA)


# --- Filters, search, ordering, paging -------------------------------------------------------


def test_the_board_lists_orders_each_linking_to_its_page(console, dispatcher):
    order = make_order(customer=CustomerFactory(full_name="Panadería Sol"), by=dispatcher)
    response = console.get(BOARD)
    assert response.status_code == 200
    assert order_ids_in(response) == [order.pk]
    assert "Panadería Sol" in response.content.decode()


def test_several_statuses_are_filtered_at_once(console, dispatcher):
    customer_login, customer = customer_user()
    unpaid = make_order(customer=customer, by=customer_login)  # pending_payment
    pending = make_order(customer=customer, by=dispatcher)
    cancelled = make_order(customer=customer, by=dispatcher)
    Order.objects.filter(pk=cancelled.pk).update(status=OrderStatus.CANCELLED)
    response = console.get(BOARD, {"status": ["pending", "pending_payment"]})
    assert sorted(order_ids_in(response)) == sorted([unpaid.pk, pending.pk])
    # The ticked statuses stay ticked in the form.
    ticked = re.findall(
        r'name="status" value="(\w+)" id="id_status_\d+" checked', response.content.decode()
    )
    assert sorted(ticked) == ["pending", "pending_payment"]


def test_service_level_district_and_search_filter_the_rows(console, dispatcher):
    sol = CustomerFactory(full_name="Panadería Sol")
    express = make_order(customer=sol, by=dispatcher, level="express")
    in_yanahuara = make_order(
        customer=CustomerFactory(), by=dispatcher, drops=[drop(district="Yanahuara")]
    )
    assert order_ids_in(console.get(BOARD, {"service_level": "express"})) == [express.pk]
    assert order_ids_in(console.get(BOARD, {"district": "yanahuara"})) == [in_yanahuara.pk]
    assert order_ids_in(console.get(BOARD, {"search": "panadería"})) == [express.pk]
    assert order_ids_in(console.get(BOARD, {"search": f"#{in_yanahuara.pk}"})) == [in_yanahuara.pk]


def test_a_date_time_typed_in_the_picker_is_lima_time(console, dispatcher):
    day = (timezone.now() + timedelta(days=3)).astimezone(LIMA)
    at = lima(day.year, day.month, day.day, 14, 5)
    order = make_order(customer=CustomerFactory(), by=dispatcher, scheduled_for=at)
    make_order(customer=CustomerFactory(), by=dispatcher)  # unscheduled: in no range
    typed = at.strftime("%Y-%m-%dT%H:%M")  # what a datetime-local input sends
    later = (at + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M")
    assert order_ids_in(console.get(BOARD, {"scheduled_after": typed})) == [order.pk]
    assert order_ids_in(console.get(BOARD, {"scheduled_after": later})) == []
    assert order_ids_in(console.get(BOARD, {"scheduled_before": later})) == [order.pk]
    page = console.get(BOARD, {"scheduled_after": typed}).content.decode()
    assert f'type="datetime-local" name="scheduled_after" value="{typed}"' in page


def test_a_link_with_an_offset_shows_its_instant_in_lima_time_in_the_picker(console):
    # The overview links with ISO instants; submitting the form again must keep them.
    response = console.get(BOARD, {"created_after": "2026-12-04T05:00:00+00:00"})
    assert 'name="created_after" value="2026-12-04T00:00"' in response.content.decode()


def test_a_link_with_seconds_lets_the_picker_keep_them(console):
    response = console.get(BOARD, {"created_before": "2026-12-02T18:53:12.5+00:00"})
    page = response.content.decode()
    assert (
        'name="created_before" value="2026-12-02T13:53:12" id="id_created_before" step="1"' in page
    )


def test_an_invalid_filter_is_shown_and_lists_no_rows(console, dispatcher):
    make_order(customer=CustomerFactory(), by=dispatcher)
    response = console.get(BOARD, {"created_after": "yesterday", "status": "lost"})
    assert response.status_code == 200
    assert order_ids_in(response) == []
    errors = response.context["filters"].form.errors
    assert set(errors) == {"created_after", "status"}
    page = response.content.decode()
    assert "Enter a valid date/time." in page
    assert "No order matches these filters." in page


def test_the_column_headers_order_the_rows_as_the_api_does(console, dispatcher):
    cheap = make_order(customer=CustomerFactory(), by=dispatcher, drops=[drop(weight="1")])
    dear = make_order(customer=CustomerFactory(), by=dispatcher, drops=[drop(weight="300")])
    assert cheap.total < dear.total
    assert order_ids_in(console.get(BOARD, {"ordering": "total"})) == [cheap.pk, dear.pk]
    response = console.get(BOARD, {"ordering": "-total"})
    assert order_ids_in(response) == [dear.pk, cheap.pk]
    # The sorted column says so, and its link turns the order around.
    column = response.context["columns"]["total"]
    assert column["sort"] == "descending"
    assert "ordering=total" in column["url"]
    assert 'aria-sort="descending"' in response.content.decode()
    ascending = console.get(BOARD, {"ordering": "total"}).context["columns"]["total"]
    assert "ordering=-total" in ascending["url"]


def test_an_ordering_outside_the_api_whitelist_is_shown_and_lists_no_rows(console, dispatcher):
    make_order(customer=CustomerFactory(), by=dispatcher)
    response = console.get(BOARD, {"ordering": "customer__user__password"})
    assert order_ids_in(response) == []
    assert "Unknown ordering field(s): customer__user__password" in response.content.decode()


def test_the_board_pages_through_the_orders(console, dispatcher):
    customer = CustomerFactory()
    orders = [make_order(customer=customer, by=dispatcher) for _ in range(27)]
    first = console.get(BOARD)
    assert len(order_ids_in(first)) == 25
    second = console.get(BOARD, {"page": 2})
    assert sorted(order_ids_in(second)) == sorted(o.pk for o in orders[:2])
    assert "Page 2 of 2" in second.content.decode()


def _board_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(BOARD).status_code == 200
    return len(queries)


def test_the_board_costs_the_same_queries_for_2_and_30_orders(console, dispatcher):
    customers = [CustomerFactory() for _ in range(3)]
    for index in range(2):
        make_order(customer=customers[index % 3], by=dispatcher, drops=[drop(), drop()])
    two = _board_queries(console)
    for index in range(28):
        make_order(customer=customers[index % 3], by=dispatcher, drops=[drop(), drop()])
    assert _board_queries(console) == two
    assert two <= 8


def test_the_refresh_returns_the_rows_only_and_does_not_force_the_ticks(console, dispatcher):
    order = make_order(customer=CustomerFactory(), by=dispatcher)
    page = console.get(BOARD, {"status": "pending", "order_ids": order.pk})
    # The region polls the board without `order_ids`: unticking survives a refresh.
    assert page.context["refresh_url"] == f"{BOARD}?status=pending"
    rows = console.get(BOARD, {"status": "pending"}, headers={"HX-Request": "true"})
    body = rows.content.decode()
    assert "<html" not in body
    assert f'value="{order.pk}"' in body


def test_only_pending_orders_can_be_ticked(console, dispatcher):
    login, customer = customer_user()
    unpaid = make_order(customer=customer, by=login)
    pending = make_order(customer=customer, by=dispatcher)
    page = console.get(BOARD).content.decode()
    assert f'name="order_ids" value="{pending.pk}"' in page
    assert f'name="order_ids" value="{unpaid.pk}"' not in page
    assert "data-keep" in page
    assert 'form="assign-form"' in page


def test_a_role_that_cannot_create_runs_sees_no_ticks_nor_panel(dispatcher):
    reader = console_client(UserFactory(role=RoleFactory(grants=["orders:read"])))
    order = make_order(customer=CustomerFactory(), by=dispatcher)
    response = reader.get(BOARD, {"order_ids": order.pk})
    page = response.content.decode()
    assert response.status_code == 200
    assert order_ids_in(response) == [order.pk]
    assert 'name="order_ids"' not in page
    assert "Suggest drivers" not in page
    assert "panel" not in response.context


# --- The assign panel ------------------------------------------------------------------------


def driver_with_vehicle(*, name: str, plate: str, capacity="900", at=None, **vehicle):
    _user, driver = driver_user(full_name=name)
    driver = fleet_services.driver_set_vehicle(
        driver=driver,
        vehicle=VehicleFactory(plate=plate, capacity_kg=Decimal(capacity), **vehicle),
    )
    if at is not None:  # a last fix (lat, lng), as the ping ingest keeps it
        now = timezone.now()
        DriverPosition._get_collection().insert_one(
            {
                "driver_id": driver.pk,
                "assignment_id": 0,
                "location": {"type": "Point", "coordinates": [at[1], at[0]]},
                "recorded_at": now,
                "received_at": now,
            }
        )
    return driver


def test_suggest_drivers_ranks_them_with_their_reasons_in_plain_words(console, dispatcher):
    order = make_order(customer=CustomerFactory(), by=dispatcher)
    near = driver_with_vehicle(name="Ana Near", plate="ABC-101", at=(-16.3990, -71.5370))
    driver_with_vehicle(name="Bruno Far", plate="ABC-102", at=(-16.45, -71.60))
    busy = driver_with_vehicle(name="Carla Busy", plate="ABC-103")
    other = make_order(customer=CustomerFactory(), by=dispatcher)
    run = fleet_services.assignment_create(
        orders=[other], driver=busy, vehicle=busy.vehicle, by=dispatcher
    )
    response = console.get(BOARD, {"order_ids": order.pk})
    panel = response.context["panel"]
    names = [entry["driver_name"] for entry in panel["suggestions"]["results"]]
    assert names == ["Ana Near", "Bruno Far", "Carla Busy"]
    page = response.content.decode()
    assert f"Carla Busy is on run #{run.pk} (assigned)." in page
    # Each driver who may be given the run has a form: the offered vehicle pre-selected
    # among every usable one (the busy van says where it is).
    assert f'name="driver_id" value="{near.pk}"' in page
    assert f'name="driver_id" value="{busy.pk}"' not in page
    assert f'<option value="{near.vehicle_id}" selected>ABC-101' in page
    assert f"ABC-103 · Van · 900 kg · on run #{run.pk}" in page


def test_the_panel_weighs_every_ticked_order_together(console, dispatcher):
    first = make_order(customer=CustomerFactory(), by=dispatcher, drops=[drop(weight="300")])
    second = make_order(customer=CustomerFactory(), by=dispatcher, drops=[drop(weight="300")])
    driver_with_vehicle(name="Dora Small", plate="SML-501", capacity="500")
    response = console.get(BOARD, {"order_ids": [first.pk, second.pk]})
    suggestions = response.context["panel"]["suggestions"]
    assert suggestions["required_kg"] == Decimal("600")
    [entry] = suggestions["results"]
    assert entry["has_capacity"] is False
    assert not entry["eligible"]
    page = response.content.decode()
    assert "600 of 500 kg" in page
    assert "The load, 600.000 kg, is more than the 500.0 kg SML-501 carries." in page


def test_a_spare_vehicle_offered_instead_of_the_drivers_own_is_preselected(console, dispatcher):
    order = make_order(customer=CustomerFactory(), by=dispatcher, drops=[drop(weight="50")])
    driver = driver_with_vehicle(name="Ana Moto", plate="MTO-101", capacity="20", type="motorcycle")
    spare = VehicleFactory(plate="VAN-900", capacity_kg=Decimal("900"))
    page = console.get(BOARD, {"order_ids": order.pk}).content.decode()
    assert "Offered a spare vehicle, VAN-900; its own cannot:" in page
    assert "The load, 50.000 kg, is more than the 20.0 kg MTO-101 carries." in page
    assert f'<option value="{spare.pk}" selected>VAN-900' in page
    assert f'<option value="{driver.vehicle_id}">MTO-101' in page


def test_the_panel_says_which_ticked_orders_cannot_go_in_a_run(console, dispatcher):
    login, customer = customer_user()
    unpaid = make_order(customer=customer, by=login)
    response = console.get(BOARD, {"order_ids": [unpaid.pk, 999999]})
    page = response.content.decode()
    assert f"Order #{unpaid.pk} is Pending payment: only pending (paid) orders" in page
    assert "No order #999999." in page


def test_assign_creates_the_run_through_the_service_and_opens_it(console, dispatcher):
    orders = [make_order(customer=CustomerFactory(), by=dispatcher) for _ in range(2)]
    driver = driver_with_vehicle(name="Ana Near", plate="ABC-101")
    response = console.post(
        ASSIGN,
        {
            "order_ids": [o.pk for o in orders],
            "driver_id": driver.pk,
            "vehicle_id": driver.vehicle_id,
            "back": "status=pending",
        },
    )
    run = Assignment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/console/runs/{run.pk}/"
    assert sorted(run.orders.values_list("pk", flat=True)) == sorted(o.pk for o in orders)
    assert run.created_by == dispatcher
    assert run.vehicle_id == driver.vehicle_id
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.ASSIGNED}
    driver.refresh_from_db()
    assert driver.availability == Availability.BUSY
    followed = console.get(response["Location"])
    assert f"Run #{run.pk} created: 2 orders for Ana Near in ABC-101." in messages_of(followed)


def _back_query(response) -> dict:
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == BOARD
    return parse_qs(location.query)


def test_a_busy_vehicle_is_refused_with_its_reason_and_the_ticks_kept(console, dispatcher):
    order = make_order(customer=CustomerFactory(), by=dispatcher)
    driver = driver_with_vehicle(name="Ana Near", plate="ABC-101")
    busy = driver_with_vehicle(name="Carla Busy", plate="V2B-456")
    other = make_order(customer=CustomerFactory(), by=dispatcher)
    run = fleet_services.assignment_create(
        orders=[other], driver=busy, vehicle=busy.vehicle, by=dispatcher
    )
    fleet_services.assignment_start(assignment=run, by=dispatcher)
    response = console.post(
        ASSIGN,
        {
            "order_ids": [order.pk],
            "driver_id": driver.pk,
            "vehicle_id": busy.vehicle_id,
            "back": "status=pending&ordering=-total",
        },
    )
    assert _back_query(response) == {
        "status": ["pending"],
        "ordering": ["-total"],
        "order_ids": [str(order.pk)],
    }
    followed = console.get(response["Location"])
    assert f"V2B-456 is already on run #{run.pk} (in progress)." in messages_of(followed)
    assert f'value="{order.pk}" form="assign-form" data-keep' in followed.content.decode()
    assert followed.context["panel"]["orders"] == [order]
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING
    assert Assignment.objects.count() == 1


def test_a_load_over_capacity_is_refused_with_the_numbers(console, dispatcher):
    order = make_order(customer=CustomerFactory(), by=dispatcher, drops=[drop(weight="2")])
    driver = driver_with_vehicle(name="Ana Near", plate="MTO-101", capacity="1")
    response = console.post(
        ASSIGN, {"order_ids": [order.pk], "driver_id": driver.pk, "vehicle_id": driver.vehicle_id}
    )
    assert _back_query(response) == {"order_ids": [str(order.pk)]}
    [message] = messages_of(console.get(response["Location"]))
    assert message == "The load, 2.000 kg, is more than the 1.0 kg MTO-101 carries."
    assert not Assignment.objects.exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"order_ids": ["999999"]}, "No order #999999: it may have been deleted."),
        ({"driver_id": "999999"}, "No such driver: choose one from the suggestions."),
        ({"vehicle_id": "999999"}, "No such vehicle: choose one from the list."),
        ({"order_ids": ["x1"]}, "Orders: Choose orders by their numbers."),
        ({"order_ids": []}, "Orders: Tick the pending orders to assign."),
        ({"vehicle_id": ""}, "Vehicle: This field is required."),
        ({"driver_id": "99999999999999999999"}, "Driver: Ensure this value is less than"),
    ],
)
def test_a_bad_choice_is_a_message_never_a_500(console, dispatcher, change, expected):
    order = make_order(customer=CustomerFactory(), by=dispatcher)
    driver = driver_with_vehicle(name="Ana Near", plate="ABC-101")
    body = {"order_ids": [order.pk], "driver_id": driver.pk, "vehicle_id": driver.vehicle_id}
    response = console.post(ASSIGN, {**body, **change})
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == BOARD
    shown = messages_of(console.get(response["Location"]))
    assert any(message.startswith(expected) for message in shown), shown
    assert not Assignment.objects.exists()


def test_assigning_needs_the_runs_write_grant(dispatcher):
    order = make_order(customer=CustomerFactory(), by=dispatcher)
    driver = driver_with_vehicle(name="Ana Near", plate="ABC-101")
    reader = console_client(
        UserFactory(role=RoleFactory(grants=["orders:*", "assignments:read", "drivers:read"]))
    )
    response = reader.post(
        ASSIGN, {"order_ids": [order.pk], "driver_id": driver.pk, "vehicle_id": driver.vehicle_id}
    )
    assert response.status_code == 403
    assert not Assignment.objects.exists()

"""The order timeline as runs change orders: assigned, taken off a cancelled or deleted run,
run started, each drop-off delivered or failed (the last one closing the order), a forced
finish, a reopen, a cancellation inside a run, and the rating. One event per change, and
every status change of an order on its timeline exactly once."""

import re
from decimal import Decimal
from itertools import pairwise

import pytest
from django.core.management import call_command
from django.utils import translation

from fleet import services
from fleet.errors import AssignmentNotInProgressError, CapacityExceededError
from fleet.tests.factories import VehicleFactory, driver_user
from fleet.tests.helpers import photo
from orders import services as order_services
from orders import timeline
from orders.models import Order, OrderEvent
from orders.tests.factories import customer_user, drop, make_order
from orders.tests.helpers import events_of, records
from tracking.tests.factories import small_jpeg

pytestmark = pytest.mark.django_db

PHOTO = ("door.jpg", small_jpeg())


@pytest.fixture
def people(dispatcher):
    driver_login, driver = driver_user(full_name="Pedro Quispe")
    customer_login, customer = customer_user()
    return {
        "dispatcher": dispatcher,
        "driver_login": driver_login,
        "driver": driver,
        "customer_login": customer_login,
        "customer": customer,
    }


@pytest.fixture
def orders(people):
    """Two orders staff created for one customer (pending): the first with two drop-offs."""
    by = people["dispatcher"]
    return [
        make_order(customer=people["customer"], by=by, drops=[drop(), drop(lat="-16.4100")]),
        make_order(customer=people["customer"], by=by),
    ]


@pytest.fixture
def vehicle():
    return VehicleFactory(plate="V1A-321", capacity_kg=Decimal("500"))


def _run(people, orders, vehicle):
    return services.assignment_create(
        orders=orders, driver=people["driver"], vehicle=vehicle, by=people["dispatcher"]
    )


@pytest.fixture
def started(people, orders, vehicle):
    run = _run(people, orders, vehicle)
    services.assignment_start(assignment=run, by=people["driver_login"])
    return run


def _deliver(run, destination, by, name="Marta Ccama"):
    return services.destination_deliver(
        assignment=run, destination_id=destination.pk, received_by=name, photo=PHOTO, by=by
    )


def _fail(run, destination, by, reason="Nadie en casa"):
    return services.destination_fail(
        assignment=run, destination_id=destination.pk, reason=reason, photo=PHOTO, by=by
    )


def _drops(order):
    return list(order.destinations.order_by("sequence"))


def test_putting_orders_in_a_run_records_assigned_on_each(people, orders, vehicle):
    with records(orders[0], "assigned") as first, records(orders[1], "assigned") as second:
        run = _run(people, orders, vehicle)
    for (event,) in (first, second):
        assert (event.from_status, event.to_status) == ("pending", "assigned")
        assert (event.actor_id, event.actor_role) == (people["dispatcher"].pk, "staff")
        assert event.data == {
            "assignment_id": run.pk,
            "driver_id": people["driver"].pk,
            "driver_name": "Pedro Quispe",
            "vehicle_id": vehicle.pk,
            "vehicle_plate": "V1A-321",
        }


def test_a_refused_run_records_nothing(people, orders):
    small = VehicleFactory(capacity_kg=Decimal("1"))
    with records(orders[0]), pytest.raises(CapacityExceededError):
        _run(people, orders, small)


def test_cancelling_a_run_over_the_api_records_unassigned_with_the_staff_reason(
    people, orders, vehicle, client_for
):
    run = _run(people, orders, vehicle)
    with records(orders[0], "unassigned") as new:
        response = client_for(people["dispatcher"]).post(
            f"/api/v1/assignments/{run.pk}/cancel", {"reason": "Vehículo averiado"}, format="json"
        )
    assert response.status_code == 200, response.content
    (event,) = new
    assert (event.from_status, event.to_status) == ("assigned", "pending")
    assert event.data == {"assignment_id": run.pk, "reason": "Vehículo averiado"}
    assert event.actor_id == people["dispatcher"].pk
    # Why a run was cancelled is dispatch's business.
    customer = client_for(people["customer_login"])
    seen = customer.get(f"/api/v1/orders/{orders[0].pk}/events").json()["results"][-1]
    assert seen["type"] == "unassigned"
    assert seen["data"] == {"assignment_id": run.pk}
    assert "averiado" not in seen["description"]


def test_deleting_a_run_over_the_api_records_unassigned(people, orders, vehicle, client_for):
    run = _run(people, orders, vehicle)
    with records(orders[1], "unassigned") as new:
        response = client_for(people["dispatcher"]).delete(f"/api/v1/assignments/{run.pk}")
    assert response.status_code == 204
    assert new[0].data == {"assignment_id": run.pk, "run_deleted": True}
    assert new[0].actor_role == "staff"


def test_starting_the_run_records_run_started_by_the_driver(people, orders, vehicle, client_for):
    run = _run(people, orders, vehicle)
    with records(orders[0], "run_started") as new:
        response = client_for(people["driver_login"]).post(f"/api/v1/assignments/{run.pk}/start")
    assert response.status_code == 200, response.content
    assert (new[0].from_status, new[0].to_status) == ("assigned", "in_transit")
    assert (new[0].actor_role, new[0].data) == ("driver", {"assignment_id": run.pk})


def test_each_delivery_records_one_event_and_the_last_carries_the_orders_closing(
    people, orders, started
):
    first, second = _drops(orders[0])
    driver = people["driver_login"]
    with records(orders[0], "delivered") as new:
        _deliver(started, first, driver)
    event = new[0]
    assert (event.destination_id, event.from_status, event.to_status) == (first.pk, "", "")
    assert event.data == {
        "assignment_id": started.pk,
        "destination_id": first.pk,
        "sequence": 1,
        "received_by": "Marta Ccama",
    }
    assert event.actor_role == "driver"

    with records(orders[0], "delivered") as last:
        _deliver(started, second, driver, name="Luis Apaza")
    assert (last[0].destination_id, last[0].from_status, last[0].to_status) == (
        second.pk,
        "in_transit",
        "delivered",
    )
    with translation.override("en"):
        assert timeline.describe(last[0]) == (
            "Drop-off 2 delivered to Luis Apaza; the order is now delivered"
        )


def test_a_delivery_over_the_api_records_one_event(people, orders, started, client_for):

    destination = _drops(orders[1])[0]
    with records(orders[1], "delivered") as new:
        response = client_for(people["driver_login"]).post(
            f"/api/v1/assignments/{started.pk}/destinations/{destination.pk}/deliver",
            {"received_by": "Ana", "photo": photo()},
            format="multipart",
        )
    assert response.status_code == 200, response.content
    assert new[0].to_status == "delivered"


def test_a_failed_drop_off_records_failed_and_the_last_failure_cancels_the_order(
    people, orders, started
):
    driver = people["driver_login"]
    with records(orders[1], "failed") as new:
        _fail(started, _drops(orders[1])[0], driver)
    event = new[0]
    assert (event.from_status, event.to_status) == ("in_transit", "cancelled")
    assert event.data["reason"] == "Nadie en casa"
    assert event.data["incident_id"]
    assert timeline.event_data_for(event, for_staff=False).keys() == {
        "assignment_id",
        "destination_id",
        "sequence",
        "reason",
    }
    # A failure that leaves a drop-off pending changes no status.
    with records(orders[0], "failed") as partial:
        _fail(started, _drops(orders[0])[0], driver)
    assert partial[0].to_status == ""


def test_a_refused_delivery_records_nothing(people, orders, vehicle):
    run = _run(people, orders, vehicle)  # not started yet
    with records(orders[0]), pytest.raises(AssignmentNotInProgressError):
        _deliver(run, _drops(orders[0])[0], people["driver_login"])


def test_a_forced_finish_records_one_run_finished_event_per_order_it_closes(
    people, orders, started
):
    driver = people["driver_login"]
    for destination in _drops(orders[1]):
        _deliver(started, destination, driver)  # closed before the finish
    _deliver(started, _drops(orders[0])[0], driver)
    pending = _drops(orders[0])[1]
    with records(orders[0], "run_finished") as new, records(orders[1]):
        services.assignment_finish(
            assignment=started, reason="Camión averiado", by=people["dispatcher"]
        )
    event = new[0]
    assert (event.from_status, event.to_status) == ("in_transit", "delivered")
    assert event.data["failed_destination_ids"] == [pending.pk]
    assert (event.data["reason"], event.actor_role) == ("Camión averiado", "staff")


def test_reopening_a_run_records_reopened_on_the_orders_it_reopens(people, orders, started):
    driver = people["driver_login"]
    for order in orders:
        for destination in _drops(order):
            _fail(started, destination, driver)
    started.refresh_from_db()
    assert started.status == "finished"
    with records(orders[0], "reopened") as first, records(orders[1], "reopened"):
        services.assignment_reopen(assignment=started, by=people["dispatcher"])
    assert (first[0].from_status, first[0].to_status) == ("cancelled", "in_transit")
    assert first[0].data == {
        "assignment_id": started.pk,
        "reopened_destination_ids": [d.pk for d in _drops(orders[0])],
        "include_delivered": False,
    }


def test_staff_cancelling_an_order_in_a_run_records_only_its_cancellation(
    people, orders, started, client_for
):
    with records(orders[1], "cancelled") as new, records(orders[0]):
        response = client_for(people["dispatcher"]).post(
            f"/api/v1/orders/{orders[1].pk}/cancel", {"reason": "Cliente canceló"}, format="json"
        )
    assert response.status_code == 200, response.content
    assert (new[0].from_status, new[0].to_status) == ("in_transit", "cancelled")


def test_rating_a_delivered_order_records_rated(people, orders, started):
    for destination in _drops(orders[1]):
        _deliver(started, destination, people["driver_login"])
    with records(orders[1], "rated") as new:
        order_services.rating_create(
            order=orders[1], score=4, comment="Bien", by=people["customer_login"]
        )
    assert new[0].data["score"] == 4
    assert new[0].actor_role == "customer"


def test_every_status_change_is_on_the_timeline_exactly_once(people, orders, started):
    """A whole life: created, assigned, started, delivered, finished, reopened, closed."""
    driver = people["driver_login"]
    first, second = _drops(orders[0])
    _deliver(started, first, driver)
    _fail(started, second, driver)
    _fail(started, _drops(orders[1])[0], driver)
    services.assignment_reopen(assignment=started, by=people["dispatcher"])
    for order in orders:
        for destination in order.destinations.filter(status="pending"):
            _deliver(started, destination, driver)
    for order in orders:
        changes = [(e.from_status, e.to_status) for e in events_of(order) if e.to_status]
        # Each change starts where the one before ended, and the last is where it is.
        assert changes[0] == ("", "pending")
        assert all(prev[1] == nxt[0] for prev, nxt in pairwise(changes))
        assert changes[-1][1] == Order.objects.get(pk=order.pk).status == "delivered"
    assert [(e.type, e.to_status) for e in events_of(orders[0])] == [
        ("created", "pending"),
        ("assigned", "assigned"),
        ("run_started", "in_transit"),
        ("delivered", ""),
        ("failed", "delivered"),
        ("reopened", "in_transit"),
        ("delivered", "delivered"),
    ]


# --- Through the admin ---------------------------------------------------------------------------


def test_the_admins_cancel_action_records_who_took_the_orders_off(
    people, orders, vehicle, admin_site
):
    run = _run(people, orders, vehicle)
    with records(orders[0], "unassigned") as new:
        response = admin_site.post(
            "/admin/fleet/assignment/",
            {"action": "cancel_runs", "_selected_action": [run.pk]},
        )
    assert response.status_code == 302
    assert (new[0].actor_id, new[0].actor_role) == (people["dispatcher"].pk, "staff")


def test_editing_an_order_in_the_admin_records_who_repriced_it(people, orders, admin_site):
    order = orders[1]
    with records(order, "repriced") as new:
        response = admin_site.post(
            f"/admin/orders/order/{order.pk}/change/",
            {
                "service_level": "express",
                "scheduled_for_0": "",
                "scheduled_for_1": "",
                "notes": "Llamar antes",
                **_inline_management(admin_site, order),
            },
        )
    assert response.status_code == 302, response.content[:2000]
    assert new[0].actor_id == people["dispatcher"].pk
    assert new[0].data["fields"] == ["notes", "service_level"]


def _inline_management(client, order) -> dict:
    """The change form's hidden inputs (inline management forms, the inlines' ids), as
    the page renders them."""
    html = client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    return {
        name: value
        for tag in re.findall(r"<input [^>]*>", html)
        if 'type="hidden"' in tag
        for name, value in re.findall(r'name="([^"]+)"[^>]*value="([^"]*)"', tag)
        if name != "csrfmiddlewaretoken"
    }


# --- The demo -------------------------------------------------------------------------------------


def test_every_demo_order_has_its_timeline_and_a_reset_rebuilds_it():
    call_command("seed_demo", verbosity=0)
    demo = Order.objects.filter(notes__startswith="[demo]")
    assert demo.exists()
    for order in demo:
        types = [e.type for e in events_of(order)]
        assert types[0] == "created", order.notes
        last_change = [e.to_status for e in events_of(order) if e.to_status][-1]
        assert last_change == order.status, order.notes
    delivered = demo.get(notes="[demo] for run delivered")
    assert [e.type for e in events_of(delivered)] == [
        "created",
        "paid",
        "assigned",
        "run_started",
        "delivered",
        "delivered",
        "rated",
    ]
    before = OrderEvent.objects.count()
    old_ids = list(demo.values_list("pk", flat=True))
    call_command("seed_demo", verbosity=0)  # idempotent: nothing new
    assert OrderEvent.objects.count() == before
    call_command("seed_demo", "--reset", verbosity=0)
    # The old orders went with their timelines; the new ones have theirs.
    assert not OrderEvent.objects.filter(order_id__in=old_ids).exists()
    assert OrderEvent.objects.count() == before

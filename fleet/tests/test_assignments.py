"""Runs: every creation check accepting and refusing, one live run per vehicle and per
driver (checks, database backstop, races), start, cancel, delete, an order cancelled
inside a run, driver scope and list cost."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from fleet import services
from fleet.errors import AssignmentInProgressError, VehicleBusyError
from fleet.models import Assignment, Driver
from fleet.tests.factories import VehicleFactory, driver_user
from identity.documents import Notification
from identity.tests.factories import UserFactory, signed_in_client
from orders.models import Order
from orders.tests.factories import CustomerFactory, drop, make_order
from rappi.testing.concurrency import race
from tracking.documents import Evidence
from tracking.tests.factories import small_jpeg

pytestmark = pytest.mark.django_db


def pending_order(by, **drop_kwargs):
    return make_order(customer=CustomerFactory(), by=by, drops=[drop(**drop_kwargs)])


def run_body(orders, driver, vehicle):
    return {"order_ids": [o.pk for o in orders], "driver_id": driver.pk, "vehicle_id": vehicle.pk}


def test_a_run_puts_orders_in_assigned_and_the_driver_busy(
    dispatcher_api, dispatcher, django_capture_on_commit_callbacks
):
    user, driver = driver_user()
    vehicle = VehicleFactory()
    orders = [pending_order(dispatcher), pending_order(dispatcher)]
    with django_capture_on_commit_callbacks(execute=True):
        response = dispatcher_api.post(
            "/api/v1/assignments/", run_body(orders, driver, vehicle), format="json"
        )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "assigned"
    assert body["order_ids"] == sorted(o.pk for o in orders)
    assert set(Order.objects.filter(pk__in=body["order_ids"]).values_list("status", flat=True)) == {
        "assigned"
    }
    assert Driver.objects.get(pk=driver.pk).availability == "busy"
    assert Notification.objects(recipient_user_id=user.pk, kind="run.assigned").count() == 1


def test_only_pending_orders(dispatcher_api, dispatcher):
    _user, driver = driver_user()
    order = pending_order(dispatcher)
    Order.objects.filter(pk=order.pk).update(status="pending_payment")
    response = dispatcher_api.post(
        "/api/v1/assignments/", run_body([order], driver, VehicleFactory()), format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "orders_not_pending"


def test_an_unavailable_driver_is_refused(dispatcher_api, dispatcher):
    _user, driver = driver_user()
    Driver.objects.filter(pk=driver.pk).update(availability="busy")
    response = dispatcher_api.post(
        "/api/v1/assignments/",
        run_body([pending_order(dispatcher)], driver, VehicleFactory()),
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "driver_unavailable"


@pytest.mark.parametrize("state", [{"status": "maintenance"}, {"is_active": False}])
def test_an_unusable_vehicle_is_refused(dispatcher_api, dispatcher, state):
    _user, driver = driver_user()
    response = dispatcher_api.post(
        "/api/v1/assignments/",
        run_body([pending_order(dispatcher)], driver, VehicleFactory(**state)),
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "vehicle_unavailable"


def test_capacity_compares_the_runs_load_with_the_vehicles_capacity(dispatcher_api, dispatcher):
    vehicle = VehicleFactory(capacity_kg=Decimal("50"))
    _user, driver = driver_user()
    response = dispatcher_api.post(
        "/api/v1/assignments/",
        run_body(
            [pending_order(dispatcher, weight="30"), pending_order(dispatcher, weight="25")],
            driver,
            vehicle,
        ),
        format="json",
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "capacity_exceeded"
    assert error["details"] == {
        "vehicle_id": vehicle.pk,
        "capacity_kg": "50.0",
        "requested_kg": "55.000",
    }
    assert "55" in error["message"]
    assert "50" in error["message"]
    full = dispatcher_api.post(
        "/api/v1/assignments/",
        run_body(
            [pending_order(dispatcher, weight="30"), pending_order(dispatcher, weight="20")],
            driver,
            vehicle,
        ),
        format="json",
    )
    assert full.status_code == 201  # exactly the capacity


@pytest.mark.parametrize("started", [False, True])
def test_a_vehicle_on_a_live_run_cannot_go_on_another(dispatcher_api, dispatcher, started):
    vehicle = VehicleFactory(capacity_kg=Decimal("5000"))
    _u1, first_driver = driver_user()
    _u2, second_driver = driver_user()
    first = services.assignment_create(
        orders=[pending_order(dispatcher)], driver=first_driver, vehicle=vehicle, by=dispatcher
    )
    if started:
        services.assignment_start(assignment=first, by=dispatcher)
    order = pending_order(dispatcher)
    response = dispatcher_api.post(
        "/api/v1/assignments/", run_body([order], second_driver, vehicle), format="json"
    )
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "vehicle_busy"
    status = "in_progress" if started else "assigned"
    assert error["details"] == {
        "vehicle_id": vehicle.pk,
        "assignment_id": first.pk,
        "status": status,
    }
    assert f"#{first.pk}" in error["message"]
    assert vehicle.plate in error["message"]
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert Driver.objects.get(pk=second_driver.pk).availability == "available"


def test_a_vehicle_is_free_again_once_its_run_is_over(dispatcher_api, dispatcher):
    vehicle = VehicleFactory()
    _u1, first_driver = driver_user()
    _u2, second_driver = driver_user()
    cancelled = services.assignment_create(
        orders=[pending_order(dispatcher)], driver=first_driver, vehicle=vehicle, by=dispatcher
    )
    services.assignment_cancel(assignment=cancelled)
    finished = services.assignment_create(
        orders=[pending_order(dispatcher)], driver=first_driver, vehicle=vehicle, by=dispatcher
    )
    services.assignment_start(assignment=finished, by=dispatcher)
    services.assignment_finish(assignment=finished, reason="Fin de turno", by=dispatcher)
    response = dispatcher_api.post(
        "/api/v1/assignments/",
        run_body([pending_order(dispatcher)], second_driver, vehicle),
        format="json",
    )
    assert response.status_code == 201, response.content


def test_a_driver_marked_available_by_hand_while_on_a_run_gets_no_second_one(
    dispatcher_api, dispatcher
):
    _user, driver = driver_user()
    first = services.assignment_create(
        orders=[pending_order(dispatcher)], driver=driver, vehicle=VehicleFactory(), by=dispatcher
    )
    Driver.objects.filter(pk=driver.pk).update(availability="available")
    response = dispatcher_api.post(
        "/api/v1/assignments/",
        run_body([pending_order(dispatcher)], driver, VehicleFactory()),
        format="json",
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "driver_unavailable"
    assert error["details"]["assignment_id"] == first.pk


def test_staff_cannot_mark_a_driver_on_a_live_run_available(dispatcher_api, dispatcher):
    _user, driver = driver_user()
    run = services.assignment_create(
        orders=[pending_order(dispatcher)], driver=driver, vehicle=VehicleFactory(), by=dispatcher
    )
    response = dispatcher_api.patch(
        f"/api/v1/drivers/{driver.pk}", {"availability": "available"}, format="json"
    )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "illegal_transition"
    assert error["details"]["assignment_id"] == run.pk
    assert Driver.objects.get(pk=driver.pk).availability == "busy"
    services.assignment_cancel(assignment=run)
    assert (
        dispatcher_api.patch(
            f"/api/v1/drivers/{driver.pk}", {"availability": "available"}, format="json"
        ).status_code
        == 200
    )


def test_the_database_keeps_a_vehicle_and_a_driver_on_one_live_run(dispatcher):
    vehicle = VehicleFactory()
    _u1, first_driver = driver_user()
    _u2, second_driver = driver_user()
    services.assignment_create(
        orders=[pending_order(dispatcher)], driver=first_driver, vehicle=vehicle, by=dispatcher
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(driver=second_driver, vehicle=vehicle, status="in_progress")
    with pytest.raises(IntegrityError), transaction.atomic():
        Assignment.objects.create(driver=first_driver, vehicle=VehicleFactory())
    # Closed runs do not count.
    Assignment.objects.create(driver=second_driver, vehicle=vehicle, status="finished")
    Assignment.objects.create(driver=first_driver, vehicle=vehicle, status="cancelled")


def test_a_package_fits_when_turned(dispatcher_api, dispatcher):
    _user, driver = driver_user()
    vehicle = VehicleFactory(
        length_cm=Decimal("250"), width_cm=Decimal("150"), height_cm=Decimal("100")
    )
    # 140 x 240 x 90 only fits once turned (240 along the 250 side).
    turned = pending_order(
        dispatcher, length_cm=Decimal("140"), width_cm=Decimal("240"), height_cm=Decimal("90")
    )
    assert (
        dispatcher_api.post(
            "/api/v1/assignments/", run_body([turned], driver, vehicle), format="json"
        ).status_code
        == 201
    )


def test_a_package_too_big_in_any_orientation_is_refused(dispatcher_api, dispatcher):
    _user, driver = driver_user()
    vehicle = VehicleFactory(
        length_cm=Decimal("250"), width_cm=Decimal("150"), height_cm=Decimal("100")
    )
    big = pending_order(
        dispatcher,
        weight="1",
        length_cm=Decimal("120"),
        width_cm=Decimal("120"),
        height_cm=Decimal("120"),
    )
    response = dispatcher_api.post(
        "/api/v1/assignments/", run_body([big], driver, vehicle), format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "does_not_fit"
    assert Order.objects.get(pk=big.pk).status == "pending"


def test_unknown_orders_are_404(dispatcher_api):
    _user, driver = driver_user()
    response = dispatcher_api.post(
        "/api/v1/assignments/",
        {"order_ids": [999999], "driver_id": driver.pk, "vehicle_id": VehicleFactory().pk},
        format="json",
    )
    assert response.status_code == 404


def booking(order, driver, vehicle):
    """A dispatcher of their own, signed in, and their request for a run, to race another's."""
    client = signed_in_client(UserFactory(role_name="dispatcher"))

    def book():
        return client.post(
            "/api/v1/assignments/", run_body([order], driver, vehicle), format="json"
        )

    return book


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_racing_for_one_driver_book_it_once():
    from identity import services as identity_services

    identity_services.roles_seed()
    by = UserFactory(role_name="dispatcher")
    _user, driver = driver_user()
    vehicle = VehicleFactory(capacity_kg=Decimal("5000"))
    orders = [pending_order(by), pending_order(by)]
    answers = race(*(booking(order, driver, vehicle) for order in orders))
    assert sorted(answer.status_code for answer in answers) == [201, 409]
    assert Assignment.objects.filter(driver=driver).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_dispatchers_racing_for_one_vehicle_book_it_once():
    from identity import services as identity_services

    identity_services.roles_seed()
    by = UserFactory(role_name="dispatcher")
    vehicle = VehicleFactory(capacity_kg=Decimal("5000"))
    bookings = [(pending_order(by), driver_user()[1]), (pending_order(by), driver_user()[1])]
    answers = race(*(booking(order, driver, vehicle) for order, driver in bookings))
    assert sorted(answer.status_code for answer in answers) == [201, 409]
    [refused] = [answer.json() for answer in answers if answer.status_code == 409]
    assert refused["error"]["code"] == "vehicle_busy"
    assert Assignment.objects.filter(vehicle=vehicle).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_live_run_committed_behind_the_checks_back_is_named_not_a_500():
    """A write that puts a run back on the road without the vehicle lock (none does today)
    commits while a new run for that vehicle is past its checks: the database refuses the
    second live run and the service names the first, as its own check would have."""
    from identity import services as identity_services

    identity_services.roles_seed()
    by = UserFactory(role_name="dispatcher")
    vehicle = VehicleFactory()
    _u1, first_driver = driver_user()
    _u2, second_driver = driver_user()
    old = Assignment.objects.create(driver=first_driver, vehicle=vehicle, status="finished")
    order = pending_order(by)
    reopened = threading.Event()

    def reopen_by_hand():
        with transaction.atomic():
            Assignment.objects.filter(pk=old.pk).update(status="in_progress")
            reopened.set()
            time.sleep(1.5)  # the booking below is waiting on the unique index by now

    def book():
        reopened.wait()
        services.assignment_create(orders=[order], driver=second_driver, vehicle=vehicle, by=by)

    with pytest.raises(VehicleBusyError) as refused:
        race(reopen_by_hand, book)
    assert refused.value.details == {
        "vehicle_id": vehicle.pk,
        "assignment_id": old.pk,
        "status": "in_progress",
    }
    assert Order.objects.get(pk=order.pk).status == "pending"


def test_start_cancel_and_delete(dispatcher_api, dispatcher, client_for):
    user, driver = driver_user()
    vehicle = VehicleFactory()
    order = pending_order(dispatcher)
    run = dispatcher_api.post(
        "/api/v1/assignments/", run_body([order], driver, vehicle), format="json"
    ).json()
    cancelled = dispatcher_api.post(
        f"/api/v1/assignments/{run['id']}/cancel", {"reason": "Lluvia"}, format="json"
    )
    assert cancelled.json()["status"] == "cancelled"
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert Driver.objects.get(pk=driver.pk).availability == "available"

    run = dispatcher_api.post(
        "/api/v1/assignments/", run_body([order], driver, vehicle), format="json"
    ).json()
    started = client_for(user).post(f"/api/v1/assignments/{run['id']}/start")
    assert started.status_code == 200
    assert started.json()["status"] == "in_progress"
    assert Order.objects.get(pk=order.pk).status == "in_transit"
    assert (
        dispatcher_api.delete(f"/api/v1/assignments/{run['id']}").json()["error"]["code"]
        == "assignment_in_progress"
    )
    refused = dispatcher_api.post(f"/api/v1/assignments/{run['id']}/cancel", {}, format="json")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "illegal_transition"


def test_deleting_a_run_before_start_reverts_orders_and_driver(dispatcher_api, dispatcher):
    _user, driver = driver_user()
    order = pending_order(dispatcher)
    run = dispatcher_api.post(
        "/api/v1/assignments/", run_body([order], driver, VehicleFactory()), format="json"
    ).json()
    assert dispatcher_api.delete(f"/api/v1/assignments/{run['id']}").status_code == 204
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert Driver.objects.get(pk=driver.pk).availability == "available"
    assert not Assignment.objects.exists()


def test_runs_deleted_together_go_as_one_deleted_alone_with_their_documents(
    dispatcher, django_capture_on_commit_callbacks
):
    """The demo's reset deletes its runs through `assignments_delete`: a run still to be
    driven gives its orders and driver back, a run under way goes only once its orders are
    gone, and the MongoDB documents of each are purged after the commit."""
    waiting_driver, under_way_driver = driver_user()[1], driver_user()[1]
    waiting_order, carried = pending_order(dispatcher), pending_order(dispatcher)
    waiting = services.assignment_create(
        orders=[waiting_order], driver=waiting_driver, vehicle=VehicleFactory(), by=dispatcher
    )
    under_way = services.assignment_create(
        orders=[carried], driver=under_way_driver, vehicle=VehicleFactory(), by=dispatcher
    )
    services.assignment_start(assignment=under_way, by=dispatcher)
    services.incident_evidence_add(
        incident=services.incident_report(assignment=under_way, type="traffic", by=dispatcher),
        kind="photo",
        uploads=[("road.jpg", small_jpeg())],
        by=dispatcher,
    )
    both = Assignment.objects.filter(pk__in=[waiting.pk, under_way.pk])

    with pytest.raises(AssignmentInProgressError):
        services.assignments_delete(assignments=both)  # its order is still on board
    assert both.count() == 2
    Order.objects.filter(pk=carried.pk).delete()  # as the orders demo's reset does
    with django_capture_on_commit_callbacks(execute=True):
        assert services.assignments_delete(assignments=both, by=dispatcher) == 2

    assert not both.exists()
    assert Order.objects.get(pk=waiting_order.pk).status == "pending"
    assert set(
        Driver.objects.filter(pk__in=[waiting_driver.pk, under_way_driver.pk]).values_list(
            "availability", flat=True
        )
    ) == {"available"}
    assert Evidence.objects(assignment_id=under_way.pk).count() == 0


def test_cancelling_the_last_order_of_a_run_cancels_it_and_frees_the_driver(
    dispatcher_api, dispatcher
):
    _user, driver = driver_user()
    first, second = pending_order(dispatcher), pending_order(dispatcher)
    run = dispatcher_api.post(
        "/api/v1/assignments/", run_body([first, second], driver, VehicleFactory()), format="json"
    ).json()
    dispatcher_api.post(f"/api/v1/orders/{first.pk}/cancel", {"reason": "x"}, format="json")
    assert Assignment.objects.get(pk=run["id"]).status == "assigned"
    dispatcher_api.post(f"/api/v1/orders/{second.pk}/cancel", {"reason": "x"}, format="json")
    assert Assignment.objects.get(pk=run["id"]).status == "cancelled"
    assert Driver.objects.get(pk=driver.pk).availability == "available"
    assert {d.status for d in Order.objects.get(pk=second.pk).destinations.all()} == {"failed"}


def test_drivers_see_and_start_only_their_own_runs(dispatcher_api, dispatcher, client_for):
    user, driver = driver_user()
    _other_user, other = driver_user()
    mine = dispatcher_api.post(
        "/api/v1/assignments/",
        run_body([pending_order(dispatcher)], driver, VehicleFactory()),
        format="json",
    ).json()
    theirs = dispatcher_api.post(
        "/api/v1/assignments/",
        run_body([pending_order(dispatcher)], other, VehicleFactory()),
        format="json",
    ).json()
    own = client_for(user)
    assert [r["id"] for r in own.get("/api/v1/assignments/").json()["results"]] == [mine["id"]]
    assert own.post(f"/api/v1/assignments/{theirs['id']}/start").status_code == 404
    assert (
        own.post(f"/api/v1/assignments/{mine['id']}/cancel", {}, format="json").status_code == 403
    )
    assert own.post("/api/v1/assignments/", {}, format="json").status_code in (400, 403)


def test_customers_see_no_runs(customer_api):
    assert customer_api.get("/api/v1/assignments/").status_code == 403


def test_run_filters(dispatcher_api, dispatcher):
    _user, driver = driver_user()
    order = pending_order(dispatcher)
    run = dispatcher_api.post(
        "/api/v1/assignments/", run_body([order], driver, VehicleFactory()), format="json"
    ).json()
    assert [
        r["id"]
        for r in dispatcher_api.get(f"/api/v1/assignments/?order_id={order.pk}").json()["results"]
    ] == [run["id"]]
    assert (
        dispatcher_api.get(f"/api/v1/assignments/?driver_id={driver.pk}&status=assigned").json()[
            "count"
        ]
        == 1
    )
    assert dispatcher_api.get("/api/v1/assignments/?status=flying").status_code == 400


@pytest.mark.parametrize("size", [1, 20])
def test_the_run_list_costs_constant_queries(
    dispatcher_api, dispatcher, django_assert_max_num_queries, size
):
    for _ in range(size):
        _user, driver = driver_user()
        dispatcher_api.post(
            "/api/v1/assignments/",
            run_body(
                [pending_order(dispatcher), pending_order(dispatcher)], driver, VehicleFactory()
            ),
            format="json",
        )
    with django_assert_max_num_queries(6):
        response = dispatcher_api.get("/api/v1/assignments/?page_size=200")
    assert response.json()["count"] == size
    assert all(len(r["order_ids"]) == 2 for r in response.json()["results"])

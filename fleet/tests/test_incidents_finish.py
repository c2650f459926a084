"""Incidents (severity from type, origin, driver scope, which runs take them) and closing
runs: forced finish and reopen (driver and vehicle free, vehicle usable)."""

from datetime import timedelta
from decimal import Decimal

import pytest

from fleet import services
from fleet.models import Assignment, Driver, Incident, Vehicle
from fleet.tests.factories import VehicleFactory, driver_user
from identity.documents import Notification
from identity.tests.factories import UserFactory
from orders.models import Destination, Order
from orders.tests.factories import CustomerFactory, drop, make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(dispatcher):
    """A run in progress with two orders, one of them with two drops."""
    user, driver = driver_user()
    first = make_order(customer=CustomerFactory(), by=dispatcher, drops=[drop(), drop(weight="3")])
    second = make_order(customer=CustomerFactory(), by=dispatcher)
    assignment = services.assignment_create(
        orders=[first, second],
        driver=driver,
        vehicle=VehicleFactory(capacity_kg=Decimal("500")),
        by=dispatcher,
    )
    services.assignment_start(assignment=assignment, by=dispatcher)
    return {"assignment": assignment, "driver": driver, "user": user, "orders": [first, second]}


@pytest.mark.parametrize(
    ("kind", "severity"),
    [
        ("traffic", 2),
        ("weather", 2),
        ("wrong_address", 3),
        ("customer_absent", 3),
        ("damaged_package", 4),
        ("route_deviation", 4),
        ("other", 3),
    ],
)
def test_severity_follows_the_type(client_for, run, kind, severity):
    response = client_for(run["user"]).post(
        "/api/v1/incidents/",
        {"assignment_id": run["assignment"].pk, "type": kind, "notes": "n"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["severity"] == severity
    assert response.json()["origin"] == "driver"


def test_staff_reports_and_reclassify(
    dispatcher_api, run, django_capture_on_commit_callbacks, dispatcher
):
    with django_capture_on_commit_callbacks(execute=True):
        created = dispatcher_api.post(
            "/api/v1/incidents/",
            {"assignment_id": run["assignment"].pk, "type": "traffic"},
            format="json",
        ).json()
    assert created["origin"] == "staff"
    assert (
        Notification.objects(recipient_user_id=dispatcher.pk, kind="incident.reported").count() == 1
    )
    edited = dispatcher_api.patch(
        f"/api/v1/incidents/{created['id']}", {"severity": 5}, format="json"
    )
    assert edited.json()["severity"] == 5
    assert (
        dispatcher_api.patch(
            f"/api/v1/incidents/{created['id']}", {"severity": 9}, format="json"
        ).status_code
        == 400
    )


def test_drivers_report_only_on_their_own_runs_and_cannot_reclassify(client_for, run):
    other_user, _other = driver_user()
    other = client_for(other_user)
    refused = other.post(
        "/api/v1/incidents/",
        {"assignment_id": run["assignment"].pk, "type": "traffic"},
        format="json",
    )
    assert refused.status_code == 404
    own = client_for(run["user"])
    incident = own.post(
        "/api/v1/incidents/",
        {"assignment_id": run["assignment"].pk, "type": "traffic"},
        format="json",
    ).json()
    assert other.get(f"/api/v1/incidents/{incident['id']}").status_code == 404
    assert (
        own.patch(f"/api/v1/incidents/{incident['id']}", {"severity": 1}, format="json").status_code
        == 403
    )
    assert [i["id"] for i in own.get("/api/v1/incidents/").json()["results"]] == [incident["id"]]


def report(client, assignment, kind="damaged_package"):
    return client.post(
        "/api/v1/incidents/", {"assignment_id": assignment.pk, "type": kind}, format="json"
    )


def test_a_driver_reports_only_on_its_runs_still_to_be_driven(client_for, run, dispatcher):
    own = client_for(run["user"])
    waiting = services.assignment_create(
        orders=[make_order(customer=CustomerFactory(), by=dispatcher)],
        driver=driver_user()[1],
        vehicle=VehicleFactory(),
        by=dispatcher,
    )
    assert report(client_for(waiting.driver.user), waiting, "traffic").status_code == 201
    services.assignment_finish(assignment=run["assignment"], reason="x", by=dispatcher)
    refused = report(own, run["assignment"])
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "run_closed"
    assert error["details"] == {"assignment_id": run["assignment"].pk, "status": "finished"}
    assert not Incident.objects.filter(assignment=run["assignment"], origin="driver").exists()


def test_staff_report_on_finished_runs_but_not_on_runs_cancelled_before_they_started(
    dispatcher_api, run, dispatcher
):
    services.assignment_finish(assignment=run["assignment"], reason="x", by=dispatcher)
    late = report(dispatcher_api, run["assignment"])  # a damaged package found after the run
    assert late.status_code == 201, late.content
    assert late.json()["origin"] == "staff"
    never_driven = services.assignment_create(
        orders=[make_order(customer=CustomerFactory(), by=dispatcher)],
        driver=driver_user()[1],
        vehicle=VehicleFactory(),
        by=dispatcher,
    )
    services.assignment_cancel(assignment=never_driven)
    refused = report(dispatcher_api, never_driven)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "run_closed"
    assert refused.json()["error"]["details"]["status"] == "cancelled"


def test_staff_report_on_a_run_cancelled_on_the_road(dispatcher_api, run, dispatcher):
    for order in run["orders"]:
        dispatcher_api.post(f"/api/v1/orders/{order.pk}/cancel", {"reason": "x"}, format="json")
    assert Assignment.objects.get(pk=run["assignment"].pk).status == "cancelled"
    assert report(dispatcher_api, run["assignment"]).status_code == 201


def test_customers_see_no_incidents(customer_api, run):
    assert customer_api.get("/api/v1/incidents/").status_code == 403


def test_a_forced_finish_fails_pending_drops_closes_orders_and_records_an_incident(
    dispatcher_api, run
):
    assignment = run["assignment"]
    first, second = run["orders"]
    delivered = first.destinations.order_by("sequence").first()
    Destination.objects.filter(pk=delivered.pk).update(status="delivered")
    response = dispatcher_api.post(
        f"/api/v1/assignments/{assignment.pk}/finish", {"reason": "Camión averiado"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "finished"
    assert Order.objects.get(pk=first.pk).status == "delivered"  # one of its drops arrived
    assert Order.objects.get(pk=second.pk).status == "cancelled"  # none of its drops did
    assert (
        Destination.objects.filter(
            order=second, status="failed", failure_reason="Camión averiado"
        ).count()
        == 1
    )
    incident = Incident.objects.get(assignment=assignment)
    assert incident.type == "forced_finish"
    assert incident.origin == "staff"
    assert Driver.objects.get(pk=run["driver"].pk).availability == "available"


def test_an_order_keeps_when_it_was_delivered_until_its_run_is_reopened(dispatcher_api, run):
    assignment = run["assignment"]
    first, second = run["orders"]
    Destination.objects.filter(pk=first.destinations.order_by("sequence").first().pk).update(
        status="delivered"
    )
    dispatcher_api.post(
        f"/api/v1/assignments/{assignment.pk}/finish", {"reason": "x"}, format="json"
    )
    finished = Assignment.objects.get(pk=assignment.pk).finished_at

    assert Order.objects.get(pk=first.pk).delivered_at == pytest.approx(
        finished, abs=timedelta(seconds=5)
    )
    assert Order.objects.get(pk=second.pk).delivered_at is None  # cancelled, not delivered

    dispatcher_api.post(f"/api/v1/assignments/{assignment.pk}/reopen", {}, format="json")

    assert Order.objects.get(pk=first.pk).delivered_at is None


def test_a_forced_finish_needs_a_reason_and_a_run_in_progress(dispatcher_api, run):
    assignment = run["assignment"]
    assert (
        dispatcher_api.post(
            f"/api/v1/assignments/{assignment.pk}/finish", {}, format="json"
        ).status_code
        == 400
    )
    dispatcher_api.post(
        f"/api/v1/assignments/{assignment.pk}/finish", {"reason": "x"}, format="json"
    )
    again = dispatcher_api.post(
        f"/api/v1/assignments/{assignment.pk}/finish", {"reason": "x"}, format="json"
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "illegal_transition"


@pytest.mark.parametrize("include_delivered", [False, True])
def test_reopen_puts_failed_drops_back_and_orders_in_transit(
    dispatcher_api, run, include_delivered
):
    assignment = run["assignment"]
    first, second = run["orders"]
    Destination.objects.filter(pk=first.destinations.order_by("sequence").first().pk).update(
        status="delivered"
    )
    dispatcher_api.post(
        f"/api/v1/assignments/{assignment.pk}/finish", {"reason": "x"}, format="json"
    )
    response = dispatcher_api.post(
        f"/api/v1/assignments/{assignment.pk}/reopen",
        {"include_delivered": include_delivered},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["status"] == "in_progress"
    assert Order.objects.get(pk=second.pk).status == "in_transit"
    assert Order.objects.get(pk=first.pk).status == "in_transit"  # its failed drop is pending again
    delivered_left = Destination.objects.filter(order=first, status="delivered").count()
    assert delivered_left == (0 if include_delivered else 1)
    assert Driver.objects.get(pk=run["driver"].pk).availability == "busy"


def test_reopen_needs_the_driver_free(dispatcher_api, run, dispatcher):
    assignment = run["assignment"]
    dispatcher_api.post(
        f"/api/v1/assignments/{assignment.pk}/finish", {"reason": "x"}, format="json"
    )
    other_order = make_order(customer=CustomerFactory(), by=dispatcher)
    services.assignment_create(
        orders=[other_order], driver=run["driver"], vehicle=VehicleFactory(), by=dispatcher
    )
    response = dispatcher_api.post(f"/api/v1/assignments/{assignment.pk}/reopen", {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "driver_unavailable"
    assert Assignment.objects.get(pk=assignment.pk).status == "finished"


def test_reopen_needs_the_vehicle_off_other_runs(dispatcher_api, run, dispatcher):
    assignment = run["assignment"]
    dispatcher_api.post(
        f"/api/v1/assignments/{assignment.pk}/finish", {"reason": "x"}, format="json"
    )
    other = services.assignment_create(
        orders=[make_order(customer=CustomerFactory(), by=dispatcher)],
        driver=driver_user()[1],
        vehicle=assignment.vehicle,
        by=dispatcher,
    )
    response = dispatcher_api.post(f"/api/v1/assignments/{assignment.pk}/reopen", {}, format="json")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "vehicle_busy"
    assert error["details"] == {
        "vehicle_id": assignment.vehicle_id,
        "assignment_id": other.pk,
        "status": "assigned",
    }
    assert Assignment.objects.get(pk=assignment.pk).status == "finished"
    assert Driver.objects.get(pk=run["driver"].pk).availability == "available"


def test_reopen_needs_a_usable_vehicle(dispatcher_api, run):
    assignment = run["assignment"]
    dispatcher_api.post(
        f"/api/v1/assignments/{assignment.pk}/finish", {"reason": "x"}, format="json"
    )
    Vehicle.objects.filter(pk=assignment.vehicle_id).update(status="maintenance")
    response = dispatcher_api.post(f"/api/v1/assignments/{assignment.pk}/reopen", {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "vehicle_unavailable"
    assert Assignment.objects.get(pk=assignment.pk).status == "finished"


def test_the_admin_lists_runs_and_finishes_one_with_a_reason(client, run):
    client.force_login(UserFactory(role_name="admin"))
    assert client.get("/admin/fleet/assignment/").status_code == 200
    assert client.get(f"/admin/fleet/assignment/{run['assignment'].pk}/change/").status_code == 200
    assert client.get("/admin/fleet/incident/").status_code == 200
    client.post(
        "/admin/fleet/assignment/",
        {
            "action": "finish_runs",
            "_selected_action": [run["assignment"].pk],
            "apply": "1",
            "reason": "Fin de turno",
        },
    )
    assert Assignment.objects.get(pk=run["assignment"].pk).status == "finished"
    assert Incident.objects.filter(assignment=run["assignment"], type="forced_finish").exists()

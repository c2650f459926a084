"""The console's runs board and run page: who may open them, what they show (in a fixed
number of queries), and every command on a run through its service — each refusal shown
as the domain error's message on the page, never a 500."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fleet import services
from fleet.models import Assignment, Incident, Route, Stop, StopKind, StopStatus
from fleet.tests.factories import VehicleFactory, driver_user, make_run, started_run
from identity.tests.factories import RoleFactory, UserFactory
from orders.models import Destination, Order
from orders.tests.factories import CustomerFactory, customer_user, make_order
from rappi.testing.console import console_client, page_text, post_form
from tracking import pings

pytestmark = pytest.mark.django_db


def finished_run(by) -> Assignment:
    run = started_run(by)
    return services.assignment_finish(assignment=run, reason="Van broke down", by=by)


def status_of(run: Assignment) -> str:
    return Assignment.objects.get(pk=run.pk).status


# --- Who may open the pages ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["driver", "customer"])
def test_drivers_and_customers_cannot_open_the_runs(role, dispatcher):
    run = make_run(dispatcher)
    user = UserFactory(role_name=role)
    for url in ("/console/runs/", f"/console/runs/{run.pk}/"):
        client = console_client(user)
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == "/console/login/"
        assert "_auth_user_id" not in client.session


def test_a_dispatcher_sees_every_run(console, dispatcher):
    runs = [make_run(dispatcher), make_run(dispatcher)]
    page = page_text(console.get("/console/runs/"))
    for run in runs:
        assert f'href="/console/runs/{run.pk}/"' in page
        assert console.get(f"/console/runs/{run.pk}/").status_code == 200


def test_a_staff_role_without_runs_gets_the_403_page(dispatcher):
    run = make_run(dispatcher)
    client = console_client(UserFactory(role=RoleFactory(grants=["orders:read", "incidents:read"])))
    for url in ("/console/runs/", f"/console/runs/{run.pk}/"):
        response = client.get(url)
        assert response.status_code == 403
        assert b"Not allowed" in response.content


def test_a_role_that_reads_runs_sees_no_commands_and_may_not_post_them(dispatcher):
    run = make_run(dispatcher)
    reader = console_client(UserFactory(role=RoleFactory(grants=["assignments:read"])))
    page = page_text(reader.get(f"/console/runs/{run.pk}/"))
    assert "Start the run" not in page
    assert "Report the incident" not in page
    assert 'id="incidents-title"' not in page  # incidents are read with their own grant
    assert reader.post(f"/console/runs/{run.pk}/start/").status_code == 403
    assert status_of(run) == "assigned"


def test_an_unknown_run_is_the_404_page(console):
    assert console.get("/console/runs/999999/").status_code == 404
    assert console.post("/console/runs/999999/start/").status_code == 404


def test_commands_answer_only_post(console, dispatcher):
    run = make_run(dispatcher)
    assert console.get(f"/console/runs/{run.pk}/start/").status_code == 405
    assert status_of(run) == "assigned"


# --- The runs board -------------------------------------------------------------------------------


def test_the_board_shows_driver_vehicle_orders_stops_last_fix_and_incidents(console, dispatcher):
    run = started_run(dispatcher, orders=2)
    run = Assignment.objects.select_related("driver__user", "vehicle").get(pk=run.pk)
    services.incident_report(assignment=run, type="traffic", notes="Jam", by=dispatcher)
    now = timezone.now()
    result = pings.pings_ingest(
        assignment_id=run.pk,
        driver_id=run.driver_id,
        vehicle_plate=run.vehicle.plate,
        started_at=now - timedelta(minutes=10),
        fixes=[pings.Fix(index=0, lat=-16.40, lng=-71.53, recorded_at=now - timedelta(minutes=3))],
        now=now,
    )
    assert not result.rejected, result
    page = page_text(console.get("/console/runs/"))
    assert run.driver.user.full_name in page
    assert run.vehicle.plate in page
    for order in run.orders.all():
        assert f"#{order.pk}" in page
    stops = Stop.objects.filter(route__assignment=run).count()
    assert f"0/{stops}" in page
    assert "3\xa0minutes ago" in page or "3 minutes ago" in page
    assert f'href="/console/incidents/?assignment_id={run.pk}">1</a>' in page
    assert "Silent" not in page


def test_a_run_in_progress_without_a_fix_is_silent(console, dispatcher):
    started_run(dispatcher)
    assert "Silent" in page_text(console.get("/console/runs/"))


def test_the_board_filters_by_status_with_its_tabs(console, dispatcher):
    assigned, running = make_run(dispatcher), started_run(dispatcher)
    page = page_text(console.get("/console/runs/?status=in_progress"))
    assert f'href="/console/runs/{running.pk}/"' in page
    assert f'href="/console/runs/{assigned.pk}/"' not in page
    assert '<a href="?status=in_progress" aria-current="page">' in page


def test_an_invalid_filter_shows_its_error_and_no_rows(console, dispatcher):
    run = make_run(dispatcher)
    page = page_text(console.get("/console/runs/?driver_id=abc"))
    assert f'href="/console/runs/{run.pk}/"' not in page
    assert 'class="error"' in page


def test_the_board_refresh_answers_only_its_rows(console, dispatcher):
    make_run(dispatcher)
    response = console.get("/console/runs/", headers={"HX-Request": "true"})
    assert b"<html" not in response.content
    assert b"<table" in response.content


def _many_runs(by, count: int) -> None:
    """`count` finished runs with two orders, a route of three stops and an incident."""
    _user, driver = driver_user()
    vehicle = VehicleFactory()
    orders = [make_order(customer=CustomerFactory(), by=by) for _ in range(2)]
    for _ in range(count):
        run = Assignment.objects.create(
            driver=driver, vehicle=vehicle, status="finished", started_at=timezone.now()
        )
        run.orders.set(orders)
        route = Route.objects.create(
            assignment=run, geometry={}, distance_m=1000, duration_s=600, provider="test"
        )
        for sequence in (1, 2, 3):
            Stop.objects.create(
                route=route,
                sequence=sequence,
                kind=StopKind.DELIVERY,
                lat=Decimal("-16.4"),
                lng=Decimal("-71.5"),
                status=StopStatus.VISITED if sequence == 1 else StopStatus.PENDING,
            )
        Incident.objects.create(assignment=run, type="traffic", severity=2, origin="staff")


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_board_costs_the_same_queries_for_2_and_30_runs(
    console, dispatcher, django_assert_max_num_queries
):
    _many_runs(dispatcher, 2)
    few = _queries(console, "/console/runs/")
    _many_runs(dispatcher, 28)
    with django_assert_max_num_queries(few):
        page = page_text(console.get("/console/runs/"))
    assert page.count('class="badge badge-finished"') == 25  # a full page
    assert "1/3" in page


# --- The run page ------------------------------------------------------------------------------------


def test_the_run_page_shows_facts_map_stops_and_the_actions_of_its_state(console, dispatcher):
    run = make_run(dispatcher, drops_per_order=2)
    page = page_text(console.get(f"/console/runs/{run.pk}/"))
    assert f"Run #{run.pk}" in page
    assert 'class="map-placeholder"' not in page
    assert 'id="run-map" data-map' in page
    assert 'data-map-scene="run-map"' in page
    assert 'class="map-legend run-legend"' in page
    stops = list(Stop.objects.filter(route__assignment=run).order_by("sequence"))
    assert len(stops) == 3
    for stop in stops:
        eta = timezone.localtime(stop.eta, timezone.get_default_timezone()).strftime("%H:%M")
        assert eta in page
    assert "Pickup" in page
    assert "Delivery" in page
    assert "Av. Lambramani 325" in page
    assert "Start the run" in page
    assert "Cancel the run" in page
    assert "Finish the run" not in page
    assert "Reopen the run" not in page
    assert "Regenerate the route" in page
    assert "Re-optimise" in page
    assert 'name="stop_ids"' in page
    assert "Report the incident" in page


def test_the_run_page_refresh_answers_only_its_live_parts(console, dispatcher):
    run = make_run(dispatcher)
    hx = {"HX-Request": "true"}
    facts = page_text(console.get(f"/console/runs/{run.pk}/?part=facts", headers=hx))
    assert "<html" not in facts
    assert 'data-map-scene="run-map"' in facts
    assert "data-map " not in facts  # the map stays; only what it draws is refreshed
    assert 'class="stops"' not in facts
    stops = page_text(console.get(f"/console/runs/{run.pk}/?part=stops", headers=hx))
    assert "<html" not in stops
    assert 'class="stops"' in stops
    assert "No proof yet." in stops
    for body in (facts, stops):
        assert "Start the run" not in body  # the forms are not refreshed


def test_a_finished_run_offers_reopen_only(console, dispatcher):
    run = finished_run(dispatcher)
    page = page_text(console.get(f"/console/runs/{run.pk}/"))
    assert "Reopen the run" in page
    assert "Start the run" not in page
    assert "Regenerate the route" not in page


# --- Commands ------------------------------------------------------------------------------------------


def test_start_puts_the_run_in_progress(console, dispatcher):
    run = make_run(dispatcher)
    page = post_form(console, f"/console/runs/{run.pk}/start/")
    assert "The run has started." in page
    assert status_of(run) == "in_progress"
    assert set(Order.objects.filter(assignments=run).values_list("status", flat=True)) == {
        "in_transit"
    }


def test_starting_a_finished_run_shows_the_illegal_transition(console, dispatcher):
    run = finished_run(dispatcher)
    page = post_form(console, f"/console/runs/{run.pk}/start/")
    assert "A run cannot go from finished to in progress." in page
    assert status_of(run) == "finished"


def test_cancel_with_a_reason_releases_the_orders(console, dispatcher):
    run = make_run(dispatcher)
    page = post_form(console, f"/console/runs/{run.pk}/cancel/", {"reason": "Driver sick"})
    assert "The run was cancelled" in page
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert run.cancel_reason == "Driver sick"
    assert set(Order.objects.filter(assignments=run).values_list("status", flat=True)) == {
        "pending"
    }


def test_a_run_in_progress_cannot_be_cancelled(console, dispatcher):
    run = started_run(dispatcher)
    page = post_form(console, f"/console/runs/{run.pk}/cancel/", {"reason": "Too late"})
    assert "A run cannot go from in progress to cancelled." in page
    assert status_of(run) == "in_progress"


def test_finish_needs_a_reason(console, dispatcher):
    run = started_run(dispatcher)
    page = post_form(console, f"/console/runs/{run.pk}/finish/", {"reason": ""})
    assert "Reason: This field is required." in page
    assert status_of(run) == "in_progress"


def test_finish_with_a_reason_fails_the_pending_drops_and_records_it(console, dispatcher):
    run = started_run(dispatcher)
    page = post_form(console, f"/console/runs/{run.pk}/finish/", {"reason": "Van broke down"})
    assert "The run was finished" in page
    assert status_of(run) == "finished"
    assert set(
        Destination.objects.filter(order__assignments=run).values_list("failure_reason", flat=True)
    ) == {"Van broke down"}
    assert Incident.objects.filter(assignment=run, type="forced_finish").count() == 1
    assert "Forced finish" in page  # the incident is listed on the page


def test_an_assigned_run_cannot_be_finished(console, dispatcher):
    run = make_run(dispatcher)
    page = post_form(console, f"/console/runs/{run.pk}/finish/", {"reason": "No"})
    assert "A run cannot go from assigned to finished." in page
    assert status_of(run) == "assigned"


def test_reopen_with_delivered_drops(console, dispatcher):
    run = finished_run(dispatcher)
    page = post_form(console, f"/console/runs/{run.pk}/reopen/", {"include_delivered": "true"})
    assert "The run is in progress again." in page
    assert status_of(run) == "in_progress"
    assert set(
        Destination.objects.filter(order__assignments=run).values_list("status", flat=True)
    ) == {"pending"}


def test_reopen_refused_while_the_driver_is_on_another_run(console, dispatcher):
    run = finished_run(dispatcher)
    run = Assignment.objects.select_related("driver").get(pk=run.pk)
    # The same driver has been given another run since.
    services.assignment_create(
        orders=[make_order(customer=CustomerFactory(), by=dispatcher)],
        driver=run.driver,
        vehicle=VehicleFactory(),
        by=dispatcher,
    )
    page = post_form(console, f"/console/runs/{run.pk}/reopen/")
    assert "The driver is not available." in page or "run #" in page
    assert status_of(run) == "finished"


def test_an_assigned_run_cannot_be_reopened(console, dispatcher):
    run = make_run(dispatcher)
    page = post_form(console, f"/console/runs/{run.pk}/reopen/")
    assert "A run cannot go from assigned to in progress." in page


def test_regenerate_the_route(console, dispatcher):
    run = make_run(dispatcher)
    before = Route.objects.get(assignment=run).pk
    page = post_form(console, f"/console/runs/{run.pk}/route/plan/")
    assert "The route was planned again." in page
    assert Route.objects.get(assignment=run).pk != before


def test_a_closed_run_is_not_replanned(console, dispatcher):
    run = finished_run(dispatcher)
    for action in ("plan", "optimize"):
        page = post_form(console, f"/console/runs/{run.pk}/route/{action}/")
        assert "Only a run still to be driven (assigned or in progress) is re-planned." in page


def test_re_optimise(console, dispatcher):
    run = make_run(dispatcher, drops_per_order=3)
    page = post_form(console, f"/console/runs/{run.pk}/route/optimize/")
    assert "The pending stops were put in the best order." in page
    assert Stop.objects.filter(route__assignment=run).count() == 4


def _pending(run) -> list[Stop]:
    return list(Stop.objects.filter(route__assignment=run, status="pending").order_by("sequence"))


def test_resequence_by_position_numbers(console, dispatcher):
    run = make_run(dispatcher, drops_per_order=3)
    pickup, *drops = _pending(run)
    wanted = [pickup.pk, drops[2].pk, drops[0].pk, drops[1].pk]
    data = {"stop_ids": [s.pk for s in [pickup, *drops]], "position": ["1", "3", "4", "2"]}
    page = post_form(console, f"/console/runs/{run.pk}/route/sequence/", data)
    assert "The stops are in the new order." in page
    # A re-plan writes new stop rows: the same places, in the order asked.
    places = {stop.pk: stop.destination_id for stop in [pickup, *drops]}
    assert [s.destination_id for s in _pending(run)] == [places[pk] for pk in wanted]


def test_resequence_with_an_arrow(console, dispatcher):
    run = make_run(dispatcher, drops_per_order=2)
    pickup, first, second = _pending(run)
    data = {"stop_ids": [pickup.pk, first.pk, second.pk], "down": str(first.pk)}
    page = post_form(console, f"/console/runs/{run.pk}/route/sequence/", data)
    assert "The stops are in the new order." in page
    assert [s.destination_id for s in _pending(run)] == [
        None,
        second.destination_id,
        first.destination_id,
    ]


def test_a_drop_off_before_its_pickup_is_refused_with_the_reason(console, dispatcher):
    run = make_run(dispatcher)
    pickup, delivery = _pending(run)
    data = {"stop_ids": [pickup.pk, delivery.pk], "position": ["2", "1"]}
    page = post_form(console, f"/console/runs/{run.pk}/route/sequence/", data)
    assert f"Stop {delivery.pk} is a drop-off before its pickup." in page
    assert [s.pk for s in _pending(run)] == [pickup.pk, delivery.pk]


def test_a_stale_stop_list_is_refused_with_the_stops_to_list(console, dispatcher):
    run = make_run(dispatcher)
    pickup, _delivery = _pending(run)
    page = post_form(
        console,
        f"/console/runs/{run.pk}/route/sequence/",
        {"stop_ids": [pickup.pk], "position": ["1"]},
    )
    assert "List every pending stop of the route exactly once" in page


@pytest.mark.parametrize(
    "data",
    [
        {"stop_ids": ["x"], "position": ["1"]},
        {"stop_ids": ["1", "2"], "position": ["1"]},
        {"stop_ids": ["1"], "position": ["first"]},
        {},
    ],
    ids=["bad-id", "missing-position", "bad-position", "nothing"],
)
def test_a_malformed_sequence_form_is_a_message(console, dispatcher, data):
    run = make_run(dispatcher)
    page = post_form(console, f"/console/runs/{run.pk}/route/sequence/", data)
    assert 'class="message message-error"' in page


def test_report_an_incident(console, dispatcher):
    run = started_run(dispatcher)
    page = post_form(
        console,
        f"/console/runs/{run.pk}/incidents/",
        {"type": "customer_absent", "notes": "Nobody answers"},
    )
    assert "The incident was recorded." in page
    incident = Incident.objects.get(assignment=run)
    assert (incident.type, incident.severity, incident.origin, incident.reported_by_id) == (
        "customer_absent",
        3,
        "staff",
        dispatcher.pk,
    )
    assert "Nobody answers" in page


def test_no_incident_on_a_run_cancelled_before_it_started(console, dispatcher):
    run = services.assignment_cancel(assignment=make_run(dispatcher), reason="", by=dispatcher)
    page = post_form(console, f"/console/runs/{run.pk}/incidents/", {"type": "traffic"})
    assert "This run was cancelled before it started: nothing happened on it." in page
    assert not Incident.objects.filter(assignment=run).exists()


def test_an_unknown_incident_type_is_a_message(console, dispatcher):
    run = started_run(dispatcher)
    page = post_form(console, f"/console/runs/{run.pk}/incidents/", {"type": "forced_finish"})
    assert "Type: Select a valid choice." in page
    assert not Incident.objects.filter(assignment=run).exists()


def test_a_customer_of_the_run_cannot_command_it(dispatcher):
    run = make_run(dispatcher)
    user, _customer = customer_user()
    client = console_client(user)
    response = client.post(f"/console/runs/{run.pk}/start/")
    assert response.status_code == 302
    assert response["Location"] == "/console/login/"
    assert status_of(run) == "assigned"

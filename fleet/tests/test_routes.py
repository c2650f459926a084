"""Routes: pickups before deliveries, the optimiser never worse than the input order,
geometry and ETAs, re-planning after visits, stop visits (pickups of a run under way
only) and scope."""

from decimal import Decimal
from itertools import pairwise

import pytest

from fleet import services
from fleet.models import Route, Stop
from fleet.tests.factories import VehicleFactory, driver_user
from orders.models import Destination
from orders.tests.factories import CustomerFactory, drop, make_order
from rappi.routing import Point, haversine_m

pytestmark = pytest.mark.django_db

# Arequipa drop-offs given in a deliberately poor order (zig-zag across the city).
SCATTERED = [
    ("-16.4232", "-71.5109"),  # Paucarpata (east)
    ("-16.3774", "-71.5489"),  # Cayma (north-west)
    ("-16.4210", "-71.5217"),  # Lambramani (south-east)
    ("-16.3891", "-71.5456"),  # Yanahuara (west)
    ("-16.4050", "-71.5300"),  # south of the centre
]


@pytest.fixture
def run(dispatcher):
    user, driver = driver_user()
    order = make_order(
        customer=CustomerFactory(),
        by=dispatcher,
        drops=[drop(lat=lat, lng=lng) for lat, lng in SCATTERED],
    )
    second = make_order(
        customer=CustomerFactory(), by=dispatcher, drops=[drop(lat="-16.3996", lng="-71.5338")]
    )
    assignment = services.assignment_create(
        orders=[order, second],
        driver=driver,
        vehicle=VehicleFactory(capacity_kg=Decimal("500")),
        by=dispatcher,
    )
    return {"assignment": assignment, "user": user, "orders": [order, second]}


def _length(points):
    return sum(haversine_m(a, b) for a, b in pairwise(points))


def test_a_run_gets_a_route_with_pickups_first(client_for, run, dispatcher):
    body = client_for(dispatcher).get(f"/api/v1/assignments/{run['assignment'].pk}").json()
    route = client_for(dispatcher).get(f"/api/v1/routes/{body['route_id']}").json()
    kinds = [stop["kind"] for stop in route["stops"]]
    assert kinds == ["pickup"] + ["delivery"] * 6  # both orders share the origin: one pickup
    assert [stop["sequence"] for stop in route["stops"]] == list(range(1, 8))
    assert route["geometry"]["type"] == "LineString"
    assert len(route["geometry"]["coordinates"]) == 7
    assert route["distance_m"] > 0
    assert route["duration_s"] > 0
    etas = [stop["eta"] for stop in route["stops"]]
    assert etas == sorted(etas)
    assert {stop["destination_id"] for stop in route["stops"][1:]} == set(
        Destination.objects.filter(order__in=run["orders"]).values_list("pk", flat=True)
    )


def test_the_optimised_order_is_never_longer_than_the_input_order(run):
    stops = list(Stop.objects.filter(route__assignment=run["assignment"]).order_by("sequence"))
    planned = [Point(float(s.lat), float(s.lng)) for s in stops]
    given_order = [planned[0]] + [
        Point(float(d.lat), float(d.lng))
        for d in Destination.objects.filter(order__in=run["orders"]).order_by(
            "order_id", "sequence"
        )
    ]
    assert _length(planned) <= _length(given_order)
    assert _length(planned) < _length(given_order) * 0.95  # and here clearly shorter


def test_replanning_keeps_delivered_stops_first_and_reoptimises_the_rest(
    client_for, run, dispatcher
):
    services.assignment_start(assignment=run["assignment"], by=dispatcher)
    first_drop = run["orders"][0].destinations.order_by("sequence").first()
    Destination.objects.filter(pk=first_drop.pk).update(status="delivered")
    route = (
        client_for(dispatcher)
        .post(f"/api/v1/assignments/{run['assignment'].pk}/regenerate-route")
        .json()
    )
    stops = route["stops"]
    assert stops[0]["kind"] == "pickup"
    assert stops[0]["status"] == "visited"
    assert stops[1]["destination_id"] == first_drop.pk
    assert stops[1]["status"] == "visited"
    assert all(stop["status"] == "pending" for stop in stops[2:])
    assert Route.objects.filter(assignment=run["assignment"]).count() == 1


def visit(client, stop):
    return client.post(f"/api/v1/routes/{stop.route_id}/stops/{stop.pk}/visit")


def test_the_driver_marks_a_pickup_visited_on_its_run_in_progress_and_others_cannot(
    client_for, run, dispatcher
):
    services.assignment_start(assignment=run["assignment"], by=dispatcher)
    route = Route.objects.get(assignment=run["assignment"])
    pickup = route.stops.get(kind="pickup")
    own = client_for(run["user"])
    response = visit(own, pickup)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "visited"
    assert response.json()["visited_at"]
    again = visit(own, pickup)  # a retry changes nothing
    assert again.status_code == 200
    assert again.json()["visited_at"] == response.json()["visited_at"]
    other_user, _other = driver_user()
    assert client_for(other_user).get(f"/api/v1/routes/{route.pk}").status_code == 404
    assert visit(client_for(other_user), pickup).status_code == 404
    assert own.post(f"/api/v1/routes/{route.pk}/stops/999999/visit").status_code == 404


def test_a_stop_is_visited_only_while_its_run_is_in_progress(client_for, run, dispatcher):
    route = Route.objects.get(assignment=run["assignment"])
    pickup = route.stops.get(kind="pickup")
    own = client_for(run["user"])
    refused = visit(own, pickup)  # the run is assigned, not under way
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "assignment_not_in_progress"
    assert error["details"] == {"assignment_id": run["assignment"].pk, "status": "assigned"}
    assert Stop.objects.get(pk=pickup.pk).status == "pending"
    services.assignment_start(assignment=run["assignment"], by=dispatcher)
    services.assignment_finish(assignment=run["assignment"], reason="Fin de turno", by=dispatcher)
    closed = visit(own, Stop.objects.get(pk=pickup.pk))
    assert closed.status_code == 409
    assert closed.json()["error"]["details"]["status"] == "finished"


def test_a_delivery_stop_is_done_only_by_delivering_or_failing_it(client_for, run, dispatcher):
    services.assignment_start(assignment=run["assignment"], by=dispatcher)
    stop = Route.objects.get(assignment=run["assignment"]).stops.filter(kind="delivery").first()
    response = visit(client_for(run["user"]), stop)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "delivery_stop_needs_proof"
    base = f"/api/v1/assignments/{run['assignment'].pk}/destinations/{stop.destination_id}"
    assert error["details"] == {
        "assignment_id": run["assignment"].pk,
        "destination_id": stop.destination_id,
        "deliver_url": f"{base}/deliver",
        "fail_url": f"{base}/fail",
    }
    assert Stop.objects.get(pk=stop.pk).status == "pending"
    assert Destination.objects.get(pk=stop.destination_id).status == "pending"


def test_a_stop_of_a_route_without_a_run_is_not_visited(client_for, dispatcher):
    staff = client_for(dispatcher)
    order = make_order(customer=CustomerFactory(), by=dispatcher)
    route = staff.post("/api/v1/routes/plan", {"order_ids": [order.pk]}, format="json").json()
    pickup = Stop.objects.get(route_id=route["id"], kind="pickup")
    response = visit(staff, pickup)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "route_without_run"
    assert Stop.objects.get(pk=pickup.pk).status == "pending"


def test_a_skipped_pickup_cannot_be_visited(client_for, run, dispatcher):
    services.assignment_start(assignment=run["assignment"], by=dispatcher)
    pickup = Route.objects.get(assignment=run["assignment"]).stops.get(kind="pickup")
    Stop.objects.filter(pk=pickup.pk).update(status="skipped")
    response = visit(client_for(run["user"]), pickup)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "illegal_transition"
    assert response.json()["error"]["details"]["current"] == "skipped"


def test_a_run_cancelled_before_it_started_leaves_no_stop_pending(run, dispatcher):
    services.assignment_cancel(assignment=run["assignment"], reason="Lluvia")
    route = Route.objects.get(assignment=run["assignment"])
    assert set(route.stops.values_list("status", flat=True)) == {"skipped"}


def test_replanning_a_run_under_way_keeps_a_pickup_not_yet_collected_pending(
    client_for, run, dispatcher
):
    services.assignment_start(assignment=run["assignment"], by=dispatcher)
    route = client_for(dispatcher).post(
        f"/api/v1/assignments/{run['assignment'].pk}/regenerate-route"
    )
    assert route.status_code == 200, route.content
    [pickup] = [stop for stop in route.json()["stops"] if stop["kind"] == "pickup"]
    assert pickup["status"] == "pending"  # nothing delivered yet: the driver is on its way
    visit(client_for(run["user"]), Stop.objects.get(pk=pickup["id"]))
    again = client_for(dispatcher).post(
        f"/api/v1/assignments/{run['assignment'].pk}/regenerate-route"
    )
    [pickup] = [stop for stop in again.json()["stops"] if stop["kind"] == "pickup"]
    assert pickup["status"] == "visited"
    assert pickup["visited_at"]


def test_plan_is_staff_only(client_for, run, dispatcher):
    body = {"assignment_id": run["assignment"].pk}
    assert (
        client_for(run["user"]).post("/api/v1/routes/plan", body, format="json").status_code == 403
    )
    response = client_for(dispatcher).post("/api/v1/routes/plan", body, format="json")
    assert response.status_code == 201
    assert len(response.json()["stops"]) == 7


@pytest.mark.parametrize("size", [1, 10])
def test_the_route_list_costs_constant_queries(
    client_for, dispatcher, django_assert_max_num_queries, size
):
    for _ in range(size):
        _user, driver = driver_user()
        order = make_order(
            customer=CustomerFactory(), by=dispatcher, drops=[drop(), drop(lat="-16.39")]
        )
        services.assignment_create(
            orders=[order], driver=driver, vehicle=VehicleFactory(), by=dispatcher
        )
    # auth (2), throttle, count, page, stops: the same at any page size
    with django_assert_max_num_queries(8):
        response = client_for(dispatcher).get("/api/v1/routes/?page_size=200")
    assert response.json()["count"] == size


def test_the_demo_seed_has_runs_in_each_state_and_resets_cleanly(
    django_capture_on_commit_callbacks,
):
    from django.core.management import call_command

    from fleet.models import Assignment, Incident
    from orders.models import Rating
    from tracking.documents import Evidence

    states = ["assigned", "cancelled", "finished", "in_progress"]
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    # Today's runs; the four weeks before are finished runs of their own.
    today = Assignment.objects.exclude(orders__notes="[demo] history")
    past = Assignment.objects.filter(orders__notes="[demo] history").distinct()
    assert sorted(today.values_list("status", flat=True)) == states
    assert set(past.values_list("status", flat=True)) == {"finished"}
    past_runs = past.count()
    active = Assignment.objects.exclude(status="cancelled")
    assert all(Route.objects.filter(assignment=a).exists() for a in active)
    finished = today.get(status="finished")
    assert finished.orders.get().status == "delivered"
    # Two drops delivered with photos, the first signed too; rated, credited to the driver.
    assert Evidence.objects(assignment_id=finished.pk, destination_id__ne=None).count() == 3
    assert Rating.objects.get(order__in=finished.orders.all()).driver_id == finished.driver_id
    running = Assignment.objects.get(status="in_progress")
    incident = Incident.objects.get(assignment=running, type="traffic")
    assert Evidence.objects(incident_id=incident.pk).count() == 1
    assert Assignment.objects.get(status="cancelled").orders.get().status == "pending"

    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--reset", verbosity=0)
    assert sorted(today.values_list("status", flat=True)) == states
    assert past.count() == past_runs
    assert Evidence.objects.count() == 4  # the old runs' files went with them


@pytest.mark.parametrize("days_ahead", range(7))
def test_the_demo_seeds_its_runs_on_any_weekday_and_leaves_the_free_drivers_van_free(
    monkeypatch, days_ahead
):
    """Each demo vehicle is on one live run at most, and plates kept out of the centre on
    the runs' days are not used, whatever the weekday."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from fleet.models import Assignment

    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(days=days_ahead))
    call_command("seed_demo", verbosity=0)
    today = Assignment.objects.exclude(orders__notes="[demo] history")
    states = sorted(today.values_list("status", flat=True))
    assert states == ["assigned", "cancelled", "finished", "in_progress"]
    live = Assignment.objects.filter(status__in=Assignment.ACTIVE)
    assert not live.filter(vehicle__plate="V2B-456").exists()  # driver3's, for a dispatcher


def _pending_ids(route_json):
    return [stop["id"] for stop in route_json["stops"] if stop["status"] == "pending"]


def test_manual_sequence_then_optimize(client_for, run, dispatcher):
    staff = client_for(dispatcher)
    route = services.route_plan(assignment=run["assignment"])
    current = staff.get(f"/api/v1/routes/{route.pk}").json()
    pickups = [s["id"] for s in current["stops"] if s["kind"] == "pickup"]
    deliveries = [s["id"] for s in current["stops"] if s["kind"] == "delivery"]
    wanted = pickups + list(reversed(deliveries))

    response = staff.put(f"/api/v1/routes/{route.pk}/sequence", {"stop_ids": wanted}, format="json")
    assert response.status_code == 200, response.content
    resequenced = response.json()
    coordinates = [(s["lat"], s["lng"]) for s in resequenced["stops"]]
    by_id = {s["id"]: (s["lat"], s["lng"]) for s in current["stops"]}
    assert coordinates == [by_id[pk] for pk in wanted]
    assert [s["sequence"] for s in resequenced["stops"]] == list(range(1, len(wanted) + 1))
    etas = [s["eta"] for s in resequenced["stops"]]
    assert etas == sorted(etas)

    optimised = staff.post(f"/api/v1/routes/{resequenced['id']}/optimize").json()
    assert optimised["distance_m"] <= resequenced["distance_m"]
    assert [s["kind"] for s in optimised["stops"]][: len(pickups)] == ["pickup"] * len(pickups)


def test_sequence_must_list_every_pending_stop_once_and_pickups_first(client_for, run, dispatcher):
    staff = client_for(dispatcher)
    route = services.route_plan(assignment=run["assignment"])
    ids = _pending_ids(staff.get(f"/api/v1/routes/{route.pk}").json())
    pickup = Stop.objects.filter(route=route, kind="pickup").first().pk
    delivery_first = [ids[-1], *[pk for pk in ids if pk != ids[-1]]]
    moved_pickup_last = [pk for pk in ids if pk != pickup] + [pickup]
    for bad in (ids[:-1], [*ids, ids[0]], [*ids[:-1], 999_999], moved_pickup_last):
        response = staff.put(
            f"/api/v1/routes/{route.pk}/sequence", {"stop_ids": bad}, format="json"
        )
        assert response.status_code == 400, bad
        error = response.json()["error"]
        assert error["code"] == "invalid"
        assert "stop_ids" in error["details"]["fields"]
    # Moving a drop-off first is fine only if its pickup is done: here it is not.
    first_kind = Stop.objects.get(pk=delivery_first[0]).kind
    assert first_kind == "delivery"
    assert (
        staff.put(
            f"/api/v1/routes/{route.pk}/sequence", {"stop_ids": delivery_first}, format="json"
        ).status_code
        == 400
    )
    assert Route.objects.get(pk=route.pk).stops.count() == len(ids)  # nothing rewritten


def test_sequence_and_optimize_are_staff_only(client_for, run):
    route = services.route_plan(assignment=run["assignment"])
    driver = client_for(run["user"])
    ids = _pending_ids(driver.get(f"/api/v1/routes/{route.pk}").json())
    assert (
        driver.put(
            f"/api/v1/routes/{route.pk}/sequence", {"stop_ids": ids}, format="json"
        ).status_code
        == 403
    )
    assert driver.post(f"/api/v1/routes/{route.pk}/optimize").status_code == 403


def test_plan_for_orders_not_yet_in_a_run(client_for, dispatcher):
    orders = [
        make_order(
            customer=CustomerFactory(),
            by=dispatcher,
            drops=[drop(lat=lat, lng=lng) for lat, lng in SCATTERED[:3]],
        ),
        make_order(customer=CustomerFactory(), by=dispatcher, drops=[drop()]),
    ]
    staff = client_for(dispatcher)
    response = staff.post(
        "/api/v1/routes/plan", {"order_ids": [o.pk for o in orders]}, format="json"
    )
    assert response.status_code == 201, response.content
    route = response.json()
    assert route["assignment_id"] is None
    kinds = [stop["kind"] for stop in route["stops"]]
    assert kinds == ["pickup"] + ["delivery"] * 4  # both orders share the demo origin
    assert route["distance_m"] > 0
    assert len(route["geometry"]["coordinates"]) == 5
    for body in ({}, {"order_ids": [orders[0].pk], "assignment_id": 1}):
        bad = staff.post("/api/v1/routes/plan", body, format="json")
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "invalid"
    missing = staff.post("/api/v1/routes/plan", {"order_ids": [999_999]}, format="json")
    assert missing.status_code == 404


def test_the_demo_track_strays_once_and_yields_one_deviation(django_capture_on_commit_callbacks):
    from django.core.management import call_command

    from fleet.models import Assignment, Incident
    from tracking.documents import GeofenceEvent, GpsPing

    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", verbosity=0)
    running = Assignment.objects.get(status="in_progress")
    assert GpsPing.objects(assignment_id=running.pk).count() > 10
    deviations = Incident.objects.filter(assignment=running, type="route_deviation")
    assert deviations.count() == 1
    assert deviations.get().origin == "system"
    events = GeofenceEvent.objects(assignment_id=running.pk)
    assert {e.type for e in events} >= {"enter", "exit"}
    # The track crosses the demo's district delivery zones on its way.
    assert {e.geofence_kind for e in events} >= {"route_corridor", "delivery_zone"}

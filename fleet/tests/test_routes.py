"""Routes: pickups before deliveries, the optimiser never worse than the input order,
geometry and ETAs, re-planning after visits, stop visits and scope."""

from decimal import Decimal
from itertools import pairwise

import pytest

from fleet import services
from fleet.models import Route, Stop
from fleet.tests.factories import VehicleFactory, driver_user
from identity.tests.factories import UserFactory
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
def staff_user():
    return UserFactory(role_name="dispatcher")


@pytest.fixture
def run(staff_user):
    user, driver = driver_user()
    order = make_order(
        customer=CustomerFactory(),
        by=staff_user,
        drops=[drop(lat=lat, lng=lng) for lat, lng in SCATTERED],
    )
    second = make_order(
        customer=CustomerFactory(), by=staff_user, drops=[drop(lat="-16.3996", lng="-71.5338")]
    )
    assignment = services.assignment_create(
        orders=[order, second],
        driver=driver,
        vehicle=VehicleFactory(capacity_kg=Decimal("500")),
        by=staff_user,
    )
    return {"assignment": assignment, "user": user, "orders": [order, second]}


def _length(points):
    return sum(haversine_m(a, b) for a, b in pairwise(points))


def test_a_run_gets_a_route_with_pickups_first(client_for, run, staff_user):
    body = client_for(staff_user).get(f"/api/v1/assignments/{run['assignment'].pk}").json()
    route = client_for(staff_user).get(f"/api/v1/routes/{body['route_id']}").json()
    kinds = [stop["kind"] for stop in route["stops"]]
    assert kinds == ["pickup"] + ["delivery"] * 6  # both orders share the origin: one pickup
    assert [stop["sequence"] for stop in route["stops"]] == list(range(1, 8))
    assert route["geometry"]["type"] == "LineString" and len(route["geometry"]["coordinates"]) == 7
    assert route["distance_m"] > 0 and route["duration_s"] > 0
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
    client_for, run, staff_user
):
    services.assignment_start(assignment=run["assignment"], by=staff_user)
    first_drop = run["orders"][0].destinations.order_by("sequence").first()
    Destination.objects.filter(pk=first_drop.pk).update(status="delivered")
    route = (
        client_for(staff_user)
        .post(f"/api/v1/assignments/{run['assignment'].pk}/regenerate-route")
        .json()
    )
    stops = route["stops"]
    assert stops[0]["kind"] == "pickup" and stops[0]["status"] == "visited"
    assert stops[1]["destination_id"] == first_drop.pk and stops[1]["status"] == "visited"
    assert all(stop["status"] == "pending" for stop in stops[2:])
    assert Route.objects.filter(assignment=run["assignment"]).count() == 1


def test_the_driver_marks_a_stop_visited_and_others_cannot(client_for, run):
    route = Route.objects.get(assignment=run["assignment"])
    stop = route.stops.order_by("sequence").last()
    own = client_for(run["user"])
    response = own.post(f"/api/v1/routes/{route.pk}/stops/{stop.pk}/visit")
    assert response.status_code == 200 and response.json()["status"] == "visited"
    other_user, _other = driver_user()
    assert client_for(other_user).get(f"/api/v1/routes/{route.pk}").status_code == 404
    assert own.post(f"/api/v1/routes/{route.pk}/stops/999999/visit").status_code == 404


def test_plan_is_staff_only(client_for, run, staff_user):
    body = {"assignment_id": run["assignment"].pk}
    assert (
        client_for(run["user"]).post("/api/v1/routes/plan", body, format="json").status_code == 403
    )
    response = client_for(staff_user).post("/api/v1/routes/plan", body, format="json")
    assert response.status_code == 201 and len(response.json()["stops"]) == 7


@pytest.mark.parametrize("size", [1, 10])
def test_the_route_list_costs_constant_queries(
    client_for, staff_user, django_assert_max_num_queries, size
):
    vehicle = VehicleFactory(capacity_kg=Decimal("100000"))
    for _ in range(size):
        _user, driver = driver_user()
        order = make_order(
            customer=CustomerFactory(), by=staff_user, drops=[drop(), drop(lat="-16.39")]
        )
        services.assignment_create(orders=[order], driver=driver, vehicle=vehicle, by=staff_user)
    # auth (2), throttle, count, page, stops: the same at any page size
    with django_assert_max_num_queries(8):
        response = client_for(staff_user).get("/api/v1/routes/?page_size=200")
    assert response.json()["count"] == size


def test_the_demo_seed_has_an_assigned_and_a_running_run_and_resets_cleanly():
    from django.core.management import call_command

    from fleet.models import Assignment

    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    assert sorted(Assignment.objects.values_list("status", flat=True)) == [
        "assigned",
        "in_progress",
    ]
    assert all(Route.objects.filter(assignment=a).exists() for a in Assignment.objects.all())
    call_command("seed_demo", "--reset", verbosity=0)
    assert sorted(Assignment.objects.values_list("status", flat=True)) == [
        "assigned",
        "in_progress",
    ]

"""The routing providers (offline estimate, OSRM faked at its HTTP boundary) and the
stop-ordering optimiser."""

import itertools
import logging
import math
import random
import threading
from typing import Any

import pytest

from rappi.routing import (
    Leg,
    OfflineRouter,
    OsrmRouter,
    Point,
    Route,
    RoutingUnavailableError,
    bearing_deg,
    get_router,
    haversine_m,
    optimise_order,
)
from rappi.testing.fake_http import FakeHttpServer
from rappi.testing.net import free_port

PLAZA_DE_ARMAS = Point(lat=-16.3988, lng=-71.5369)
YANAHUARA = Point(lat=-16.3889, lng=-71.5436)
CAYMA = Point(lat=-16.3750, lng=-71.5450)

# Eight drop-offs around Arequipa, deliberately listed in a poor visiting order.
AREQUIPA = [
    Point(-16.3988, -71.5369),
    Point(-16.4090, -71.5375),
    Point(-16.3889, -71.5436),
    Point(-16.4210, -71.5217),
    Point(-16.3891, -71.5456),
    Point(-16.4265, -71.5160),
    Point(-16.3950, -71.5290),
    Point(-16.4125, -71.5480),
]


def _hand_haversine(a: Point, b: Point) -> float:
    """The haversine formula written out, with its own copy of the Earth's mean radius."""
    radius_m = 6371008.8
    phi1, phi2 = math.radians(a.lat), math.radians(b.lat)
    half_d_phi = (phi2 - phi1) / 2
    half_d_lambda = math.radians(b.lng - a.lng) / 2
    h = math.sin(half_d_phi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_d_lambda) ** 2
    return 2 * radius_m * math.atan2(math.sqrt(h), math.sqrt(1 - h))


def _length(order: list[int], dist: list[list[float]]) -> float:
    return sum(dist[a][b] for a, b in itertools.pairwise(order))


def _distances(points: list[Point]) -> list[list[float]]:
    return [[leg.distance_m for leg in row] for row in OfflineRouter().matrix(points)]


# --- Great-circle distance ---------------------------------------------------------------


def test_haversine_matches_the_formula_worked_by_hand():
    # The spherical law of cosines gives the same 1312.498 m for this pair.
    assert haversine_m(PLAZA_DE_ARMAS, YANAHUARA) == pytest.approx(
        _hand_haversine(PLAZA_DE_ARMAS, YANAHUARA), rel=1e-9
    )
    assert haversine_m(PLAZA_DE_ARMAS, YANAHUARA) == pytest.approx(1312.498, abs=0.01)


def test_haversine_matches_a_published_long_distance_within_half_a_percent():
    # Nashville (BNA) to Los Angeles (LAX): 2887.26 km, the Rosetta Code haversine example.
    nashville, los_angeles = Point(36.12, -86.67), Point(33.94, -118.40)
    assert haversine_m(nashville, los_angeles) == pytest.approx(2_887_260, rel=0.005)


def test_haversine_is_symmetric_and_zero_for_the_same_point():
    assert haversine_m(PLAZA_DE_ARMAS, PLAZA_DE_ARMAS) == 0
    assert haversine_m(YANAHUARA, PLAZA_DE_ARMAS) == haversine_m(PLAZA_DE_ARMAS, YANAHUARA)


def test_haversine_between_antipodes_is_half_the_circumference():
    assert haversine_m(Point(0, 0), Point(0, 180)) == pytest.approx(math.pi * 6371008.8)


# --- Offline provider --------------------------------------------------------------------


def test_offline_leg_is_the_great_circle_times_the_detour_factor_at_the_average_speed():
    leg = OfflineRouter().leg(PLAZA_DE_ARMAS, YANAHUARA)
    expected_m = _hand_haversine(PLAZA_DE_ARMAS, YANAHUARA) * 1.3
    assert leg.distance_m == pytest.approx(expected_m)
    assert leg.duration_s == pytest.approx(expected_m / (25 * 1000 / 3600))  # 25 km/h


def test_offline_leg_follows_the_settings_at_call_time(settings):
    router = OfflineRouter()  # created before the override: settings are read per call
    settings.ROUTING_DETOUR_FACTOR = 2.0
    settings.ROUTING_AVERAGE_SPEED_KMH = 36.0  # 10 m/s
    leg = router.leg(PLAZA_DE_ARMAS, YANAHUARA)
    assert leg.distance_m == pytest.approx(2 * _hand_haversine(PLAZA_DE_ARMAS, YANAHUARA))
    assert leg.duration_s == pytest.approx(leg.distance_m / 10)


def test_offline_route_is_straight_segments_with_one_leg_per_pair():
    router = OfflineRouter()
    route = router.route([PLAZA_DE_ARMAS, YANAHUARA, CAYMA])
    assert route.geometry == {
        "type": "LineString",
        "coordinates": [[-71.5369, -16.3988], [-71.5436, -16.3889], [-71.5450, -16.3750]],
    }
    assert route.legs == [router.leg(PLAZA_DE_ARMAS, YANAHUARA), router.leg(YANAHUARA, CAYMA)]
    assert route.distance_m == pytest.approx(sum(leg.distance_m for leg in route.legs))
    assert route.duration_s == pytest.approx(sum(leg.duration_s for leg in route.legs))
    assert route.distance_m > router.leg(PLAZA_DE_ARMAS, CAYMA).distance_m  # via Yanahuara


def test_offline_matrix_holds_every_ordered_leg_with_a_zero_diagonal():
    router = OfflineRouter()
    points = [PLAZA_DE_ARMAS, YANAHUARA, CAYMA]
    matrix = router.matrix(points)
    assert len(matrix) == 3
    for i, row in enumerate(matrix):
        assert len(row) == 3
        for j, leg in enumerate(row):
            if i == j:
                assert leg == Leg(0.0, 0.0)
            else:
                assert leg == router.leg(points[i], points[j])
                assert leg.distance_m > 0


@pytest.mark.parametrize("points", [[], [PLAZA_DE_ARMAS]])
def test_a_route_needs_at_least_two_points(points):
    with pytest.raises(ValueError, match="at least two points"):
        OfflineRouter().route(points)
    # Refused before any request: the address is never contacted.
    with pytest.raises(ValueError, match="at least two points"):
        OsrmRouter("http://127.0.0.1:9", timeout_s=0.1).route(points)


# --- OSRM provider -----------------------------------------------------------------------

ROUTE_PATH = r"/route/v1/driving/[^/]+"
TABLE_PATH = r"/table/v1/driving/[^/]+"
ROUTE_ANSWER: dict[str, Any] = {
    "code": "Ok",
    "routes": [
        {
            "geometry": {
                "type": "LineString",
                "coordinates": [
                    [-71.5369, -16.3988],
                    [-71.5401, -16.3950],
                    [-71.5436, -16.3889],
                    [-71.5450, -16.3750],
                ],
            },
            "legs": [
                {"distance": 1800.5, "duration": 240.2, "steps": [], "summary": ""},
                {"distance": 1650, "duration": 200, "steps": [], "summary": ""},
            ],
            "distance": 3450.5,
            "duration": 440.2,
            "weight": 440.2,
            "weight_name": "routability",
        }
    ],
    "waypoints": [],
}
TABLE_ANSWER = {
    "code": "Ok",
    # OSRM is not symmetric (one-way streets), and snapping can leave a sliver on the
    # diagonal that the provider must not pass on.
    "distances": [[0.4, 1800.5, 3300], [1750, 0, 1650], [3350.2, 1700, 0]],
    "durations": [[0.1, 240.2, 430], [235, 0, 200], [440, 210, 0]],
    "sources": [],
    "destinations": [],
}


@pytest.fixture
def osrm():
    with FakeHttpServer() as fake:
        fake.add("GET", ROUTE_PATH, lambda req: (200, ROUTE_ANSWER))
        fake.add("GET", TABLE_PATH, lambda req: (200, TABLE_ANSWER))
        yield fake


def test_osrm_route_asks_for_lng_lat_pairs_with_the_full_geojson_geometry(osrm):
    OsrmRouter(osrm.url, timeout_s=2).route([PLAZA_DE_ARMAS, YANAHUARA, CAYMA])
    [request] = osrm.requests
    assert request.method == "GET"
    assert request.path == (
        "/route/v1/driving/-71.536900,-16.398800;-71.543600,-16.388900;-71.545000,-16.375000"
    )
    assert request.query == {"overview": ["full"], "geometries": ["geojson"], "steps": ["false"]}


def test_osrm_route_reads_the_first_route(osrm):
    route = OsrmRouter(osrm.url, timeout_s=2).route([PLAZA_DE_ARMAS, YANAHUARA, CAYMA])
    assert route == Route(
        geometry=ROUTE_ANSWER["routes"][0]["geometry"],
        distance_m=3450.5,
        duration_s=440.2,
        legs=[Leg(1800.5, 240.2), Leg(1650.0, 200.0)],
    )


def test_osrm_leg_is_the_route_between_two_points(osrm):
    two_point_answer = {
        "code": "Ok",
        "routes": [
            {
                "geometry": {"type": "LineString", "coordinates": [[-71.5369, -16.3988]] * 2},
                "legs": [{"distance": 1800.5, "duration": 240.2}],
                "distance": 1800.5,
                "duration": 240.2,
            }
        ],
    }
    osrm.routes.clear()
    osrm.add("GET", ROUTE_PATH, lambda req: (200, two_point_answer))
    leg = OsrmRouter(osrm.url, timeout_s=2).leg(PLAZA_DE_ARMAS, YANAHUARA)
    assert leg == Leg(distance_m=1800.5, duration_s=240.2)
    assert osrm.requests[0].path == "/route/v1/driving/-71.536900,-16.398800;-71.543600,-16.388900"


def test_osrm_matrix_asks_the_table_service_for_distances_and_durations(osrm):
    matrix = OsrmRouter(osrm.url, timeout_s=2).matrix([PLAZA_DE_ARMAS, YANAHUARA, CAYMA])
    [request] = osrm.requests
    assert request.path == (
        "/table/v1/driving/-71.536900,-16.398800;-71.543600,-16.388900;-71.545000,-16.375000"
    )
    assert request.query == {"annotations": ["distance,duration"]}
    assert matrix == [
        [Leg(0.0, 0.0), Leg(1800.5, 240.2), Leg(3300.0, 430.0)],
        [Leg(1750.0, 235.0), Leg(0.0, 0.0), Leg(1650.0, 200.0)],
        [Leg(3350.2, 440.0), Leg(1700.0, 210.0), Leg(0.0, 0.0)],
    ]


@pytest.mark.parametrize("points", [[], [PLAZA_DE_ARMAS]])
def test_osrm_matrix_of_fewer_than_two_points_asks_nothing(osrm, points):
    matrix = OsrmRouter(osrm.url, timeout_s=2).matrix(points)
    assert matrix == [[Leg(0.0, 0.0)] for _ in points]
    assert osrm.requests == []


def test_osrm_base_url_may_have_a_path_prefix_and_a_trailing_slash(osrm):
    osrm.add("GET", "/osrm" + ROUTE_PATH, lambda req: (200, ROUTE_ANSWER))
    OsrmRouter(f"{osrm.url}/osrm/", timeout_s=2).route([PLAZA_DE_ARMAS, YANAHUARA, CAYMA])
    assert osrm.requests[0].path.startswith("/osrm/route/v1/driving/-71.536900,")


def test_osrm_coordinates_are_sent_with_six_decimals(osrm):
    points = [Point(-16.123456789, -71.987654321), Point(-16.1, -71.5), Point(0.0000004, 1e-7)]
    OsrmRouter(osrm.url, timeout_s=2).matrix(points)
    assert osrm.requests[0].path == (
        "/table/v1/driving/-71.987654,-16.123457;-71.500000,-16.100000;0.000000,0.000000"
    )


FAILING_ANSWERS = {
    "server error": (500, {"message": "boom"}),
    "bad gateway html": (502, b"<html>Bad Gateway</html>"),
    "invalid json": (200, b"{not json"),
    "not utf-8": (200, b"\xff\xfe\xfa"),
    "no route": (200, {"code": "NoRoute", "message": "Impossible route between points"}),
    "invalid query": (400, {"code": "InvalidQuery", "message": "Query string malformed"}),
    "json but not an object": (200, ["Ok"]),
    "ok without data": (200, {"code": "Ok"}),
    "no content": (204, b""),
    # Well-formed data that must still be refused for its status or its code.
    "non-authoritative": (203, {**ROUTE_ANSWER, **TABLE_ANSWER}),
    "code not ok": (200, {**ROUTE_ANSWER, **TABLE_ANSWER, "code": "NoSegment"}),
}
CALLS = {
    "leg": lambda router: router.leg(PLAZA_DE_ARMAS, YANAHUARA),
    "route": lambda router: router.route([PLAZA_DE_ARMAS, YANAHUARA, CAYMA]),
    "matrix": lambda router: router.matrix([PLAZA_DE_ARMAS, YANAHUARA, CAYMA]),
}


def _assert_unavailable(call, router):
    with pytest.raises(RoutingUnavailableError) as caught:
        call(router)
    error = caught.value
    assert (error.code, error.http_status) == ("routing_unavailable", 503)
    # The cause is logged, not shown: it may name an internal host.
    assert error.details == {"provider": "osrm"}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
@pytest.mark.parametrize("answer", FAILING_ANSWERS.values(), ids=FAILING_ANSWERS.keys())
def test_osrm_failure_answers_make_routing_unavailable(call, answer, caplog):
    with FakeHttpServer() as fake:
        fake.add("GET", ROUTE_PATH, lambda req: answer)
        fake.add("GET", TABLE_PATH, lambda req: answer)
        with caplog.at_level(logging.WARNING, logger="rappi.routing"):
            _assert_unavailable(call, OsrmRouter(fake.url, timeout_s=2))
        assert len(fake.requests) == 1
    assert "OSRM" in caplog.text


MALFORMED_ROUTES = {
    "no routes": {"code": "Ok", "routes": []},
    "a leg missing": {
        "code": "Ok",
        "routes": [{**ROUTE_ANSWER["routes"][0], "legs": ROUTE_ANSWER["routes"][0]["legs"][:1]}],
    },
    "distance null": {"code": "Ok", "routes": [{**ROUTE_ANSWER["routes"][0], "distance": None}]},
    "duration negative": {"code": "Ok", "routes": [{**ROUTE_ANSWER["routes"][0], "duration": -1}]},
    "distance a boolean": {
        "code": "Ok",
        "routes": [{**ROUTE_ANSWER["routes"][0], "distance": True}],
    },
    "polyline geometry": {
        "code": "Ok",
        "routes": [{**ROUTE_ANSWER["routes"][0], "geometry": "_p~iF"}],
    },
    "point geometry": {
        "code": "Ok",
        "routes": [
            {**ROUTE_ANSWER["routes"][0], "geometry": {"type": "Point", "coordinates": [0, 0]}}
        ],
    },
    "short position": {
        "code": "Ok",
        "routes": [
            {
                **ROUTE_ANSWER["routes"][0],
                "geometry": {"type": "LineString", "coordinates": [[-71.5], [-71.5, -16.3]]},
            }
        ],
    },
}


@pytest.mark.parametrize("answer", MALFORMED_ROUTES.values(), ids=MALFORMED_ROUTES.keys())
def test_osrm_route_with_an_unusable_shape_is_unavailable(osrm, answer):
    osrm.routes.clear()
    osrm.add("GET", ROUTE_PATH, lambda req: (200, answer))
    _assert_unavailable(CALLS["route"], OsrmRouter(osrm.url, timeout_s=2))


MALFORMED_TABLES = {
    # OSRM answers null for a pair it cannot connect.
    "unreachable pair": {**TABLE_ANSWER, "distances": [[0, None, 1], [1, 0, 1], [1, 1, 0]]},
    "a row missing": {**TABLE_ANSWER, "durations": TABLE_ANSWER["durations"][:2]},
    "a short row": {**TABLE_ANSWER, "distances": [[0, 1], [1, 0, 1], [1, 1, 0]]},
    "a text distance": {**TABLE_ANSWER, "distances": [[0, "1", 1], [1, 0, 1], [1, 1, 0]]},
}


@pytest.mark.parametrize("answer", MALFORMED_TABLES.values(), ids=MALFORMED_TABLES.keys())
def test_osrm_matrix_with_an_unusable_shape_is_unavailable(osrm, answer):
    osrm.routes.clear()
    osrm.add("GET", TABLE_PATH, lambda req: (200, answer))
    _assert_unavailable(CALLS["matrix"], OsrmRouter(osrm.url, timeout_s=2))


@pytest.fixture
def slow_osrm():
    """An OSRM that holds every request until the test ends, far past a short timeout."""
    release = threading.Event()

    def hang(req):
        release.wait(timeout=10)
        return 200, ROUTE_ANSWER

    with FakeHttpServer() as fake:
        fake.add("GET", ROUTE_PATH, hang)
        fake.add("GET", TABLE_PATH, hang)
        yield fake
        release.set()


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_osrm_timeout_makes_routing_unavailable(slow_osrm, call):
    _assert_unavailable(call, OsrmRouter(slow_osrm.url, timeout_s=0.2))
    assert len(slow_osrm.requests) == 1  # it was reached, and then gave up on


@pytest.fixture
def closed_port_url():
    """A local port nothing listens on: connecting to it is refused."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_osrm_refused_connection_makes_routing_unavailable(closed_port_url, call):
    _assert_unavailable(call, OsrmRouter(closed_port_url, timeout_s=2))


@pytest.mark.parametrize("base_url", ["file:///etc", "ftp://osrm.example", "osrm:5000"])
def test_osrm_url_that_is_not_http_is_never_opened(base_url):
    _assert_unavailable(CALLS["route"], OsrmRouter(base_url, timeout_s=2))


# --- Choosing a provider -----------------------------------------------------------------


def test_get_router_is_offline_without_an_osrm_url(settings):
    settings.OSRM_URL = ""
    router = get_router()
    assert isinstance(router, OfflineRouter)
    assert router.name == "offline"


def test_get_router_is_osrm_when_an_osrm_url_is_set(settings):
    settings.OSRM_URL = "http://osrm.internal:5000"
    settings.EXTERNAL_HTTP_TIMEOUT_S = 1.5
    router = get_router()
    assert isinstance(router, OsrmRouter)
    assert (router.name, router.base_url, router.timeout_s) == (
        "osrm",
        "http://osrm.internal:5000",
        1.5,
    )


def test_optimise_order_without_a_router_asks_the_configured_provider(settings):
    # A table saying the far point (2) is closest to the start: the order follows OSRM.
    table = {
        "code": "Ok",
        "distances": [[0, 900, 100], [900, 0, 100], [100, 100, 0]],
        "durations": [[0, 90, 10], [90, 0, 10], [10, 10, 0]],
    }
    with FakeHttpServer() as fake:
        fake.add("GET", TABLE_PATH, lambda req: (200, table))
        settings.OSRM_URL = fake.url
        assert optimise_order([PLAZA_DE_ARMAS, YANAHUARA, CAYMA]) == [0, 2, 1]
        assert [request.path.split("/")[1] for request in fake.requests] == ["table"]


# --- Visiting order ----------------------------------------------------------------------


class MatrixRouter:
    """A provider answering a fixed distance table, so orders can be worked by hand."""

    name = "fixed"

    def __init__(self, distances: list[list[float]]) -> None:
        self.distances = distances
        self.calls = 0

    def matrix(self, points: list[Point]) -> list[list[Leg]]:
        self.calls += 1
        assert len(points) == len(self.distances)
        return [[Leg(d, d) for d in row] for row in self.distances]

    def leg(self, origin: Point, destination: Point) -> Leg:
        raise AssertionError("optimise_order needs only the matrix")

    def route(self, points: list[Point]) -> Route:
        raise AssertionError("optimise_order needs only the matrix")


def _given_order(n: int, start: int) -> list[int]:
    return [start, *(i for i in range(n) if i != start)]


def _shortest_order(dist: list[list[float]], start: int) -> list[int]:
    rest = [i for i in range(len(dist)) if i != start]
    orders = ([start, *perm] for perm in itertools.permutations(rest))
    return min(orders, key=lambda order: _length(order, dist))


@pytest.mark.parametrize("start", range(len(AREQUIPA)))
def test_optimised_order_is_a_permutation_from_start_and_never_longer_than_the_input(start):
    order = optimise_order(AREQUIPA, start=start, router=OfflineRouter())
    dist = _distances(AREQUIPA)
    assert order[0] == start
    assert sorted(order) == list(range(len(AREQUIPA)))
    assert _length(order, dist) <= _length(_given_order(len(AREQUIPA), start), dist)
    # Brute force over all 7! orders: the heuristic lands within 5% of the best.
    assert _length(order, dist) <= 1.05 * _length(_shortest_order(dist, start), dist)


def test_optimised_order_is_much_shorter_than_a_poor_input_order():
    dist = _distances(AREQUIPA)
    order = optimise_order(AREQUIPA, router=OfflineRouter())
    # The input zig-zags across the city (about 31 km); a sensible path is about 12.6 km.
    assert _length(order, dist) < 0.5 * _length(list(range(len(AREQUIPA))), dist)


def test_two_opt_repairs_a_path_that_nearest_neighbour_gets_wrong():
    # On the equator, 0.01° of longitude is about 1.11 km. From the start at 0: A at -1,
    # B at +2 and C at -10 (in those units). Nearest neighbour goes S-A-B-C, 1 + 3 + 12 = 16;
    # going right first, S-B-A-C, is 2 + 3 + 9 = 14.
    points = [Point(0, 0), Point(0, -0.01), Point(0, 0.02), Point(0, -0.10)]
    dist = _distances(points)
    nearest_first = [0, 1, 2, 3]
    assert min((1, 2, 3), key=lambda j: dist[0][j]) == 1  # A really is nearest to the start
    assert min((2, 3), key=lambda j: dist[1][j]) == 2  # then B
    order = optimise_order(points, router=OfflineRouter())
    assert order == [0, 2, 1, 3]
    assert _length(order, dist) == pytest.approx(14 / 16 * _length(nearest_first, dist))


def test_optimised_order_keeps_the_input_when_the_heuristic_would_be_longer():
    # One-way streets make OSRM distances asymmetric. Here nearest neighbour + 2-opt ends at
    # 0-2-3-4-1 = 4 + 7 + 8 + 15 = 34, while the given order 0-1-2-3-4 is 6 + 7 + 7 + 8 = 28.
    dist = [
        [0, 6, 4, 20, 12],
        [11, 0, 7, 2, 17],
        [12, 16, 0, 7, 12],
        [11, 19, 8, 0, 8],
        [19, 15, 15, 7, 0],
    ]
    order = optimise_order([Point(0, i) for i in range(5)], router=MatrixRouter(dist))
    assert sorted(order) == [0, 1, 2, 3, 4]
    assert order[0] == 0
    assert _length(order, dist) <= 28


def test_optimised_order_follows_the_router_not_the_straight_line_distances():
    # Geometrically 0-1-2-3 along a line; the router says the reverse sweep is far cheaper.
    points = [Point(0, 0), Point(0, 0.01), Point(0, 0.02), Point(0, 0.03)]
    dist = [
        [0, 50, 50, 1],
        [50, 0, 50, 50],
        [50, 1, 0, 50],
        [50, 50, 1, 0],
    ]
    assert optimise_order(points, router=MatrixRouter(dist)) == [0, 3, 2, 1]


def _nearest_neighbour_order(dist: list[list[float]], start: int) -> list[int]:
    order, left = [start], set(range(len(dist))) - {start}
    while left:
        nearest = min(left, key=lambda j: dist[order[-1]][j])
        order.append(nearest)
        left.remove(nearest)
    return order


@pytest.mark.parametrize("seed", range(40))
def test_optimised_order_on_random_asymmetric_tables_beats_the_input_and_nearest_neighbour(
    seed,
):
    rnd = random.Random(seed)
    n = rnd.randint(3, 8)
    start = rnd.randrange(n)
    # Real-valued, so nearest neighbour has no ties and its path is well defined.
    dist = [[0.0 if i == j else rnd.uniform(1, 50) for j in range(n)] for i in range(n)]
    order = optimise_order([Point(0, i) for i in range(n)], start=start, router=MatrixRouter(dist))
    assert order[0] == start
    assert sorted(order) == list(range(n))
    assert _length(order, dist) <= _length(_given_order(n, start), dist)
    assert _length(order, dist) <= _length(_nearest_neighbour_order(dist, start), dist)
    # Same input, same answer: nothing random or order-of-dict dependent inside.
    assert (
        optimise_order([Point(0, i) for i in range(n)], start=start, router=MatrixRouter(dist))
        == order
    )


def test_optimise_order_of_no_points_is_empty():
    router = MatrixRouter([])
    assert optimise_order([], router=router) == []
    assert router.calls == 0


def test_optimise_order_of_one_point_is_that_point_without_asking_the_router():
    router = MatrixRouter([[0]])
    assert optimise_order([PLAZA_DE_ARMAS], router=router) == [0]
    assert router.calls == 0


@pytest.mark.parametrize(("start", "expected"), [(0, [0, 1]), (1, [1, 0])])
def test_optimise_order_of_two_points_goes_from_start_to_the_other(start, expected):
    router = MatrixRouter([[0, 1], [1, 0]])
    assert optimise_order([PLAZA_DE_ARMAS, YANAHUARA], start=start, router=router) == expected
    assert router.calls == 0


@pytest.mark.parametrize("start", [-1, 3])
def test_optimise_order_refuses_a_start_outside_the_points(start):
    with pytest.raises(ValueError, match="start"):
        optimise_order([PLAZA_DE_ARMAS, YANAHUARA, CAYMA], start=start, router=OfflineRouter())


@pytest.mark.parametrize(
    ("to", "expected"),
    [((1.0, 0.0), 0.0), ((0.0, 1.0), 90.0), ((-1.0, 0.0), 180.0), ((0.0, -1.0), 270.0)],
)
def test_the_bearing_is_degrees_clockwise_from_north(to, expected):
    bearing = bearing_deg(Point(lat=0.0, lng=0.0), Point(lat=to[0], lng=to[1]))
    assert bearing == pytest.approx(expected)


def test_the_bearing_north_east_at_arequipa_is_a_little_under_45_degrees():
    # 0.001° of longitude is shorter than 0.001° of latitude away from the equator:
    # atan(cos(16.4°)) = 43.8°.
    a = Point(lat=-16.4, lng=-71.5)
    b = Point(lat=-16.399, lng=-71.499)
    assert bearing_deg(a, b) == pytest.approx(43.8, abs=0.1)

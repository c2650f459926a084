"""A run's GPS trail as the console's maps draw it (`pings.trail_for`): the fixes in
recorded-time order, simplified in metres (Douglas-Peucker) with the first and the last
fix kept, in one MongoDB query whatever the run's length."""

import math
import random
from datetime import timedelta
from typing import Any

from django.utils import timezone

from rappi.routing import EARTH_RADIUS_M
from rappi.testing.mongo_commands import mongo_commands
from tracking import pings
from tracking.documents import GpsPing

RUN = 41
LAT, LNG = -16.3988, -71.5369
METRES_PER_DEGREE_LAT = EARTH_RADIUS_M * math.pi / 180
METRES_PER_DEGREE_LNG = METRES_PER_DEGREE_LAT * math.cos(math.radians(LAT))


def position(east_m: float, north_m: float) -> list[float]:
    return [LNG + east_m / METRES_PER_DEGREE_LNG, LAT + north_m / METRES_PER_DEGREE_LAT]


def store(points: list[tuple[float, float]], *, run: int = RUN) -> list[list[float]]:
    """Fixes of `run` one second apart at these (east, north) metres, stored out of order;
    their [lng, lat] positions in recorded order."""
    start = timezone.now() - timedelta(hours=1)
    docs: list[dict[str, Any]] = [
        {
            "driver_id": run,
            "assignment_id": run,
            "vehicle_plate": "ABC-123",
            "location": {"type": "Point", "coordinates": position(*point)},
            "recorded_at": pings.to_millis(start + timedelta(seconds=i)),
            "received_at": timezone.now(),
        }
        for i, point in enumerate(points)
    ]
    shuffled = docs[:]
    random.Random(7).shuffle(shuffled)
    for start_at in range(0, len(shuffled), 50):  # the test server takes small batches
        GpsPing._get_collection().insert_many(shuffled[start_at : start_at + 50])
    return [doc["location"]["coordinates"] for doc in docs]


def close(a: list[float], b: list[float]) -> bool:
    return math.isclose(a[0], b[0], abs_tol=1e-9) and math.isclose(a[1], b[1], abs_tol=1e-9)


def positions(points: list[tuple[float, float]]) -> list[list[float]]:
    return [position(*point) for point in points]


# The simplification on its own, at sizes the test MongoDB server stores too slowly.


def test_a_straight_line_of_1000_fixes_is_its_two_ends():
    line = positions([(0, n) for n in range(1000)])  # 1 km due north, a fix a metre
    assert pings.simplified_trail(line) == [line[0], line[-1]]


def test_a_long_run_is_cut_to_max_points_keeping_its_ends():
    wiggle = positions([(n * 10, 30 if n % 2 else 0) for n in range(3000)])  # all turns
    assert len(pings.simplified_trail(wiggle, max_points=5000)) == 3000
    trail = pings.simplified_trail(wiggle, max_points=2000)
    assert 2 <= len(trail) <= 2000
    assert trail[0] == wiggle[0]
    assert trail[-1] == wiggle[-1]


def test_a_phone_standing_still_is_one_place():
    still = positions([(0, 0)] * 20)
    assert pings.simplified_trail(still) == [still[0], still[-1]]


def test_an_out_and_back_keeps_its_far_end():
    there_and_back = positions(
        [(0, n * 10) for n in range(11)] + [(0, n * 10) for n in range(9, -1, -1)]
    )
    trail = pings.simplified_trail(there_and_back)
    assert len(trail) == 3
    assert close(trail[1], there_and_back[10])


# Read from the store: one query, the run's fixes only, in recorded order.


def test_the_trail_is_read_in_one_query_of_the_coordinates_in_recorded_order(
    mongo_test_database,
):
    fixes = store([(0, n * 2) for n in range(120)])  # stored shuffled
    store([(500, 500)], run=RUN + 1)  # another run's fix is not in this trail
    with mongo_commands(mongo_test_database) as sent:
        trail = pings.trail_for(assignment_id=RUN)
    assert trail == [fixes[0], fixes[-1]]
    finds = [command for command in sent if command.name in ("find", "aggregate")]
    assert len(finds) == 1
    assert finds[0].body["projection"] == {"_id": 0, "location.coordinates": 1}


def test_a_corner_is_kept():
    fixes = store([(0, n * 10) for n in range(51)] + [(n * 10, 500) for n in range(1, 51)])
    trail = pings.trail_for(assignment_id=RUN)
    assert len(trail) == 3
    assert trail[0] == fixes[0]
    assert trail[-1] == fixes[-1]
    assert close(trail[1], fixes[50])  # the corner, 500 m north


def test_a_zig_zag_wider_than_the_tolerance_is_kept_and_jitter_within_it_is_not():
    zig = [(n * 20, 15 if n % 2 else 0) for n in range(11)]  # 15 m each way
    fixes = store(zig)
    trail = pings.trail_for(assignment_id=RUN, tolerance_m=5)
    assert len(trail) == len(fixes)
    assert all(close(a, b) for a, b in zip(trail, fixes, strict=True))

    jitter = [(n * 20, 2 if n % 2 else 0) for n in range(11)]  # 2 m each way
    fixes = store(jitter, run=RUN + 1)
    assert pings.trail_for(assignment_id=RUN + 1, tolerance_m=5) == [fixes[0], fixes[-1]]


def test_a_run_without_fixes_or_with_one_has_that_trail():
    assert pings.trail_for(assignment_id=RUN) == []
    [only] = store([(3, 4)])
    assert pings.trail_for(assignment_id=RUN) == [only]
    second = store([(3, 4), (50, 60)], run=RUN + 1)
    assert pings.trail_for(assignment_id=RUN + 1) == second

"""Enter/exit events: a fix counts only when its whole accuracy circle is on one side of
a border, entering is immediate, leaving is debounced (N fixes or T seconds), states are
kept per driver and run, forbidden zones alert the dispatchers."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry import shape

from identity.documents import Notification
from identity.tests.factories import UserFactory
from tracking import events, geofences
from tracking.documents import GeofenceEvent, GeofenceState
from tracking.tests.factories import (
    LNG,
    METRES_PER_DEGREE_LAT,
    METRES_PER_DEGREE_LNG,
    NORTH_LINE,
    ZoneFactory,
)
from tracking.tests.factories import MID_LAT as LAT

pytestmark = pytest.mark.django_db

# The run's route is NORTH_LINE, 1.1 km due north along one meridian: its 80 m corridor's
# border runs 80 m east of it.
RUN, DRIVER = 501, 77
T0 = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)


def east(metres: float, *, seconds: float, accuracy: float | None = 4.0, north: float = 0):
    """A fix `metres` east of the route, `seconds` after T0."""
    return {
        "lat": LAT + north / METRES_PER_DEGREE_LAT,
        "lng": LNG + metres / METRES_PER_DEGREE_LNG,
        "recorded_at": T0 + timedelta(seconds=seconds),
        "accuracy_m": accuracy,
    }


def track(offsets: list[float], *, start: float = 0, every: float = 5, accuracy=4.0):
    return [
        east(metres, seconds=start + i * every, accuracy=accuracy)
        for i, metres in enumerate(offsets)
    ]


def process(fixes, *, run=RUN, driver=DRIVER):
    return events.process_fixes(assignment_id=run, driver_id=driver, fixes=fixes)


def stored(**query) -> list[GeofenceEvent]:
    return list(GeofenceEvent.objects(**query).order_by("confirmed_at", "geofence_kind", "type"))


@pytest.fixture
def corridor():
    return geofences.corridor_replace(assignment_id=RUN, route_id=1, line=NORTH_LINE)


# --- Debounce ------------------------------------------------------------------------------------


def test_a_track_jittering_across_the_corridor_border_makes_no_flapping_events(corridor):
    # 70-95 m east of the route: the border (80 m) is crossed over and over, never by more
    # than two fixes in a row (81 m is within the 4 m accuracy of it: undecided).
    jitter = [10, 72, 88, 91, 74, 86, 81, 93, 70, 87, 90, 73, 95, 88, 71] * 4
    fixes = track(jitter)
    area = shape(corridor.geometry)
    inside = [area.contains(ShapelyPoint(f["lng"], f["lat"])) for f in fixes]
    assert sum(a != b for a, b in pairwise(inside)) > 20

    process(fixes[:20])
    process(fixes[20:])

    assert [(e.type, e.at) for e in stored()] == [("enter", T0)]
    [state] = GeofenceState.objects(driver_id=DRIVER)
    assert state.inside


def test_fixes_whose_accuracy_circle_overlaps_the_border_change_nothing(corridor):
    # 100 m east is 20 m outside, but with 25 m of accuracy the phone may be inside.
    process(track([0] + [100] * 10, accuracy=25.0))
    assert [e.type for e in stored()] == ["enter"]
    # The same fixes with 5 m of accuracy are surely outside.
    process(track([100] * 3, start=100, accuracy=5.0))
    assert [e.type for e in stored()] == ["enter", "exit"]


def test_a_real_exit_is_one_exit_dated_at_the_first_fix_outside(corridor):
    created = process(track([0, 20, 40, 150, 220, 300, 380, 450]))
    assert [(e["type"], e["at"]) for e in created] == [
        ("enter", T0),
        ("exit", T0 + timedelta(seconds=15)),
    ]
    exit_ = stored(type="exit")[0]
    # The third fix outside confirmed it; the first one outside is where it happened.
    assert exit_.confirmed_at == T0 + timedelta(seconds=25)
    lng, lat = exit_.location["coordinates"]
    assert round((lng - LNG) * METRES_PER_DEGREE_LNG) == 150
    assert lat == pytest.approx(LAT)
    assert exit_.geofence_id == corridor.pk
    assert exit_.geofence_kind == "route_corridor"
    assert (exit_.driver_id, exit_.assignment_id, exit_.incident_id) == (DRIVER, RUN, None)


def test_an_exit_is_also_confirmed_by_fixes_outside_spanning_the_seconds(corridor, settings):
    settings.GEOFENCE_EXIT_FIXES, settings.GEOFENCE_EXIT_SECONDS = 5, 30
    process(track([0]))
    process(track([200], start=10))
    assert [e.type for e in stored()] == ["enter"]  # one fix outside is not enough
    process(track([260], start=35))  # two fixes, 25 s apart: not yet
    assert [e.type for e in stored()] == ["enter"]
    process(track([300], start=45))  # three fixes, the last 35 s after the first
    assert [(e.type, e.at) for e in stored()] == [
        ("enter", T0),
        ("exit", T0 + timedelta(seconds=10)),
    ]


def test_an_inside_fix_starts_the_exit_count_again(corridor):
    process(track([0, 200, 200, 0, 200, 200, 10]))
    assert [e.type for e in stored()] == ["enter"]


def test_the_count_carries_over_from_one_request_to_the_next(corridor):
    process(track([0, 200]))
    process(track([210], start=10))
    assert [e.type for e in stored()] == ["enter"]
    process(track([220], start=15))
    assert [e.type for e in stored()] == ["enter", "exit"]


def test_coming_back_is_an_enter_at_once_and_a_second_exit_is_counted_afresh(corridor):
    process(track([0, 200, 200, 200, 10, 200, 200, 200]))
    assert [e.type for e in stored()] == ["enter", "exit", "enter", "exit"]


def test_a_driver_first_seen_outside_the_corridor_has_not_left_it(corridor):
    # On the way to the first pickup: never on the route yet.
    assert process(track([500, 450, 400, 350, 300])) == []
    assert GeofenceState.objects.count() == 0


def test_fixes_already_weighed_are_not_weighed_again(corridor):
    fixes = track([0, 200, 200, 200])
    process(fixes)
    process(fixes)  # a retry racing its original
    process(fixes[1:3])
    assert [e.type for e in stored()] == ["enter", "exit"]


def test_fixes_are_taken_in_recorded_order_whatever_the_list_order(corridor):
    fixes = track([0, 200, 200, 200])
    process(list(reversed(fixes)))
    assert [e.type for e in stored()] == ["enter", "exit"]


# --- Zones ---------------------------------------------------------------------------------------


def test_delivery_zones_are_entered_and_left_along_with_the_corridor(corridor):
    zone = ZoneFactory(west_m=40, east_m=2000, kind="delivery_zone", name="Cercado")
    # 0 m: corridor only; 60 m: both; 300 m onwards: the zone only.
    process(track([0, 60, 300, 400, 500, 600]))
    assert [(e.geofence_kind, e.type) for e in stored()] == [
        ("route_corridor", "enter"),
        ("delivery_zone", "enter"),
        ("route_corridor", "exit"),
    ]
    [state] = GeofenceState.objects(geofence_id=zone.pk)
    assert state.inside
    assert state.assignment_id == RUN


def test_a_zone_the_driver_is_in_is_left_even_when_the_fixes_are_far_away(corridor):
    ZoneFactory(west_m=-200, east_m=200, kind="delivery_zone", name="Cercado")
    process(track([0]))
    # Back online 20 km away: the zone is nowhere near these fixes, but was held.
    far = [east(20_000 + i * 10, seconds=600 + i * 5) for i in range(3)]
    process(far)
    assert [(e.geofence_kind, e.type) for e in stored()] == [
        ("delivery_zone", "enter"),
        ("route_corridor", "enter"),
        ("delivery_zone", "exit"),
        ("route_corridor", "exit"),
    ]


def test_a_zones_tolerance_widens_the_band_where_fixes_change_nothing(corridor):
    ZoneFactory(west_m=300, east_m=2000, kind="delivery_zone", name="Yanahuara", tolerance_m=30)
    process(track([320]))  # 20 m inside: within the band
    assert stored(geofence_kind="delivery_zone") == []
    process(track([340], start=5))  # 40 m inside: beyond band and accuracy
    assert [e.type for e in stored(geofence_kind="delivery_zone")] == ["enter"]


def test_inactive_zones_make_no_events(corridor):
    zone = ZoneFactory(west_m=-200, east_m=200, kind="forbidden", name="Market")
    geofences.geofence_deactivate(geofence=zone)
    process(track([0]))
    assert [e.geofence_kind for e in stored()] == ["route_corridor"]


def test_another_runs_corridor_is_not_this_runs_business(corridor):
    process(track([0, 10]), run=RUN + 1)
    assert stored() == []


def test_a_new_run_starts_with_fresh_states(corridor):
    zone = ZoneFactory(west_m=-200, east_m=200, kind="delivery_zone", name="Cercado")
    process(track([0]))
    # The driver's next run starts inside the same zone: it is entered for that run too.
    process(track([5], start=3600), run=RUN + 1)
    assert [(e.assignment_id, e.type) for e in stored(geofence_id=zone.pk)] == [
        (RUN, "enter"),
        (RUN + 1, "enter"),
    ]


def test_entering_a_forbidden_zone_notifies_every_dispatcher(
    corridor, django_capture_on_commit_callbacks
):
    dispatchers = [UserFactory(role_name="dispatcher") for _ in range(2)]
    UserFactory(role_name="admin")
    zone = ZoneFactory(west_m=-200, east_m=200, kind="forbidden", name="Mercado San Camilo")
    with django_capture_on_commit_callbacks(execute=True):
        process(track([0, 10, 20]))
    [event] = stored(geofence_id=zone.pk)
    notes = list(Notification.objects(kind="geofence.forbidden_entered"))
    assert sorted(n.recipient_user_id for n in notes) == sorted(u.pk for u in dispatchers)
    assert all(n.body == "Mercado San Camilo" for n in notes)
    assert notes[0].data["event_id"] == str(event.pk)
    assert notes[0].data["assignment_id"] == RUN


def test_entering_a_delivery_zone_notifies_nobody(corridor, django_capture_on_commit_callbacks):
    UserFactory(role_name="dispatcher")
    ZoneFactory(west_m=-200, east_m=200, kind="delivery_zone", name="Cercado")
    with django_capture_on_commit_callbacks(execute=True):
        process(track([0]))
    assert Notification.objects.count() == 0


def test_a_batch_writes_its_events_in_one_insert(corridor, monkeypatch):
    collection = GeofenceEvent._get_collection()
    calls = []
    original = type(collection).insert_many

    def counting(self, documents, *args, **kwargs):
        calls.append(len(documents))
        return original(self, documents, *args, **kwargs)

    monkeypatch.setattr(type(collection), "insert_many", counting)
    process(track([0, 200, 200, 200, 0, 200, 200, 200]))
    assert calls == [4]


def test_events_delete_for_purges_a_runs_events_and_states_only(corridor):
    ZoneFactory(west_m=-2000, east_m=2000, kind="delivery_zone", name="Cercado")
    process(track([0, 200, 200, 200, 0]))
    process(track([0]), run=RUN + 1, driver=DRIVER + 1)
    assert events.events_delete_for(assignment_id=RUN) == 4
    assert GeofenceState.objects(assignment_id=RUN).count() == 0
    assert GeofenceEvent.objects(assignment_id=RUN).count() == 0
    assert GeofenceEvent.objects(assignment_id=RUN + 1).count() == 1
    assert GeofenceState.objects(assignment_id=RUN + 1).count() == 1


def test_weighing_takes_no_lock_and_holds_no_transaction(corridor, monkeypatch):
    # The states are kept by compare-and-set on the driver's head in MongoDB: nothing is
    # locked in PostgreSQL (nor in SQLite, the embedded default of `make run`, whose
    # transaction would hold its write lock through the MongoDB work).
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tracking import heads

    real_write = heads.write
    depth_when_writing = []

    def write(*args, **kwargs):
        depth_when_writing.append(len(connection.atomic_blocks))
        return real_write(*args, **kwargs)

    monkeypatch.setattr(heads, "write", write)
    with CaptureQueriesContext(connection) as queries:
        created = process(track([0, 20, 40, 150, 220, 300, 380, 450]))
    assert [e["type"] for e in created] == ["enter", "exit"]
    assert not any("advisory" in query["sql"] for query in queries.captured_queries)
    # Only the test's own transaction is open when the head is written.
    assert depth_when_writing == [len(connection.atomic_blocks)]

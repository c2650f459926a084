"""The driver's head under the ping ingest when things go wrong: requests of two runs of one
driver, or of one run, overtaking each other; weighing or publishing failing; geofences
written without a new generation; and the per-process geofence cache's bounds."""

from datetime import timedelta

import pytest
from django.utils import timezone
from pymongo.errors import PyMongoError

from identity.documents import Notification
from identity.tests.factories import UserFactory
from rappi.testing.mongo_commands import mongo_commands
from tracking import events, geofences, heads, pings
from tracking.documents import DriverPosition, Geofence, GeofenceEvent, GpsPing
from tracking.models import ZONES_SCOPE, GeofenceGeneration
from tracking.signals import corridor_exited
from tracking.tests.factories import (
    LNG,
    METRES_PER_DEGREE_LNG,
    MID_LAT,
    NORTH_LINE,
    FixFactory,
    ZoneFactory,
    ingest_fixes,
    ring,
)

pytestmark = pytest.mark.django_db

RUN, DRIVER = 701, 71
T0 = timezone.now() - timedelta(minutes=20)


def fix(seconds: float, metres_east: float = 0, **extra) -> pings.Fix:
    return FixFactory(
        lat=MID_LAT,
        lng=LNG + metres_east / METRES_PER_DEGREE_LNG,
        recorded_at=T0 + timedelta(seconds=seconds),
        accuracy_m=extra.pop("accuracy_m", 4),
        **extra,
    )


def ingest(fixes, *, run=RUN, driver=DRIVER) -> pings.IngestResult:
    return ingest_fixes(
        fixes,
        assignment_id=run,
        driver_id=driver,
        vehicle_plate="HED-001",
        started_at=T0 - timedelta(hours=1),
    )


def enters(**query) -> int:
    return GeofenceEvent.objects(type="enter", **query).count()


def before_the_first_write(monkeypatch, meanwhile):
    """Run `meanwhile()` once, just before the next request's first head write: another
    request wrote the head after this one read it."""
    real_write = heads.write
    done = []

    def write(driver_id, *, head, fields):
        if not done:
            done.append(True)
            meanwhile()
        return real_write(driver_id, head=head, fields=fields)

    monkeypatch.setattr(heads, "write", write)


# --- Requests overtaking each other ---------------------------------------------------------------


def test_a_late_request_of_the_previous_run_leaves_the_new_runs_states_alone(monkeypatch):
    zone = ZoneFactory()
    previous, current = RUN, RUN + 1
    ingest([fix(0)], run=previous)  # the previous run enters the zone
    # Its last batch is in flight when the next run starts, enters and writes the head.
    before_the_first_write(monkeypatch, lambda: ingest([fix(60)], run=current))
    result = ingest([fix(30)], run=previous)
    monkeypatch.undo()
    assert (result.accepted, result.late) == (1, 1)  # stored, too late to weigh
    assert GpsPing.objects(assignment_id=previous).count() == 2
    ingest([fix(90)], run=current)
    assert enters(geofence_id=zone.pk, assignment_id=previous) == 1
    assert enters(geofence_id=zone.pk, assignment_id=current) == 1
    head = heads.read(DRIVER)
    assert head["geofences_run"] == current
    assert [state["inside"] for state in head["geofences"]] == [True]


def test_a_batch_of_the_previous_run_arriving_after_the_next_one_started_is_late():
    zone = ZoneFactory()
    ingest([fix(0)], run=RUN)
    ingest([fix(60)], run=RUN + 1)
    result = ingest([fix(30)], run=RUN)
    assert (result.accepted, result.late) == (1, 1)
    ingest([fix(90)], run=RUN + 1)
    assert enters(geofence_id=zone.pk) == 2
    assert heads.read(DRIVER)["geofences_run"] == RUN + 1


def test_fixes_a_newer_batch_overtook_are_counted_late(monkeypatch):
    ingest([fix(0)])
    before_the_first_write(monkeypatch, lambda: ingest([fix(90)]))
    result = ingest([fix(30), fix(60)])
    assert (result.accepted, result.late) == (2, 2)


def test_a_fix_repeating_one_stored_by_a_request_that_died_is_a_duplicate():
    ingest([fix(0, accuracy_m=0)])
    # A request stored this fix and died before writing the head: the head is at 0 s.
    stored = fix(30, 3000, accuracy_m=0, client_id="c-1")
    run = {"driver_id": DRIVER, "assignment_id": RUN, "vehicle_plate": "HED-001"}
    assert pings.ingest._insert([stored], run=run, received_at=timezone.now()) == set()
    # Its retry, with one more fix: from the stored one, not from the head, it is no speed.
    result = ingest([stored, fix(35, 3010, accuracy_m=0)])
    assert result.rejected == [{"index": 0, "reason": "duplicate"}]
    assert (result.accepted, result.duplicates, result.late) == (1, 1, 0)
    assert heads.read(DRIVER)["recorded_at"].replace(tzinfo=None) == (
        pings.to_millis(T0 + timedelta(seconds=35)).replace(tzinfo=None)
    )


def test_a_head_always_contended_still_answers_with_the_fixes_stored(monkeypatch):
    monkeypatch.setattr(heads, "write", lambda driver_id, **kw: (False, heads.read(driver_id)))
    result = ingest([fix(0), fix(30)])
    assert (result.accepted, result.late) == (2, 2)
    assert GpsPing.objects(driver_id=DRIVER).count() == 2


# --- Weighing and publishing failing ------------------------------------------------------------


def test_a_failure_to_weigh_still_moves_the_position_and_keeps_the_states(monkeypatch):
    zone = ZoneFactory()
    ingest([fix(0)])

    def unreachable(**kwargs):
        raise PyMongoError("geofences unreachable")

    monkeypatch.setattr(geofences, "weighing_zones", unreachable)
    result = ingest([fix(30)])
    monkeypatch.undo()
    assert (result.accepted, result.late) == (1, 0)
    head = heads.read(DRIVER)
    assert head["recorded_at"].replace(tzinfo=None) == pings.to_millis(
        T0 + timedelta(seconds=30)
    ).replace(tzinfo=None)
    assert [state["inside"] for state in head["geofences"]] == [True]
    ingest([fix(60)])
    assert enters(geofence_id=zone.pk) == 1


def test_a_zone_stored_without_a_name_keeps_no_other_from_being_weighed():
    zone = ZoneFactory()
    Geofence._get_collection().insert_one(
        {
            "kind": "forbidden",
            "active": True,
            "geometry": {"type": "Polygon", "coordinates": [ring(west_m=-100, east_m=100)]},
        }
    )
    GeofenceGeneration.bump(ZONES_SCOPE)
    result = ingest([fix(0)])
    assert result.accepted == 1
    assert enters(geofence_id=zone.pk) == 1


@pytest.fixture
def corridor_exits():
    seen = []

    def receiver(**kwargs):
        seen.append(kwargs["assignment_id"])

    corridor_exited.connect(receiver, dispatch_uid="test_ping_heads")
    yield seen
    corridor_exited.disconnect(dispatch_uid="test_ping_heads")


def _alerting_track() -> list[pings.Fix]:
    """In the corridor and a forbidden zone, then out of both for good."""
    geofences.corridor_replace(assignment_id=RUN, route_id=1, line=NORTH_LINE)
    ZoneFactory(kind="forbidden", name="Market")
    UserFactory(role_name="dispatcher")
    return [fix(0), fix(10, 300), fix(20, 300), fix(30, 300)]


def test_a_failing_copy_of_the_states_loses_no_alert(
    monkeypatch, corridor_exits, django_capture_on_commit_callbacks
):
    track = _alerting_track()

    def broken(weighing):
        raise PyMongoError("geofence_states unreachable")

    monkeypatch.setattr(events, "_copy_states", broken)
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest(track).accepted == 4
    assert Notification.objects(kind="geofence.forbidden_entered").count() == 1
    assert corridor_exits == [RUN]
    assert GeofenceEvent.objects(assignment_id=RUN).count() == 4


def test_failing_to_store_the_events_loses_neither_the_position_nor_the_alerts(
    monkeypatch, corridor_exits, django_capture_on_commit_callbacks
):
    track = _alerting_track()

    class Unreachable:
        def insert_many(self, *args, **kwargs):
            raise PyMongoError("geofence_events unreachable")

    monkeypatch.setattr(events, "_events", Unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest(track).accepted == 4
    assert heads.read(DRIVER)["recorded_at"].replace(tzinfo=None) == pings.to_millis(
        T0 + timedelta(seconds=30)
    ).replace(tzinfo=None)
    assert Notification.objects(kind="geofence.forbidden_entered").count() == 1
    assert corridor_exits == [RUN]


# --- The geofence cache ---------------------------------------------------------------------------


def test_a_zone_written_without_a_new_generation_counts_within_a_minute(monkeypatch):
    ingest([fix(0)])  # no zone: the process keeps that
    Geofence._get_collection().insert_one(
        Geofence(
            name="Raw",
            kind="forbidden",
            geometry={"type": "Polygon", "coordinates": [ring(west_m=-200, east_m=200)]},
            created_at=timezone.now(),
            updated_at=timezone.now(),
        ).to_mongo()
    )
    ingest([fix(30)])
    assert enters() == 0  # not yet
    later = geofences._clock() + geofences.CACHE_MAX_AGE_S + 1
    monkeypatch.setattr(geofences, "_clock", lambda: later)
    ingest([fix(60)])
    assert enters() == 1


def test_a_corridor_saved_as_a_zone_is_no_longer_weighed_as_the_runs_corridor():
    geofences.corridor_replace(assignment_id=RUN, route_id=1, line=NORTH_LINE)
    ingest([fix(0)])
    assert enters(geofence_kind="route_corridor") == 1
    corridor = geofences.corridor_for(assignment_id=RUN)
    corridor.kind = "delivery_zone"
    corridor.save()
    ingest([fix(10, 300), fix(20, 300), fix(30, 300)])
    exits = [e.geofence_kind for e in GeofenceEvent.objects(type="exit")]
    assert exits == ["delivery_zone"]


def test_the_corridor_cache_keeps_no_geometry_and_evicts_the_least_used(
    monkeypatch, mongo_test_database
):
    assert geofences._CORRIDORS_CACHED <= 256
    monkeypatch.setattr(geofences, "_CORRIDORS_CACHED", 2)
    cache = geofences._weighing_cache
    generation = {}
    for run in (1, 2, 3):
        geofences.corridor_replace(assignment_id=run, route_id=run, line=NORTH_LINE)
        generation[run] = geofences.generations_for(assignment_id=run)[1]
    cache.corridor(1, generation[1])
    cache.corridor(2, generation[2])
    assert "geometry" not in cache.corridor(1, generation[1]).doc  # a hit, too
    cache.corridor(3, generation[3])  # the least recently used goes: run 2's
    with mongo_commands(mongo_test_database) as sent:
        cache.corridor(1, generation[1])
        cache.corridor(3, generation[3])
    assert sent == []
    with mongo_commands(mongo_test_database) as sent:
        cache.corridor(2, generation[2])
    assert len(sent) == 1


def test_the_cache_1_is_filled_by_a_ping():
    geofences.corridor_replace(assignment_id=RUN, route_id=1, line=NORTH_LINE)
    ingest([fix(0)])
    assert geofences._weighing_cache.corridors


def test_the_cache_2_is_empty_at_the_start_of_each_test():
    assert not geofences._weighing_cache.corridors
    assert geofences._weighing_cache.zones[0] is None


# --- Leftovers ------------------------------------------------------------------------------------


def test_purging_a_runs_events_removes_its_geofence_generation():
    geofences.corridor_replace(assignment_id=RUN, route_id=1, line=NORTH_LINE)
    geofences.corridor_delete_for(assignment_id=RUN)
    events.events_delete_for(assignment_id=RUN)
    assert not GeofenceGeneration.objects.filter(scope=RUN).exists()


def test_a_head_written_by_process_fixes_expires_like_a_position():
    ZoneFactory()
    events.process_fixes(
        assignment_id=RUN,
        driver_id=DRIVER,
        fixes=[{"lat": MID_LAT, "lng": LNG, "recorded_at": T0, "accuracy_m": 4}],
    )
    head = DriverPosition._get_collection().find_one({"driver_id": DRIVER})
    assert "location" not in head
    assert head.get("received_at") is not None

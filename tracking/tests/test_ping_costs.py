"""What a ping request costs: three MongoDB commands in the common case whatever the batch
(the driver's head read, the insert, the head written back), none of them a query over the
stored fixes; three SQL queries (authentication, the rate limit's counter, and the run,
which brings the geofences' generations along). And the one write of the head is a compare-and-set: two requests of
one driver racing never weigh a fix twice, so never emit an enter or an exit twice."""

import threading
from datetime import timedelta
from functools import partial

import pytest
from django.utils import timezone

from rappi.testing.concurrency import race
from rappi.testing.mongo_commands import mongo_commands
from tracking import events, geofences, heads, pings
from tracking.documents import GeofenceEvent, GpsPing
from tracking.tests.factories import (
    LNG,
    METRES_PER_DEGREE_LNG,
    NORTH_LINE,
    FixFactory,
    ZoneFactory,
    ingest_fixes,
    run_in_progress,
)
from tracking.tests.factories import MID_LAT as LAT

pytestmark = pytest.mark.django_db

URL = "/api/v1/tracking/pings"
# Authentication (one query), the rate limit's counter (one), and the run with its
# geofence generations (one: the ingest's only query).
SQL_PER_REQUEST = 3


class Phone:
    """A driver's phone sending fixes `metres_east` of the route, one second apart."""

    def __init__(self, client, run):
        self.client, self.run = client, run
        self.clock = timezone.now() - timedelta(minutes=30)
        self.sent = 0

    def fixes(self, count: int, *, metres_east: float = 0) -> list[dict]:
        batch = []
        for _ in range(count):
            self.clock += timedelta(seconds=1)
            self.sent += 1
            batch.append(
                {
                    "lat": LAT + (self.sent % 5) * 0.00001,
                    "lng": LNG + metres_east / METRES_PER_DEGREE_LNG,
                    "recorded_at": self.clock.isoformat(),
                    "accuracy_m": 5,
                    "client_id": f"fix-{self.sent}",
                }
            )
        return batch

    def send(self, count: int, **kwargs):
        fixes = self.fixes(count, **kwargs)
        body = {"assignment_id": self.run.pk}
        body.update(fixes[0] if count == 1 else {"pings": fixes})
        response = self.client.post(URL, body, format="json")
        assert response.status_code == 202, response.content
        assert response.json() == {"accepted": count, "duplicates": 0, "late": 0, "rejected": []}
        return response


@pytest.fixture
def phone(client_for, dispatcher):
    run = run_in_progress(dispatcher)
    geofences.corridor_replace(assignment_id=run["run"].pk, route_id=1, line=NORTH_LINE)
    ZoneFactory(west_m=-200, east_m=200)  # the driver is inside it, as in its corridor
    ZoneFactory(west_m=5000, east_m=6000, kind="forbidden", name="Far")
    return Phone(client_for(run["user"]), run["run"])


def _no_query_over_fixes(sent) -> None:
    over_fixes = [c.name for c in sent if c.collection == GpsPing._meta["collection"]]
    assert over_fixes == ["insert"], over_fixes


@pytest.mark.parametrize("size", [1, 100])
def test_a_ping_costs_three_mongodb_commands_and_three_queries_whatever_its_size(
    phone, size, mongo_test_database, django_assert_max_num_queries
):
    phone.send(1)  # enters the corridor and the zone; the geofences are now in memory
    phone.send(size)
    assert GeofenceEvent.objects.count() == 2
    with (
        django_assert_max_num_queries(SQL_PER_REQUEST),
        mongo_commands(mongo_test_database) as sent,
    ):
        phone.send(size)
    assert [(c.name, c.collection) for c in sent] == [
        ("find", "driver_positions"),
        ("insert", "gps_pings"),
        ("update", "driver_positions"),
    ]
    _no_query_over_fixes(sent)
    assert len(sent[1].body.get("documents", [])) in (0, size)  # one insert for the batch


def test_a_geofence_written_elsewhere_is_read_again_once(phone, mongo_test_database):
    phone.send(1)
    zone = ZoneFactory(west_m=-300, east_m=300, kind="forbidden", name="Market")
    with mongo_commands(mongo_test_database) as sent:
        phone.send(1)  # the zones' generation changed: they are read again, and entered
    assert [c.collection for c in sent].count("geofences") == 1
    assert GeofenceEvent.objects(geofence_id=zone.pk).count() == 1
    with mongo_commands(mongo_test_database) as sent:
        phone.send(1)
    assert len(sent) == 3
    zone.active = False
    zone.save()  # a document saved directly changes the generation too
    with mongo_commands(mongo_test_database) as sent:
        phone.send(1)
    assert [c.collection for c in sent].count("geofences") == 1


def test_a_new_corridor_is_read_again_for_its_run_only(phone, mongo_test_database):
    phone.send(1)
    far_line = {"type": "LineString", "coordinates": [[LNG + 1, LAT], [LNG + 1, LAT + 0.01]]}
    geofences.corridor_replace(assignment_id=phone.run.pk, route_id=2, line=far_line)
    with mongo_commands(mongo_test_database) as sent:
        phone.send(4)  # the new corridor is far: the driver has left the old one's place
    assert [(c.name, c.collection) for c in sent].count(("find", "geofences")) == 1


def test_the_stored_fixes_are_never_queried_as_the_collection_grows(phone, mongo_test_database):
    # (Small batches: the test server's inserts slow down with the collection's size.)
    for _ in range(4):
        phone.send(25)
    with mongo_commands(mongo_test_database) as sent:
        phone.send(1)
        phone.send(25)
    assert len(sent) == 6
    assert not [c for c in sent if c.collection == "gps_pings" and c.name != "insert"]


# --- Two requests of one driver racing ---------------------------------------------------------


RACE_RUN, RACE_DRIVER = 901, 91
T0 = timezone.now() - timedelta(minutes=10)


def _fix(index: int, metres_east: float) -> pings.Fix:
    return FixFactory(
        index=index,
        lat=LAT,
        lng=LNG + metres_east / METRES_PER_DEGREE_LNG,
        recorded_at=T0 + timedelta(seconds=30 * index),
        accuracy_m=4,
        client_id=f"race-{index}",
    )


def _ingest(fixes, generations):
    return ingest_fixes(
        fixes,
        assignment_id=RACE_RUN,
        driver_id=RACE_DRIVER,
        vehicle_plate="RAC-001",
        started_at=T0 - timedelta(hours=1),
        generations=generations,
    )


def test_two_overlapping_batches_racing_across_a_border_never_emit_an_event_twice(monkeypatch):
    zone = ZoneFactory(west_m=-200, east_m=200)
    generations = geofences.generations_for(assignment_id=RACE_RUN)
    # In, in, out x3 (an exit), in (an enter), out x3 (an exit): both phones' batches
    # overlap by three fixes, and both write the head at the same time.
    offsets = [0, 0, 300, 300, 300, 0, 300, 300, 300]
    track = [_fix(i, metres) for i, metres in enumerate(offsets)]
    batches = [track[:6], track[3:]]
    both_weighed = threading.Barrier(2, timeout=30)
    real_write = heads.write
    written = threading.local()
    contended = []

    def racing_write(driver_id, *, head, fields):
        if not getattr(written, "once", False):
            written.once = True
            both_weighed.wait()  # both requests read the same head and weighed from it
        done, now = real_write(driver_id, head=head, fields=fields)
        contended.append(not done)
        return done, now

    monkeypatch.setattr(heads, "write", racing_write)
    race(*(partial(_ingest, batch, generations) for batch in batches))  # raises what either did
    assert contended.count(True) == 1  # one lost the compare-and-set and weighed again
    found = [
        (e.type, e.at)
        for e in GeofenceEvent.objects(geofence_id=zone.pk).order_by("confirmed_at", "type")
    ]
    assert len(found) == len(set(found))
    assert [kind for kind, _at in found] == ["enter", "exit", "enter", "exit"][: len(found)]
    # Whichever won, what was weighed is a stretch of the track in order: a serial ingest
    # of the whole track gives the same events or more.
    serial = events.weigh(
        assignment_id=RACE_RUN,
        driver_id=RACE_DRIVER + 1,
        fixes=[fix.as_dict() for fix in track],
        head=None,
        generations=generations,
        now=timezone.now(),
    )
    expected = [(e["type"], e["at"]) for e in serial.events if e["geofence_id"] == zone.pk]
    assert set(found) <= set(expected)
    assert GpsPing.objects(driver_id=RACE_DRIVER).count() == len(track)


def test_fixes_overtaken_a_moment_ago_are_late_without_a_query_over_the_fixes(
    phone, mongo_test_database
):
    phone.send(1)
    overtaken = phone.fixes(2)
    phone.send(1)  # the newer request arrives first
    body = {"assignment_id": phone.run.pk, "pings": overtaken}
    with mongo_commands(mongo_test_database) as sent:
        response = phone.client.post(URL, body, format="json")
    assert response.json() == {"accepted": 2, "duplicates": 0, "late": 2, "rejected": []}
    assert [(c.name, c.collection) for c in sent] == [
        ("find", "driver_positions"),
        ("insert", "gps_pings"),
    ]
    # Sent again, they are duplicates (the unique indexes say so, then the stored fixes).
    again = phone.client.post(URL, body, format="json").json()
    assert again["duplicates"] == 2
    assert again["accepted"] == 0


def test_fixes_overtaken_long_ago_are_still_checked_against_the_stored_ones(
    phone, mongo_test_database
):
    phone.send(1)
    old = phone.fixes(1)
    phone.clock += pings.OVERTAKEN_WITHIN + timedelta(seconds=5)
    phone.send(1)
    body = {"assignment_id": phone.run.pk, **old[0]}
    with mongo_commands(mongo_test_database) as sent:
        response = phone.client.post(URL, body, format="json")
    assert response.json()["late"] == 1
    assert next(c.name for c in sent if c.collection == "gps_pings") == "find"

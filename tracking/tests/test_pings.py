"""Ping ingest over the API: who may send, each rejection reason, duplicates within and
across batches, recorded-time order, late fixes, the batch limit, idempotent retries, what
the geofence weighing is handed (and its failure never failing the request), retention and
purging with the run."""

import logging
import random
from datetime import datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from fleet import services
from identity.tests.factories import UserFactory
from orders.tests.factories import customer_user
from tracking import events, pings
from tracking.documents import (
    GPS_TTL_INDEX,
    DriverPosition,
    GpsPing,
    ensure_gps_retention,
    fix_key,
)
from tracking.pings import ingest
from tracking.tests.factories import LAT, LNG, FixFactory, ingest_fixes, run_in_progress

pytestmark = pytest.mark.django_db

URL = "/api/v1/tracking/pings"


@pytest.fixture
def run(dispatcher):
    return run_in_progress(dispatcher, plate="ABC-123")


@pytest.fixture
def phone(client_for, run):
    return client_for(run["user"])


def at(seconds_ago: float) -> str:
    return (timezone.now() - timedelta(seconds=seconds_ago)).isoformat()


def fix(seconds_ago: float, step: int = 0, **extra) -> dict:
    """A fix `step` times 11 m north of the Plaza, recorded `seconds_ago`."""
    return {"lat": LAT + step * 0.0001, "lng": LNG, "recorded_at": at(seconds_ago), **extra}


def send(client, run, fixes, **kwargs):
    body = {"assignment_id": run["run"].pk, "pings": fixes}
    return client.post(URL, body, format="json", **kwargs)


def stored(run) -> list[dict]:
    return list(
        GpsPing._get_collection()
        .find({"assignment_id": run["run"].pk}, {"_id": 0})
        .sort("recorded_at", 1)
    )


def position(run) -> dict | None:
    return DriverPosition._get_collection().find_one({"driver_id": run["driver"].pk})


@pytest.fixture
def received(monkeypatch):
    """What the ingest hands the geofence weighing (`events.weigh`, which it calls once
    the fixes are stored), one entry per request."""
    calls = []
    real_weigh = events.weigh

    def weigh(**kwargs):
        calls.append(kwargs)
        return real_weigh(**kwargs)

    monkeypatch.setattr(events, "weigh", weigh)
    return calls


# --- Accepting -----------------------------------------------------------------------------------


def test_a_single_fix_is_stored_with_the_runs_driver_and_plate(phone, run, received):
    body = {
        "assignment_id": run["run"].pk,
        **fix(30, speed_kmh=22.5, heading=90, accuracy_m=8, client_id="f-1"),
        # Whatever the phone claims, driver and plate come from the run.
        "driver_id": 999,
        "vehicle_plate": "ZZZ-999",
    }
    response = phone.post(URL, body, format="json")
    assert response.status_code == 202, response.content
    assert response.json() == {"accepted": 1, "duplicates": 0, "late": 0, "rejected": []}
    [doc] = stored(run)
    assert doc["driver_id"] == run["driver"].pk
    assert doc["vehicle_plate"] == "ABC-123"
    assert doc["location"] == {"type": "Point", "coordinates": [LNG, LAT]}
    assert (doc["speed_kmh"], doc["heading"], doc["accuracy_m"]) == (22.5, 90, 8)
    assert doc["client_id"] == "f-1"
    assert doc["received_at"] >= doc["recorded_at"]
    assert position(run)["recorded_at"] == doc["recorded_at"]
    assert position(run)["vehicle_plate"] == "ABC-123"
    [call] = received
    assert call["assignment_id"] == run["run"].pk
    assert call["driver_id"] == run["driver"].pk
    assert call["fixes"] == [
        {
            "lat": LAT,
            "lng": LNG,
            "recorded_at": doc["recorded_at"],
            "accuracy_m": 8,
            "speed_kmh": 22.5,
            "heading": 90,
        }
    ]


def test_the_run_may_be_named_in_each_fix_of_a_batch(phone, run):
    rid = run["run"].pk
    body = {"pings": [{**fix(20, 0), "assignment_id": rid}, {**fix(10, 1), "assignment_id": rid}]}
    response = phone.post(URL, body, format="json")
    assert response.status_code == 202
    assert response.json()["accepted"] == 2


def test_unknown_speed_and_heading_sent_as_minus_one_are_stored_as_unknown(phone, run):
    response = send(phone, run, [fix(10, speed_kmh=-1, heading=-1)])
    assert response.json()["accepted"] == 1
    [doc] = stored(run)
    assert doc["speed_kmh"] is None
    assert doc["heading"] is None


# --- Rejecting -----------------------------------------------------------------------------------


def test_each_rejection_reason_is_reported_by_index_and_nothing_rejected_is_stored(phone, run):
    started = run["run"].started_at
    batch = [
        fix(60, 0),  # 0: fine
        {**fix(58), "lat": 91.0},  # 1: latitude out of range
        {**fix(57), "lng": -180.5},  # 2: longitude out of range
        {**fix(56), "lat": 0, "lng": 0},  # 3: what a phone sends before it has a position
        fix(-600, 1),  # 4: ten minutes ahead of our clock
        {**fix(0, 1), "recorded_at": (started - timedelta(minutes=10)).isoformat()},  # 5
        fix(50, 1, accuracy_m=250),  # 6: too inaccurate
        fix(49, 1, accuracy_m=-1),  # 7: the phone says the position is invalid
        fix(40, 1000),  # 8: 11 km north ten seconds after fix 0
        fix(30, 2, accuracy_m=20),  # 9: fine
    ]
    response = send(phone, run, batch)
    assert response.status_code == 202, response.content
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "late": 0,
        "rejected": [
            {"index": 1, "reason": "out_of_range"},
            {"index": 2, "reason": "out_of_range"},
            {"index": 3, "reason": "null_island"},
            {"index": 4, "reason": "future"},
            {"index": 5, "reason": "before_run_start"},
            {"index": 6, "reason": "inaccurate"},
            {"index": 7, "reason": "inaccurate"},
            {"index": 8, "reason": "impossible_speed"},
        ],
    }
    assert [doc["location"]["coordinates"][1] for doc in stored(run)] == pytest.approx(
        [LAT, LAT + 0.0002]
    )


def test_a_negative_speed_or_a_heading_off_the_compass_rejects_that_fix_only(phone, run):
    batch = [
        fix(60, 0, speed_kmh=20, heading=0),  # 0: fine, due north
        fix(55, 1, speed_kmh=-5),  # 1: no speed is negative
        fix(50, 1, heading=360),  # 2: a compass stops short of 360
        fix(45, 1, heading=-90),  # 3
        fix(40, 1, heading=720.5),  # 4
        fix(35, 2, speed_kmh=0, heading=359.9),  # 5: fine, standing
        fix(30, 2, speed_kmh=-1, heading=-1),  # 6: fine, -1 is "unknown"
    ]
    response = send(phone, run, batch)
    assert response.status_code == 202, response.content
    assert response.json() == {
        "accepted": 3,
        "duplicates": 0,
        "late": 0,
        "rejected": [
            {"index": 1, "reason": "invalid_speed"},
            {"index": 2, "reason": "invalid_heading"},
            {"index": 3, "reason": "invalid_heading"},
            {"index": 4, "reason": "invalid_heading"},
        ],
    }
    assert [(doc["speed_kmh"], doc["heading"]) for doc in stored(run)] == [
        (20, 0),
        (0, 359.9),
        (None, None),
    ]
    single = phone.post(
        URL, {"assignment_id": run["run"].pk, **fix(20, 2, heading=400)}, format="json"
    )
    assert single.status_code == 202
    assert single.json()["rejected"] == [{"index": 0, "reason": "invalid_heading"}]
    assert len(stored(run)) == 3


def test_a_little_clock_skew_is_tolerated(phone, run):
    response = send(phone, run, [fix(-60)])  # a minute ahead: within GPS_CLOCK_SKEW_S
    assert response.json()["accepted"] == 1


def test_impossible_speed_counts_the_last_stored_fix_not_only_the_batch(phone, run):
    assert send(phone, run, [fix(60, 0)]).json()["accepted"] == 1
    # 110 m in 10 s is 40 km/h; 1.1 km in 10 s would be 400 km/h.
    response = send(phone, run, [fix(50, 1000)])
    assert response.json()["rejected"] == [{"index": 0, "reason": "impossible_speed"}]
    assert send(phone, run, [fix(50, 10)]).json()["accepted"] == 1


def test_speed_allows_for_both_accuracy_radii():
    started = timezone.now() - timedelta(hours=1)
    a = pings.Fix(index=0, lat=LAT, lng=LNG, recorded_at=started, accuracy_m=30)
    # 0.0009° of latitude is 100.08 m: 40 m of it after both radii, in 1 s = 144 km/h.
    b = pings.Fix(
        index=1,
        lat=LAT + 0.0009,
        lng=LNG,
        recorded_at=started + timedelta(seconds=1),
        accuracy_m=30,
    )
    assert pings.implied_speed_kmh(a, b) == pytest.approx(144.3, abs=0.3)
    b.accuracy_m = 80  # the two circles overlap: no movement needs to be assumed
    assert pings.implied_speed_kmh(a, b) == 0


def test_a_rejected_fix_does_not_become_the_previous_one(phone, run):
    response = send(phone, run, [fix(60, 0), fix(55, 1000), fix(50, 5)])
    assert response.json()["rejected"] == [{"index": 1, "reason": "impossible_speed"}]
    assert response.json()["accepted"] == 2


# --- Duplicates ----------------------------------------------------------------------------------


def test_duplicates_within_a_batch_by_client_id_or_instant(phone, run):
    same_time = at(30)
    batch = [
        fix(40, 0, client_id="a"),
        fix(35, 1, client_id="a"),  # same client id, other time
        {**fix(0, 2), "recorded_at": same_time},
        {**fix(0, 2), "recorded_at": same_time},  # same instant, no client id
    ]
    response = send(phone, run, batch)
    assert response.json() == {
        "accepted": 2,
        "duplicates": 2,
        "late": 0,
        "rejected": [{"index": 1, "reason": "duplicate"}, {"index": 3, "reason": "duplicate"}],
    }
    assert len(stored(run)) == 2


def test_a_resent_batch_is_all_duplicates_and_stores_nothing_twice(phone, run, received):
    batch = [fix(40, 0, client_id="x1"), fix(30, 1, client_id="x2"), fix(20, 2)]
    assert send(phone, run, batch).json()["accepted"] == 3
    again = send(phone, run, batch).json()
    assert again["accepted"] == 0
    assert again["duplicates"] == 3
    assert {r["reason"] for r in again["rejected"]} == {"duplicate"}
    # A known client id is a duplicate even with another time.
    assert send(phone, run, [fix(10, 3, client_id="x1")]).json()["duplicates"] == 1
    assert len(stored(run)) == 3
    assert len(received) == 1  # the retries had nothing new to weigh


def test_a_duplicate_that_slips_past_the_check_is_caught_by_the_unique_index(
    phone, run, monkeypatch
):
    """A retry racing its original: both pass the check, the index refuses the second."""
    batch = [fix(40, 0, client_id="r1"), fix(30, 1)]
    assert send(phone, run, batch).json()["accepted"] == 2
    monkeypatch.setattr(ingest, "_stored_keys", lambda driver_id, fixes: (set(), set()))
    response = send(phone, run, [*batch, fix(20, 2)])
    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    assert response.json()["duplicates"] == 2
    assert len(stored(run)) == 3


def test_a_client_id_that_slips_past_the_check_is_caught_by_its_unique_index(
    phone, run, dispatcher, client_for, monkeypatch
):
    """The same client id at another instant: only the `driver_client` index can tell.
    Another driver's phone may use the same id."""
    assert send(phone, run, [fix(40, 0, client_id="c1")]).json()["accepted"] == 1
    monkeypatch.setattr(ingest, "_stored_keys", lambda driver_id, fixes: (set(), set()))
    response = send(phone, run, [fix(30, 1, client_id="c1"), fix(20, 2, client_id="c2")])
    assert response.json()["accepted"] == 1
    assert response.json()["rejected"] == [{"index": 0, "reason": "duplicate"}]
    other = run_in_progress(dispatcher, plate="XYZ-987")
    assert send(client_for(other["user"]), other, [fix(10, 0, client_id="c1")]).json() == {
        "accepted": 1,
        "duplicates": 0,
        "late": 0,
        "rejected": [],
    }
    driver = run["driver"].pk
    assert [
        (doc["_id"], doc.get("driver_client"))
        for doc in GpsPing._get_collection().find({"driver_id": driver}).sort("recorded_at", 1)
    ] == [
        (fix_key(driver, doc["recorded_at"]), f"{driver}:{client}")
        for doc, client in zip(stored(run), ["c1", "c2"], strict=True)
    ]


def _older_fix(run, sent: dict, **extra) -> dict:
    """`sent` as deployments before the `_id` and `driver_client` keys stored it."""
    recorded_at = pings.to_millis(datetime.fromisoformat(sent["recorded_at"]))
    return {
        "driver_id": run["driver"].pk,
        "assignment_id": run["run"].pk,
        "vehicle_plate": "ABC-123",
        "location": {"type": "Point", "coordinates": [sent["lng"], sent["lat"]]},
        "recorded_at": recorded_at,
        "received_at": recorded_at,
        **extra,
    }


def test_ensure_indexes_brings_older_deployments_to_the_single_keys(phone, run):
    """Deployments before the `_id` and `driver_client` keys had compound unique indexes,
    and indexes by place and by driver and instant that no read used; the fixes they
    stored (ObjectId ids, no `driver_client`) are stored again under their keys, so a
    phone repeating one is still told it is a duplicate."""
    collection = GpsPing._get_collection()
    collection.drop_index("driver_client")
    collection.create_index([("driver_id", 1), ("recorded_at", 1)], name="driver_time", unique=True)
    collection.create_index(
        [("driver_id", 1), ("client_id", 1)],
        name="driver_client_id",
        unique=True,
        partialFilterExpression={"client_id": {"$type": "string"}},
    )
    collection.create_index([("location", "2dsphere")], name="location")
    sent = fix(40, 0, client_id="before")
    collection.insert_one(_older_fix(run, sent, client_id="before"))

    GpsPing.ensure_indexes()
    # The deployments between had the single keys and the two indexes no read used.
    collection.create_index([("location", "2dsphere")], name="location")
    collection.create_index([("driver_id", 1), ("recorded_at", 1)], name="driver_recorded")
    GpsPing.ensure_indexes()

    indexes = {index["name"]: index for index in collection.list_indexes()}
    assert set(indexes) == {"_id_", "run_time", "driver_client", GPS_TTL_INDEX}
    assert indexes["driver_client"].get("unique")
    assert indexes["driver_client"].get("sparse")
    driver = run["driver"].pk
    [keyed] = GpsPing.objects(driver_id=driver)
    assert keyed.id == fix_key(driver, pings.to_millis(datetime.fromisoformat(sent["recorded_at"])))
    assert (keyed.client_id, keyed.driver_client) == ("before", f"{driver}:before")
    # Sent again, by instant or by client id, among new fixes: duplicates.
    repeat = send(phone, run, [fix(50, 1, client_id="before"), sent, fix(10, 1)])
    assert (repeat.json()["duplicates"], repeat.json()["accepted"]) == (2, 1)


def test_of_an_older_fix_and_a_keyed_copy_of_its_instant_the_keyed_one_is_kept(run):
    collection = GpsPing._get_collection()
    sent = fix(40, 0)
    older = _older_fix(run, sent, client_id="before")
    keyed = {**older, "_id": fix_key(run["driver"].pk, older["recorded_at"]), "client_id": "again"}
    collection.insert_many([older, keyed])
    GpsPing.ensure_indexes()
    assert [(doc["_id"], doc["client_id"]) for doc in collection.find()] == [
        (keyed["_id"], "again")
    ]


# --- Order and lateness --------------------------------------------------------------------------


def test_a_shuffled_batch_is_processed_in_recorded_time_order(phone, run, received):
    ordered = [fix(100 - 10 * i, i, client_id=f"s{i}") for i in range(10)]
    shuffled = ordered[:]
    random.Random(7).shuffle(shuffled)
    response = send(phone, run, shuffled)
    assert response.json()["accepted"] == 10
    assert response.json()["late"] == 0
    lats = [f["lat"] for f in received[0]["fixes"]]
    assert lats == sorted(lats)  # weighed oldest first
    assert position(run)["location"]["coordinates"][1] == pytest.approx(LAT + 0.0009)


def test_a_late_fix_is_stored_but_does_not_move_the_last_position(phone, run, received):
    assert send(phone, run, [fix(10, 5)]).json()["accepted"] == 1
    before = position(run)
    response = send(phone, run, [fix(60, 0), fix(50, 1)])
    assert response.json() == {"accepted": 2, "duplicates": 0, "late": 2, "rejected": []}
    assert len(stored(run)) == 3
    assert position(run)["recorded_at"] == before["recorded_at"]
    assert len(received) == 1  # late fixes are not weighed
    last = phone.get(f"/api/v1/tracking/assignments/{run['run'].pk}/last").json()
    assert last["lat"] == pytest.approx(LAT + 0.0005)


def test_a_batch_straddling_the_latest_fix_weighs_only_the_newer_part(phone, run, received):
    send(phone, run, [fix(30, 3)])
    response = send(phone, run, [fix(40, 2), fix(20, 4)])
    assert response.json()["late"] == 1
    assert response.json()["accepted"] == 2
    assert [f["lat"] for f in received[-1]["fixes"]] == pytest.approx([LAT + 0.0004])


# --- The batch limit and malformed bodies ----------------------------------------------------------


def test_more_than_500_fixes_is_413_payload_too_large(phone, run):
    response = send(phone, run, [fix(600 - i, 0) for i in range(501)])
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.json()["error"]["details"] == {"limit": 500, "received": 501}
    assert stored(run) == []


def test_500_fixes_are_taken_in_one_request(phone, run):
    # 50 instants sent ten times each: the limit is on fixes sent, and the test server
    # stays quick (mongoeco inserts are slow).
    base = timezone.now() - timedelta(minutes=20)
    batch = [
        {**fix(0, i // 10), "recorded_at": (base + timedelta(seconds=i // 10)).isoformat()}
        for i in range(500)
    ]
    response = send(phone, run, batch)
    assert response.status_code == 202
    assert response.json()["accepted"] == 50
    assert response.json()["duplicates"] == 450
    assert len(stored(run)) == 50


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lat": LAT, "lng": LNG}, "recorded_at"),
        ({"lat": "north", "lng": LNG, "recorded_at": "2026-01-01T00:00:00Z"}, "lat"),
        ({"lat": LAT, "lng": LNG, "recorded_at": "yesterday"}, "recorded_at"),
    ],
)
def test_a_malformed_fix_is_400_naming_the_field(phone, run, body, field):
    response = phone.post(URL, {"assignment_id": run["run"].pk, **body}, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]["fields"]


def test_a_batch_must_name_exactly_one_run(phone, run, dispatcher):
    other = run_in_progress(dispatcher)
    mixed = {"pings": [{**fix(20), "assignment_id": run["run"].pk}, {**fix(10)}]}
    mixed["pings"][1]["assignment_id"] = other["run"].pk
    for body in (mixed, {"pings": [fix(10)]}, {"pings": []}):
        response = phone.post(URL, body, format="json")
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "invalid"


# --- Who may send ----------------------------------------------------------------------------------


def test_another_drivers_run_is_404(client_for, run, dispatcher):
    other = run_in_progress(dispatcher)
    response = send(client_for(other["user"]), run, [fix(10)])
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert stored(run) == []


def test_a_run_not_in_progress_is_409(client_for, dispatcher):
    waiting = run_in_progress(dispatcher, start=False)
    response = send(client_for(waiting["user"]), waiting, [fix(10)])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "assignment_not_in_progress"


def test_staff_and_customers_cannot_send_fixes(client_for, run, dispatcher):
    customer, _ = customer_user()
    for user in (dispatcher, UserFactory(role_name="admin"), customer):
        response = send(client_for(user), run, [fix(10)])
        assert response.status_code == 403, user.role.name
        assert response.json()["error"]["code"] == "permission_denied"
    assert stored(run) == []


# --- Retries, a failing weighing, retention, purging ---------------------------------------------------------


def test_an_idempotent_retry_replays_the_first_answer(phone, run):
    batch = [fix(30, 0), fix(20, 1)]
    first = send(phone, run, batch, headers={"Idempotency-Key": "buffer-17"})
    again = send(phone, run, batch, headers={"Idempotency-Key": "buffer-17"})
    assert first.status_code == again.status_code == 202
    assert (
        again.json() == first.json() == {"accepted": 2, "duplicates": 0, "late": 0, "rejected": []}
    )
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(stored(run)) == 2


def test_a_failing_geofence_weighing_never_fails_the_request(phone, run, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("geofence engine down")

    monkeypatch.setattr(events, "weigh", broken)
    with caplog.at_level(logging.WARNING):
        response = send(phone, run, [fix(10)])
    assert response.status_code == 202
    assert response.json()["accepted"] == 1
    # Nothing accepted is lost: the fix is stored and the driver's position moves.
    [doc] = stored(run)
    assert position(run)["recorded_at"] == doc["recorded_at"]
    assert any(
        f"Could not weigh 1 fixes of run {run['run'].pk}" in r.getMessage()
        and "geofence engine down" in str(r.exc_info[1])
        for r in caplog.records
    )


def test_retention_is_a_ttl_index_on_received_at_and_zero_keeps_fixes():
    collection = GpsPing._get_collection()

    def ttl():
        return next((ix for ix in collection.list_indexes() if ix["name"] == GPS_TTL_INDEX), None)

    with override_settings(GPS_RETENTION_DAYS=7):
        GpsPing.ensure_indexes()
    assert ttl()["expireAfterSeconds"] == 7 * 86400
    assert dict(ttl()["key"]) == {"received_at": 1}
    ensure_gps_retention(collection, days=0)
    assert ttl() is None
    GpsPing.ensure_indexes()  # back to the configured retention for the other tests
    assert ttl()["expireAfterSeconds"] == 90 * 86400


def test_deleting_a_run_purges_its_fixes_and_the_position_they_left(
    dispatcher, django_capture_on_commit_callbacks
):
    waiting = run_in_progress(dispatcher, start=False)
    kept = run_in_progress(dispatcher)
    now = timezone.now()
    for item in (waiting, kept):
        result = ingest_fixes(
            [FixFactory(recorded_at=now)],
            assignment_id=item["run"].pk,
            driver_id=item["driver"].pk,
            started_at=now - timedelta(hours=1),
        )
        assert result.accepted == 1
    with django_capture_on_commit_callbacks(execute=True):
        services.assignment_delete(assignment=waiting["run"])
    assert GpsPing.objects(assignment_id=waiting["run"].pk).count() == 0
    assert DriverPosition.objects(driver_id=waiting["driver"].pk).count() == 0
    assert GpsPing.objects(assignment_id=kept["run"].pk).count() == 1


def test_a_retry_after_a_crash_past_the_insert_moves_the_position_and_weighs_its_fixes(
    phone, run, received, monkeypatch
):
    batch = [fix(40, 0, client_id="c1"), fix(30, 1, client_id="c2")]
    real_move = ingest._move_position

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(ingest, "_move_position", crash)
    assert send(phone, run, batch).status_code == 500
    assert len(stored(run)) == 2
    assert position(run) is None
    assert received == []

    monkeypatch.setattr(ingest, "_move_position", real_move)
    again = send(phone, run, batch).json()
    assert again["accepted"] == 0
    assert again["duplicates"] == 2
    assert position(run)["location"]["coordinates"][1] == pytest.approx(LAT + 0.0001)
    assert len(received) == 1
    assert len(received[0]["fixes"]) == 2
    send(phone, run, batch)  # a plain retry now: nothing new to weigh
    assert len(received) == 1

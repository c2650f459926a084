"""Never slow, never fail, never lose: requests do not wait for MongoDB, records wait in
the spool while it is away or too slow and reach it later exactly once and in order,
across a process restart too; the queue and the spool are bounded and overflow is
counted; no error, expected or not, loses the batch in hand."""

import logging
import threading
import time
from typing import Any

import pytest
from bson import json_util
from pymongo import MongoClient

from audit import writer as audit_writer
from audit.documents import COLLECTION
from audit.tests.factories import make_record
from audit.writer import AuditWriter
from identity.tests.factories import UserFactory, tokens_for
from rappi.testing.mongo_commands import mongo_commands
from rappi.testing.net import dead_uri

pytestmark = pytest.mark.django_db

DB = "audit_outage"


def stored(uri: str, db: str = DB) -> list[dict]:
    """What the server holds, in the order it took it."""
    with MongoClient[dict[str, Any]](uri, serverSelectionTimeoutMS=5000) as client:
        return list(client[db][COLLECTION].find())


class SlowWriter(AuditWriter):
    """Its MongoDB takes `delay` seconds per record, as a slow server would."""

    delay = 0.0

    def _insert_many(self, records, *, ordered):
        time.sleep(self.delay * len(records))
        super()._insert_many(records, ordered=ordered)


class GatedWriter(AuditWriter):
    """Its inserts wait for `gate`: a write stuck in MongoDB for as long as a test wants."""

    def __init__(self, **options):
        super().__init__(**options)
        self.inserting, self.gate = threading.Event(), threading.Event()

    def _insert_many(self, records, *, ordered):
        self.inserting.set()
        assert self.gate.wait(10)
        super()._insert_many(records, ordered=ordered)


class CountingWriter(AuditWriter):
    """Notes how many records each insert carries."""

    def __init__(self, **options):
        super().__init__(**options)
        self.inserts: list[int] = []

    def _insert_many(self, records, *, ordered):
        self.inserts.append(len(records))
        super()._insert_many(records, ordered=ordered)


def wait_for(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture
def installed(settings):
    """Installs the test's writer as the process's; shuts it down afterwards."""
    settings.AUDIT_ENABLED = True
    writers = []

    def install(writer: AuditWriter) -> AuditWriter:
        writers.append(writer)
        audit_writer.install(writer)
        return writer

    previous = audit_writer.install(None)
    yield install
    for writer in writers:
        writer.shutdown(timeout=1)
    audit_writer.install(previous)


def test_with_mongodb_stopped_requests_do_not_wait_and_no_record_is_lost(
    api, own_mongo, tmp_path, installed
):
    # A request that waited on the writer's MongoDB would take at least its timeout.
    timeout_ms = 3000
    writer = installed(
        AuditWriter(
            uri=own_mongo.uri,
            db_name=DB,
            spool_dir=tmp_path / "spool",
            timeout_ms=timeout_ms,
            retry_seconds=0.2,
        )
    )
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens_for(UserFactory())['access']}")
    sent = [f"before-{n}" for n in range(3)]
    for request_id in sent:
        assert api.get("/api/v1/auth/me", HTTP_X_REQUEST_ID=request_id).status_code == 200
    assert writer.flush(timeout=10)
    assert [r["request_id"] for r in stored(own_mongo.uri)] == sent

    own_mongo.stop()
    during = [f"during-{n}" for n in range(10)]
    slowest = 0.0
    for request_id in during:
        started = time.perf_counter()
        assert api.get("/api/v1/auth/me", HTTP_X_REQUEST_ID=request_id).status_code == 200
        slowest = max(slowest, time.perf_counter() - started)
    assert slowest < timeout_ms / 1000 / 3
    assert writer.flush(timeout=15)
    assert [r["request_id"] for r in writer.spool.records()] == during
    assert writer.state()["mongodb"] == "down"

    own_mongo.start()
    wait_for(lambda: len(stored(own_mongo.uri)) >= len(sent + during))
    assert [r["request_id"] for r in stored(own_mongo.uri)] == sent + during
    assert writer.spool.paths() == []
    after = "after-0"
    api.get("/api/v1/auth/me", HTTP_X_REQUEST_ID=after)
    assert writer.flush(timeout=10)
    assert [r["request_id"] for r in stored(own_mongo.uri)] == [*sent, *during, after]


def test_a_restart_between_spooling_and_replay_loses_nothing(own_mongo, tmp_path, installed):
    spool_dir = tmp_path / "spool"
    first = AuditWriter(
        uri=dead_uri(), db_name=DB, spool_dir=spool_dir, timeout_ms=200, background=False
    )
    records = [make_record(n) for n in range(6)]
    for record in records:
        first.submit(record)
    assert first.flush()
    assert first.counts["spooled"] == 6
    first.spool.close()  # the process dies: its locks go, its files stay
    # It had got the first two into MongoDB before the connection broke.
    with MongoClient(own_mongo.uri) as client:
        client[DB][COLLECTION].insert_many(records[:2])

    second = installed(
        AuditWriter(uri=own_mongo.uri, db_name=DB, spool_dir=spool_dir, retry_seconds=0.2)
    )
    second.start()  # replays what it finds, without waiting for a record of its own
    wait_for(lambda: second.counts["replayed"] == 6)
    assert [r["_id"] for r in stored(own_mongo.uri)] == [r["_id"] for r in records]
    assert second.counts["duplicates"] == 2
    assert second.spool.paths() == []


def test_a_replay_is_one_unordered_insert_without_a_lookup(tmp_path, mongo_test_database):
    """Records MongoDB already has are told by their duplicate-key errors: a lookup by
    `_id` first would be a second round trip, and a full scan on some servers."""
    uri, db = mongo_test_database["uri"], mongo_test_database["db"]
    records = [make_record(n) for n in range(5)]
    writer = AuditWriter(uri=uri, db_name=db, spool_dir=tmp_path, background=False)
    writer.spool.append(records)
    with MongoClient(uri) as client:
        client[db][COLLECTION].insert_many([records[1], records[3]])

    with mongo_commands(mongo_test_database) as sent:
        assert writer.replay() == 5

    writes = [command for command in sent if command.collection == COLLECTION]
    assert [command.name for command in writes] == ["insert"]
    assert writes[0].body["ordered"] is False
    assert writer.counts["duplicates"] == 2
    assert writer.counts["rejected"] == 0
    assert sorted(r["_id"] for r in stored(uri, db)) == sorted(r["_id"] for r in records)
    assert writer.spool.paths() == []


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_rest_replayed(own_mongo, tmp_path):
    spool_dir = tmp_path / "spool"
    first = AuditWriter(uri=dead_uri(), db_name=DB, spool_dir=spool_dir, background=False)
    first.spool.append([make_record(1), make_record(2)])
    (segment,) = first.spool.paths()
    with open(segment, "ab") as handle:
        handle.write(b'{"_id": {"$oid": "65a')
    first.spool.close()
    second = AuditWriter(uri=own_mongo.uri, db_name=DB, spool_dir=spool_dir, background=False)
    assert second.replay() == 2
    assert second.spool.corrupt == 1
    assert [r["request_id"] for r in stored(own_mongo.uri)] == ["r1", "r2"]
    second.shutdown(timeout=1)


def test_a_segment_held_by_a_live_process_is_left_to_it(tmp_path, own_mongo):
    spool_dir = tmp_path / "spool"
    holder = AuditWriter(uri=dead_uri(), db_name=DB, spool_dir=spool_dir, background=False)
    holder.spool.append([make_record(1)])
    other = AuditWriter(uri=own_mongo.uri, db_name=DB, spool_dir=spool_dir, background=False)
    assert other.replay() == 0
    assert len(holder.spool.paths()) == 1
    holder.spool.close()
    assert other.replay() == 1


def test_a_full_queue_drops_counts_and_logs_but_never_raises(tmp_path, caplog):
    writer = AuditWriter(
        uri=dead_uri(), db_name=DB, spool_dir=tmp_path, queue_size=2, background=False
    )
    with caplog.at_level(logging.ERROR, logger="audit.writer"):
        for number in range(5):
            writer.submit(make_record(number))
    assert writer.counts["dropped_queue_full"] == 3
    assert "Audit records dropped" in caplog.text


def test_a_full_spool_drops_counts_and_logs_but_never_raises(tmp_path, caplog):
    line = len(json_util.dumps(make_record(0), json_options=json_util.CANONICAL_JSON_OPTIONS))
    writer = AuditWriter(
        uri=dead_uri(),
        db_name=DB,
        spool_dir=tmp_path,
        spool_max_bytes=int(line * 1.5),
        timeout_ms=100,
        background=False,
    )
    with caplog.at_level(logging.ERROR, logger="audit.writer"):
        for number in range(3):
            writer.submit(make_record(number))
        assert writer.flush()
    assert (writer.counts["spooled"], writer.counts["dropped_spool_full"]) == (1, 2)
    assert "Audit records dropped" in caplog.text


def test_shutdown_spools_what_mongodb_cannot_take_in_time(tmp_path):
    writer = AuditWriter(uri=dead_uri(), db_name=DB, spool_dir=tmp_path, timeout_ms=100)
    for number in range(4):
        writer.submit(make_record(number))
    writer.shutdown(timeout=2)
    writer.submit(make_record(4))  # late: straight to disk
    assert [r["request_id"] for r in writer.spool.records()] == ["r0", "r1", "r2", "r3", "r4"]


def test_a_slow_mongodb_gets_records_spooled_not_dropped_then_written_once_in_order(
    tmp_path, mongo_test_database
):
    uri, db = mongo_test_database["uri"], mongo_test_database["db"]
    # 50 records/s into MongoDB against 200 arriving: the queue of 80 would overflow.
    writer = SlowWriter(
        uri=uri, db_name=db, spool_dir=tmp_path, queue_size=80, batch_size=2, retry_seconds=0.2
    )
    writer.delay = 0.02
    try:
        records = [make_record(n) for n in range(200)]
        for record in records:
            writer.submit(record)
            time.sleep(0.005)
        assert writer.counts["dropped_queue_full"] == 0
        assert writer.counts["spooled"] > 0
        writer.delay = 0  # MongoDB keeps up again
        wait_for(lambda: writer.flush(timeout=1) and not writer.spool.paths())
        assert [r["_id"] for r in stored(uri, db)] == [r["_id"] for r in records]
        assert writer.counts["dropped_queue_full"] == 0
    finally:
        writer.shutdown(timeout=1)


def test_a_write_mongodb_never_answers_is_given_up_and_spooled(tmp_path, stalling_mongo):
    writer = AuditWriter(
        uri=stalling_mongo.uri,
        db_name=DB,
        spool_dir=tmp_path,
        # Slower to connect than to give up on a write: what cuts the write is the latter.
        timeout_ms=5000,
        socket_timeout_ms=300,
        retry_seconds=0.2,
        background=False,
    )
    first, second = make_record(1), make_record(2)
    writer.submit(first)
    assert writer.flush()
    stalling_mongo.stalled.set()
    started = time.monotonic()
    writer.submit(second)
    assert writer.flush()
    assert time.monotonic() - started < 2
    assert [r["_id"] for r in writer.spool.records()] == [second["_id"]]
    stalling_mongo.stalled.clear()
    assert writer.replay() == 1
    assert [r["_id"] for r in stored(stalling_mongo.uri)] == [first["_id"], second["_id"]]
    writer.shutdown(timeout=1)


def test_the_batch_being_written_at_shutdown_is_spooled_with_what_is_queued(
    tmp_path, mongo_test_database
):
    uri, db = mongo_test_database["uri"], mongo_test_database["db"]
    writer = GatedWriter(uri=uri, db_name=db, spool_dir=tmp_path)
    records = [make_record(n) for n in range(3)]
    writer.submit(records[0])
    assert writer.inserting.wait(5)  # the thread is inside a write that does not return
    writer.submit(records[1])
    writer.submit(records[2])
    started = time.monotonic()
    writer.shutdown(timeout=0.3)
    assert time.monotonic() - started < 2
    assert [r["_id"] for r in writer.spool.records()] == [r["_id"] for r in records]

    writer.gate.set()  # the stuck write goes through after all
    writer._thread.join(5)
    assert [r["_id"] for r in stored(uri, db)] == [records[0]["_id"]]
    next_process = AuditWriter(uri=uri, db_name=db, spool_dir=tmp_path, background=False)
    assert next_process.replay() == 3
    assert next_process.counts["duplicates"] == 1
    assert [r["_id"] for r in stored(uri, db)] == [r["_id"] for r in records]
    next_process.shutdown(timeout=1)


def test_shutdown_gives_up_on_a_hung_mongodb_at_its_deadline(tmp_path, stalling_mongo):
    writer = AuditWriter(
        uri=stalling_mongo.uri, db_name=DB, spool_dir=tmp_path, timeout_ms=5000, background=False
    )
    writer.submit(make_record(0))
    assert writer.flush()  # connected
    stalling_mongo.stalled.set()
    for number in range(1, 4):
        writer.submit(make_record(number))
    started = time.monotonic()
    writer.shutdown(timeout=0.5)
    # Not the client's timeouts (5 s): the deadline.
    assert time.monotonic() - started < 2.5
    assert [r["request_id"] for r in writer.spool.records()] == ["r1", "r2", "r3"]


def test_an_unexpected_replay_error_is_counted_and_the_batch_still_written(
    tmp_path, mongo_test_database, monkeypatch, caplog
):
    uri, db = mongo_test_database["uri"], mongo_test_database["db"]
    left = AuditWriter(uri=dead_uri(), db_name=db, spool_dir=tmp_path, background=False)
    left.spool.append([make_record(0)])  # a segment left by another process: a replay is due
    left.spool.close()
    writer = AuditWriter(uri=uri, db_name=db, spool_dir=tmp_path, retry_seconds=0.2)

    def unreadable(*args, **kwargs):
        raise PermissionError("spool segment")

    monkeypatch.setattr(writer.spool, "replay", unreadable)
    record = make_record(1)
    with caplog.at_level(logging.ERROR, logger="audit.writer"):
        writer.submit(record)
        assert writer.flush()
    assert [r["_id"] for r in stored(uri, db)] == [record["_id"]]
    assert writer.counts["errors"] == 1
    assert "Audit spool replay failed" in caplog.text
    writer.shutdown(timeout=1)


def test_a_batch_failing_for_an_unexpected_reason_is_spooled_then_replayed(
    tmp_path, mongo_test_database
):
    uri, db = mongo_test_database["uri"], mongo_test_database["db"]

    class BrokenOnce(AuditWriter):
        broken = True

        def _insert_many(self, records, *, ordered):
            if self.broken:
                self.broken = False
                raise RuntimeError("driver bug")
            super()._insert_many(records, ordered=ordered)

    writer = BrokenOnce(uri=uri, db_name=db, spool_dir=tmp_path, background=False)
    records = [make_record(0), make_record(1)]
    for record in records:
        writer.submit(record)
    assert writer.flush()
    assert (writer.counts["errors"], writer.counts["spooled"]) == (1, 2)
    assert writer.replay() == 2
    assert [r["_id"] for r in stored(uri, db)] == [r["_id"] for r in records]


@pytest.mark.parametrize(
    "line",
    [b"[1]", b'{"request_id": "no id"}', b'{"_id": {"$oid": "zz"}}', b'{"t": {"$date": {}}}'],
)
def test_a_spool_line_holding_no_record_is_skipped(tmp_path, mongo_test_database, line):
    uri, db = mongo_test_database["uri"], mongo_test_database["db"]
    first = AuditWriter(uri=dead_uri(), db_name=db, spool_dir=tmp_path, background=False)
    first.spool.append([make_record(1)])
    (segment,) = first.spool.paths()
    with open(segment, "ab") as handle:
        handle.write(line + b"\n")
    first.spool.append([make_record(2)])
    first.spool.close()
    second = AuditWriter(uri=uri, db_name=db, spool_dir=tmp_path, background=False)
    assert second.replay() == 2
    assert second.spool.corrupt == 1
    assert [r["request_id"] for r in stored(uri, db)] == ["r1", "r2"]


def test_a_record_mongodb_cannot_take_is_refused_alone_and_never_holds_up_the_spool(
    tmp_path, mongo_test_database
):
    uri, db = mongo_test_database["uri"], mongo_test_database["db"]
    records = [make_record(0), make_record(1, changes={"n": 2**70}), make_record(2)]
    down = AuditWriter(uri=dead_uri(), db_name=db, spool_dir=tmp_path, timeout_ms=100)
    for record in records:
        down.submit(record)
    down.shutdown(timeout=2)
    assert len(list(down.spool.records())) == 3
    back = AuditWriter(uri=uri, db_name=db, spool_dir=tmp_path, background=False)
    assert back.replay() == 3
    assert [r["request_id"] for r in stored(uri, db)] == ["r0", "r2"]
    assert back.counts["rejected"] == 1
    assert back.spool.paths() == []


@pytest.mark.parametrize(("linger", "inserts"), [(0.5, [5]), (0, [1, 1, 1, 1, 1])])
def test_records_arriving_while_the_writer_lingers_share_its_insert(
    tmp_path, mongo_test_database, linger, inserts
):
    """Under load the writer would otherwise insert nearly every record on its own: one
    MongoDB command each, and the thread woken for each."""
    uri, db = mongo_test_database["uri"], mongo_test_database["db"]
    writer = CountingWriter(uri=uri, db_name=db, spool_dir=tmp_path, linger_seconds=linger)
    try:
        records = [make_record(n) for n in range(5)]
        for record in records:
            writer.submit(record)
            time.sleep(0.05)
        assert writer.flush(timeout=10)
        assert writer.inserts == inserts
        assert [r["_id"] for r in stored(uri, db)] == [r["_id"] for r in records]
    finally:
        writer.shutdown(timeout=1)


def test_stopping_ends_the_linger_and_writes_the_batch(tmp_path, mongo_test_database):
    uri, db = mongo_test_database["uri"], mongo_test_database["db"]
    writer = CountingWriter(uri=uri, db_name=db, spool_dir=tmp_path, linger_seconds=30)
    writer.submit(make_record(1))
    time.sleep(0.2)  # the thread took the record and lingers
    started = time.monotonic()
    writer.shutdown(timeout=5)
    assert time.monotonic() - started < 5
    assert writer.inserts == [1]
    assert len(stored(uri, db)) == 1

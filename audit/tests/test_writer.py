"""Never slow, never fail, never lose: requests do not wait for MongoDB, records wait in
the spool while it is away and reach it later exactly once and in order, across a
process restart too; the queue and the spool are bounded and overflow is counted."""

import logging
import time

import pytest
from bson import json_util
from pymongo import MongoClient

from audit import writer as audit_writer
from audit.documents import COLLECTION
from audit.tests.conftest import dead_uri, make_record
from audit.writer import AuditWriter
from identity.tests.factories import UserFactory, tokens_for

pytestmark = pytest.mark.django_db

DB = "audit_outage"


def stored(uri: str) -> list[dict]:
    """What the server holds, in the order it took it."""
    with MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        return list(client[DB][COLLECTION].find())


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


def test_records_queued_behind_a_write_stuck_past_the_grace_period_are_spooled(tmp_path):
    writer = AuditWriter(uri=dead_uri(), db_name=DB, spool_dir=tmp_path, background=False)
    for number in range(3):
        writer.submit(make_record(number))
    writer._work.acquire()  # a batch still being written when the worker must go
    try:
        writer.shutdown(timeout=0.2)
    finally:
        writer._work.release()
    assert [r["request_id"] for r in writer.spool.records()] == ["r0", "r1", "r2"]
    assert writer.counts["spooled"] == 3

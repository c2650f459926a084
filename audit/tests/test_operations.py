"""Operations: the spool command, the writer's status for staff and the retention
index."""

import pytest
from django.core.management import CommandError, call_command
from pymongo import MongoClient

from audit import writer as audit_writer
from audit.documents import COLLECTION, TTL_INDEX, AuditEvent, ensure_retention
from audit.tests.factories import make_record
from audit.writer import AuditWriter
from identity.tests.factories import UserFactory
from rappi.testing.net import dead_uri

pytestmark = pytest.mark.django_db


def spool_two(directory) -> list[dict]:
    records = [make_record(1), make_record(2)]
    spooler = AuditWriter(uri=dead_uri(), db_name="x", spool_dir=directory, background=False)
    spooler.spool.append(records)
    spooler.spool.close()
    return records


def test_the_spool_command_reports_and_replays(settings, tmp_path, own_mongo, capsys):
    settings.AUDIT_SPOOL_DIR = tmp_path / "spool"
    settings.MONGODB_URI = own_mongo.uri.replace("/?", "/audit_cmd?")
    records = spool_two(settings.AUDIT_SPOOL_DIR)
    call_command("audit_spool")
    assert "1 segment(s)" in capsys.readouterr().out
    call_command("audit_spool", "--replay")
    out = capsys.readouterr().out
    assert "Replayed 2 record(s)" in out
    assert "0 segment(s)" in out
    with MongoClient(own_mongo.uri) as client:
        assert [r["_id"] for r in client["audit_cmd"][COLLECTION].find()] == [
            r["_id"] for r in records
        ]


def test_the_spool_command_keeps_the_spool_while_mongodb_is_away(settings, tmp_path):
    settings.AUDIT_SPOOL_DIR = tmp_path / "spool"
    settings.MONGODB_URI = dead_uri()
    settings.AUDIT_MONGODB_TIMEOUT_MS = 100
    spool_two(settings.AUDIT_SPOOL_DIR)
    with pytest.raises(CommandError, match="spool kept"):
        call_command("audit_spool", "--replay")
    assert len(list(settings.AUDIT_SPOOL_DIR.iterdir())) == 1


def test_the_status_reports_the_hosts_spool_and_this_workers_counts(
    dispatcher_api, settings, tmp_path
):
    settings.AUDIT_SPOOL_DIR = tmp_path / "spool"
    spool_two(settings.AUDIT_SPOOL_DIR)  # left by another worker
    writer = AuditWriter(
        uri=dead_uri(),
        db_name="x",
        spool_dir=settings.AUDIT_SPOOL_DIR,
        queue_size=1,
        background=False,
    )
    writer.spool.append([make_record(3)])
    writer.submit(make_record(4))
    writer.submit(make_record(5))  # over the queue bound
    previous = audit_writer.install(writer)
    try:
        response = dispatcher_api.get("/api/v1/audit/status")
    finally:
        audit_writer.install(previous)
        writer.spool.close()
    assert response.status_code == 200
    audit = response.json()
    assert audit["enabled"] is False  # the suite's setting; the writer reports all the same
    assert audit["host_spool"]["segments"] == 2
    assert audit["host_spool"]["bytes"] > 0
    assert audit["host_spool"]["records"] == 3
    worker = audit["worker"]
    assert set(worker) == {
        "pid",
        "mongodb",
        "queued",
        "spooling",
        "corrupt_spool_lines",
        "written",
        "spooled",
        "replayed",
        "duplicates",
        "rejected",
        "errors",
        "dropped_queue_full",
        "dropped_spool_full",
        "dropped_spool_error",
        "dropped_at_exit",
    }
    assert (worker["queued"], worker["dropped_queue_full"]) == (1, 1)
    assert worker["mongodb"] in ("up", "down")
    assert isinstance(worker["spooling"], bool)


def test_the_status_reports_the_spool_in_a_worker_without_a_writer(
    dispatcher_api, settings, tmp_path
):
    settings.AUDIT_SPOOL_DIR = tmp_path / "spool"
    spool_two(settings.AUDIT_SPOOL_DIR)
    previous = audit_writer.install(None)
    try:
        audit = dispatcher_api.get("/api/v1/audit/status").json()
    finally:
        audit_writer.install(previous)
    assert audit["host_spool"]["records"] == 2
    assert audit["worker"] is None


@pytest.mark.parametrize(
    ("role", "status"), [("admin", 200), ("dispatcher", 200), ("driver", 403), ("customer", 403)]
)
def test_only_audit_readers_see_the_status(client_for, settings, tmp_path, role, status):
    settings.AUDIT_SPOOL_DIR = tmp_path / "spool"
    response = client_for(UserFactory(role_name=role)).get("/api/v1/audit/status")
    assert response.status_code == status


def test_the_status_needs_a_token(api):
    response = api.get("/api/v1/audit/status")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_readiness_says_nothing_about_the_audit_writer(api, settings, tmp_path):
    settings.AUDIT_SPOOL_DIR = tmp_path / "spool"
    spool_two(settings.AUDIT_SPOOL_DIR)
    assert "audit" not in api.get("/readyz").json()


def test_retention_follows_the_setting(settings):
    collection = AuditEvent._get_collection()

    def ttl():
        index = next((i for i in collection.list_indexes() if i["name"] == TTL_INDEX), None)
        return index and index["expireAfterSeconds"]

    ensure_retention(collection, days=90)
    assert ttl() == 90 * 86400
    ensure_retention(collection, days=30)
    assert ttl() == 30 * 86400
    ensure_retention(collection, days=0)
    assert ttl() is None
    AuditEvent.ensure_indexes()  # as the session set it up
    assert ttl() == settings.AUDIT_RETENTION_DAYS * 86400

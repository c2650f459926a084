"""Audit is off for the rest of the suite (a background writer finishing late would write
into other tests); these tests switch it on with a writer of their own that has no
thread and writes when the test flushes it, or point one at a server they stop."""

import socket
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from audit import writer as audit_writer
from audit.documents import AuditEvent
from audit.writer import AuditWriter
from rappi.localmongo import LocalMongoServer


@pytest.fixture
def audit_on(settings, tmp_path, mongo_test_database):
    settings.AUDIT_ENABLED = True
    writer = AuditWriter(
        uri=mongo_test_database["uri"],
        db_name=mongo_test_database["db"],
        spool_dir=tmp_path / "spool",
        background=False,
    )
    previous = audit_writer.install(writer)
    yield writer
    writer.shutdown(timeout=1)
    audit_writer.install(previous)


@pytest.fixture
def recorded(audit_on):
    """`recorded()` → the audit records written so far, oldest first."""

    def read(**filters):
        assert audit_on.flush(timeout=5)
        return list(AuditEvent.objects(**filters).order_by("timestamp", "id"))

    return read


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_uri() -> str:
    """A MongoDB URI nothing listens on."""
    return f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"


class RestartableMongo:
    """A mongoeco server keeping its data in a file, so it can be stopped and started
    again on the same port with its records intact."""

    def __init__(self, path):
        self.path, self.port, self.server = str(path), free_port(), None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def start(self) -> None:
        self.server = LocalMongoServer(path=self.path, port=self.port)
        self.server.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture
def own_mongo(tmp_path):
    mongo = RestartableMongo(tmp_path / "mongo.sqlite3")
    mongo.start()
    yield mongo
    mongo.stop()


def make_record(number: int, **fields) -> dict:
    return {
        "_id": ObjectId(),
        "kind": "request",
        "timestamp": datetime.now(UTC),
        "user_id": None,
        "username": "",
        "path": f"/api/v1/things/{number}",
        "method": "GET",
        "ip": "127.0.0.1",
        "status_code": 200,
        "duration_ms": 1.0,
        "request_id": f"r{number}",
        "user_agent": "",
        "payload_hash": None,
        **fields,
    }

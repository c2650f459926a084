"""Audit is off for the rest of the suite (a background writer finishing late would write
into other tests); these tests switch it on with a writer of their own that has no
thread and writes when the test flushes it, or point one at a server they stop."""

import contextlib
import socket
import threading
import time

import pytest

from audit import writer as audit_writer
from audit.documents import AuditEvent
from audit.writer import AuditWriter
from rappi.localmongo import LocalMongoServer
from rappi.testing.net import free_port


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


class StallingProxy:
    """A TCP relay to a MongoDB server that can be made to hang: while `stalled` is set,
    what either side sends is held back, as by a server that stopped answering without
    closing its connections."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.stalled = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                while self.stalled.is_set() and not self._closed.is_set():
                    time.sleep(0.01)
                target.sendall(data)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@pytest.fixture
def stalling_mongo():
    """A MongoDB-compatible server of the test's own, reached through a StallingProxy."""
    port = free_port()
    server = LocalMongoServer(port=port)
    server.start()
    proxy = StallingProxy(port)
    yield proxy
    proxy.close()
    server.stop()

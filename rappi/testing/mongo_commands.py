"""The commands a piece of code sends MongoDB, through pymongo's command monitoring: the
MongoDB side of "a page costs the same queries at any size", as Django's query counting is
the SQL side.

    with mongo_commands(mongo_test_database) as sent:
        client.get("/console/audit/")
    assert [command.name for command in sent] == ["aggregate", "find", ...]

pymongo gives a client its listeners when the client is made, so the first use registers
one listener for the process and connects again; it records only inside the block, and
only what the block's own thread sends (not the audit writer's batches, say)."""

import contextlib
import threading
from typing import NamedTuple

from pymongo import monitoring

from rappi import mongo


class Command(NamedTuple):
    name: str  # "find", "aggregate", "getMore", …
    collection: str  # what the command names first ("" when not a collection)
    body: dict


class _CommandLog(monitoring.CommandListener):
    def __init__(self):
        self.sent: list[Command] | None = None
        self.thread: int | None = None

    def started(self, event):
        # pymongo calls listeners in the thread that sends the command.
        if self.sent is not None and threading.get_ident() == self.thread:
            body = dict(event.command)
            target = body.get(event.command_name)
            collection = target if isinstance(target, str) else ""
            self.sent.append(Command(event.command_name, collection, body))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


_log: _CommandLog | None = None


@contextlib.contextmanager
def mongo_commands(database: dict):
    """The commands sent inside the block, in order. `database`: the session's
    `mongo_test_database` fixture (uri, db)."""
    global _log
    if _log is None:
        _log = _CommandLog()
        monitoring.register(_log)
        mongo.connect(database["uri"], db=database["db"])
    _log.sent = []
    _log.thread = threading.get_ident()
    try:
        yield _log.sent
    finally:
        _log.sent = None
        _log.thread = None

"""Audit records as audit.writer stores them: plain documents, for tests that spool them,
submit them to a writer or insert them into the collection."""

from datetime import UTC, datetime

import factory
from bson import ObjectId


class RequestRecordFactory(factory.DictFactory):
    """A per-request record. `number` tells records apart: it names the path and the
    request id (`r<number>`), which tests read back in order."""

    class Params:
        number = factory.Sequence(lambda n: n)

    _id = factory.LazyFunction(ObjectId)
    kind = "request"
    timestamp = factory.LazyFunction(lambda: datetime.now(UTC))
    user_id = None
    username = ""
    path = factory.LazyAttribute(lambda record: f"/api/v1/things/{record.number}")
    method = "GET"
    ip = "127.0.0.1"
    status_code: int | None = 200
    duration_ms: float | None = 1.0
    request_id = factory.LazyAttribute(lambda record: f"r{record.number}")
    user_agent = ""
    payload_hash = None


class DomainRecordFactory(RequestRecordFactory):
    """A record a service wrote: what was done to which row, in the request it came in
    (whose status and duration are the request record's, not this one's)."""

    kind = "domain"
    status_code = None
    duration_ms = None
    action = "order.cancel"
    target_type = "order"
    target_id = "5"
    changes = factory.LazyFunction(lambda: {"status": {"old": "pending", "new": "cancelled"}})


def make_record(number: int, **fields) -> dict:
    """A request record numbered `number`."""
    return RequestRecordFactory(number=number, **fields)

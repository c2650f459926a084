"""The one MongoDB connection (MongoEngine alias `default`), made once at startup from
MONGODB_URI. `connect=False` defers the socket until first use, so gunicorn workers
forked after import each open their own."""

import mongoengine
from django.conf import settings
from mongoengine.connection import get_db as _get_db
from pymongo.errors import OperationFailure
from pymongo.uri_parser import parse_uri

DEFAULT_DB_NAME = "rappi"
# The server's error code for a write a unique index refused.
DUPLICATE_KEY = 11000


def database_name(uri: str) -> str:
    return parse_uri(uri).get("database") or DEFAULT_DB_NAME


def connect(uri: str | None = None, *, db: str | None = None, timeout_ms: int | None = None):
    """(Re)connect the default alias; tests use it to point at their own server."""
    uri = uri or settings.MONGODB_URI
    timeout_ms = timeout_ms or settings.MONGODB_TIMEOUT_MS
    mongoengine.disconnect(alias="default")
    return mongoengine.connect(
        db=db or database_name(uri),
        host=uri,
        alias="default",
        connect=False,
        uuidRepresentation="standard",
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=max(timeout_ms * 5, 10000),
    )


def get_db():
    return _get_db(alias="default")


def ping() -> None:
    """Raise if MongoDB cannot be reached within MONGODB_TIMEOUT_MS."""
    get_db().command("ping")


def document_classes():
    """Every MongoEngine Document class defined by the installed apps."""
    from mongoengine.base import _document_registry

    return [
        cls
        for cls in _document_registry.values()
        if issubclass(cls, mongoengine.Document) and not cls._meta.get("abstract")
    ]


def ensure_indexes() -> list[str]:
    """Create the indexes every Document declares; returns the collections touched."""
    done = []
    for cls in document_classes():
        cls.ensure_indexes()
        done.append(cls._get_collection_name())
    return sorted(set(done))


def ensure_ttl_index(collection, *, field: str, name: str, days: int) -> None:
    """The TTL index `name` on `field` expiring documents after `days` (none when 0),
    changed in place when the setting changes (collMod; drop and re-create where the
    server lacks it)."""
    seconds = days * 86400
    current = next((ix for ix in collection.list_indexes() if ix["name"] == name), None)
    if current is not None and days > 0 and current.get("expireAfterSeconds") == seconds:
        return
    if current is not None:
        if days > 0:
            try:
                collection.database.command(
                    "collMod", collection.name, index={"name": name, "expireAfterSeconds": seconds}
                )
                return
            except OperationFailure:
                pass
        collection.drop_index(name)
    if days > 0:
        collection.create_index([(field, 1)], name=name, expireAfterSeconds=seconds)

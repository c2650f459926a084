"""MongoDB documents owned by tracking. Runs, destinations, incidents and orders are
PostgreSQL rows known here only by their integer ids."""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from mongoengine import (
    BooleanField,
    DateTimeField,
    DictField,
    Document,
    EmbeddedDocument,
    EmbeddedDocumentListField,
    FloatField,
    IntField,
    ListField,
    ObjectIdField,
    PointField,
    PolygonField,
    StringField,
    ValidationError,
)
from pymongo.errors import BulkWriteError

from rappi.mongo import DUPLICATE_KEY, ensure_ttl_index

EVIDENCE_KINDS = ("photo", "signature", "document")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class StoredFile(EmbeddedDocument):
    """One file of an evidence record; its bytes live in the GridFS bucket `evidence`."""

    file_id = ObjectIdField(required=True)
    filename = StringField(required=True, max_length=255)
    content_type = StringField(required=True, max_length=100)
    size = IntField(required=True, min_value=0)
    sha256 = StringField(required=True, regex=r"^[0-9a-f]{64}$")


class Evidence(Document):
    """Photos, signatures or documents attached to an incident, or to a destination of a
    run (proof of delivery or failure). `order_id` lets a customer's scope be checked
    without a join; `assignment_id` lets a run's evidence be purged with the run."""

    incident_id = IntField(null=True, default=None)
    destination_id = IntField(null=True, default=None)
    assignment_id = IntField(null=True, default=None)
    order_id = IntField(null=True, default=None)
    kind = StringField(required=True, choices=EVIDENCE_KINDS)
    files = EmbeddedDocumentListField(StoredFile)
    uploaded_by = IntField(required=True)
    created_at = DateTimeField(default=timezone.now)
    note = StringField(default="", max_length=2000)
    # Where the driver stood when capturing a proof, if the app sent it.
    lat = FloatField(null=True, default=None, min_value=-90, max_value=90)
    lng = FloatField(null=True, default=None, min_value=-180, max_value=180)

    meta = {
        "collection": "evidence",
        "indexes": [
            {"fields": ["incident_id"], "name": "incident"},
            {"fields": ["assignment_id", "destination_id"], "name": "run_destination"},
            {"fields": ["files.file_id"], "name": "file"},
            {"fields": ["order_id"], "name": "order"},
            # The evidence report reads a period of everyone's.
            {"fields": ["created_at"], "name": "created"},
        ],
        # Created on deploy by `manage.py ensure_indexes`, not on first write.
        "auto_create_index": False,
    }

    def clean(self) -> None:
        # Every record needs an owner whose scope a caller can check.
        if self.incident_id is None and self.destination_id is None:
            raise ValidationError("Evidence needs an incident_id or a destination_id.")
        if self.destination_id is not None and self.assignment_id is None:
            raise ValidationError("Evidence of a destination needs its assignment_id.")

    def __str__(self) -> str:
        owner = (
            f"incident {self.incident_id}"
            if self.incident_id is not None
            else f"destination {self.destination_id}"
        )
        return f"{len(self.files)} {self.kind} file(s) for {owner}"


GEOFENCE_KINDS = ("route_corridor", "delivery_zone", "forbidden", "vehicle_restriction")


class Geofence(Document):
    """A named area: a run's route corridor (one per run, replaced with its route), a
    delivery zone, a forbidden area or a vehicle-restriction zone. Runs, routes and orders
    are known by id only."""

    name = StringField(required=True, max_length=120)
    kind = StringField(required=True, choices=GEOFENCE_KINDS)
    geometry = PolygonField(required=True)  # GeoJSON, [lng, lat] positions; 2dsphere index
    active = BooleanField(default=True)
    order_id = IntField(null=True, default=None)
    route_id = IntField(null=True, default=None)
    assignment_id = IntField(null=True, default=None)
    tolerance_m = FloatField(null=True, default=None, min_value=0)
    created_at = DateTimeField(default=timezone.now)
    updated_at = DateTimeField(default=timezone.now)

    meta = {
        "collection": "geofences",
        "indexes": [
            {"fields": ["kind", "active"], "name": "kind_active"},
            # A run has at most one corridor, even if two re-plans race.
            {
                "fields": ["assignment_id"],
                "name": "one_corridor_per_run",
                "unique": True,
                "partialFilterExpression": {"kind": "route_corridor"},
            },
        ],
        "auto_create_index": False,
    }

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"

    def scope(self) -> int:
        """Whose geofence generation a write of this one changes (`tracking.models`)."""
        from tracking.models import ZONES_SCOPE

        return self.assignment_id if self.kind == "route_corridor" else ZONES_SCOPE

    def _stored_scope(self) -> int | None:
        """The scope of this geofence as stored (None: not stored), before a write."""
        if self.pk is None:
            return None
        stored = self._get_collection().find_one({"_id": self.pk}, {"kind": 1, "assignment_id": 1})
        if stored is None:
            return None
        return Geofence(kind=stored.get("kind"), assignment_id=stored.get("assignment_id")).scope()

    # Writes through the document (admin, seeding, tests) change the generation too, as
    # `tracking.geofences` does after its own writes, so no process keeps a stale copy:
    # the generations of the scope it had and of the one it has (a corridor saved as
    # another kind or run leaves its run's scope).
    def save(self, *args, **kwargs):
        before = self._stored_scope()
        saved = super().save(*args, **kwargs)
        from tracking.models import GeofenceGeneration

        GeofenceGeneration.bump(*{self.scope(), before} - {None})
        return saved

    def delete(self, *args, **kwargs):
        before = self._stored_scope()
        super().delete(*args, **kwargs)
        from tracking.models import GeofenceGeneration

        GeofenceGeneration.bump(*{self.scope(), before} - {None})


# --- GPS fixes ------------------------------------------------------------------------------

GPS_TTL_INDEX = "received_at_ttl"


def ensure_gps_retention(collection, *, days: int) -> None:
    """Fixes (and what is derived from them) expire `days` after they were received."""
    ensure_ttl_index(collection, field="received_at", name=GPS_TTL_INDEX, days=days)


class ExpiresWithFixes(Document):
    """Documents kept as long as the GPS fixes they come from (`GPS_RETENTION_DAYS`)."""

    # Annotated so that the subclasses' own `meta` (collection, indexes) may override it.
    meta: dict[str, Any] = {"abstract": True}

    @classmethod
    def ensure_indexes(cls):
        super().ensure_indexes()
        ensure_gps_retention(cls._get_collection(), days=settings.GPS_RETENTION_DAYS)


def fix_key(driver_id: int, recorded_at: datetime) -> str:
    """A fix's `_id`: its driver and device instant (to the millisecond BSON keeps), so the
    collection's own `_id` index refuses a repeat of the instant."""
    millis = (recorded_at - EPOCH) // timedelta(milliseconds=1)
    return f"{driver_id}:{millis}"


def driver_client_key(driver_id: int, client_id: str) -> str:
    """The key the `driver_client` unique index keeps: a driver's own id for a fix."""
    return f"{driver_id}:{client_id}"


class GpsPing(ExpiresWithFixes):
    """One accepted GPS fix of a run. Written in batches by `tracking.pings` as plain
    documents; driver and plate are the run's, never the phone's say.

    Repeats are refused by single-key unique indexes: `_id` is the driver and device
    instant (`fix_key`), `driver_client` the driver and the phone's `client_id`
    (`driver_client_key`); the repeat checks look fixes up by those two keys only. They
    used to be compound unique indexes on `(driver_id, recorded_at)` and `(driver_id,
    client_id)`, and fixes were also indexed by place and by driver and instant; no read
    used those two, and each index is written on every insert. `ensure_indexes` drops the
    retired ones and gives fixes stored before the keys (ObjectId ids) their keys."""

    id = StringField(primary_key=True)  # fix_key(driver_id, recorded_at)
    driver_id = IntField(required=True)
    assignment_id = IntField(required=True)
    vehicle_plate = StringField(required=True, max_length=7)
    location = PointField(required=True, auto_index=False)  # [lng, lat]
    recorded_at = DateTimeField(required=True)  # device time, to the millisecond
    received_at = DateTimeField(required=True)
    speed_kmh = FloatField(null=True, default=None)
    heading = FloatField(null=True, default=None)
    accuracy_m = FloatField(null=True, default=None)
    # The phone's own id for the fix, when it sends one; absent otherwise (and then so is
    # `driver_client`, which the sparse unique index skips).
    client_id = StringField(null=True, default=None, max_length=64)
    driver_client = StringField(null=True, default=None)

    # The compound unique indexes `_id` and `driver_client` replaced, and the two no read
    # used (see above).
    RETIRED_INDEXES = ("driver_time", "driver_client_id", "location", "driver_recorded")

    meta = {
        "collection": "gps_pings",
        "indexes": [
            {"fields": ["assignment_id", "recorded_at"], "name": "run_time"},
            {"fields": ["driver_client"], "name": "driver_client", "unique": True, "sparse": True},
        ],
        "auto_create_index": False,
    }

    @classmethod
    def ensure_indexes(cls):
        collection = cls._get_collection()
        existing = {index["name"] for index in collection.list_indexes()}
        for name in existing.intersection(cls.RETIRED_INDEXES):
            collection.drop_index(name)
        cls._key_older_fixes(collection)
        super().ensure_indexes()

    @staticmethod
    def _key_older_fixes(collection, *, chunk: int = 400) -> None:
        """Fixes stored before `_id` and `driver_client` were their keys (ObjectId ids)
        are stored again under those keys, so the repeat checks see them. Another copy of
        the same instant or client id already stored wins: the older one is dropped."""
        while older := list(collection.find({"_id": {"$type": "objectId"}}).limit(chunk)):
            keyed = []
            for doc in older:
                recorded_at = doc["recorded_at"].replace(tzinfo=doc["recorded_at"].tzinfo or UTC)
                copy = {**doc, "_id": fix_key(doc["driver_id"], recorded_at)}
                if doc.get("client_id"):
                    copy["driver_client"] = driver_client_key(doc["driver_id"], doc["client_id"])
                keyed.append(copy)
            try:
                collection.insert_many(keyed, ordered=False)
            except BulkWriteError as error:
                # Only repeats may be left behind; an unsure write keeps the originals.
                if error.details.get("writeConcernErrors") or any(
                    e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", [])
                ):
                    raise
            collection.delete_many({"_id": {"$in": [doc["_id"] for doc in older]}})

    def __str__(self) -> str:
        return f"fix of driver {self.driver_id} on run {self.assignment_id} at {self.recorded_at}"


class DriverPosition(ExpiresWithFixes):
    """The latest fix of each driver (one document per driver), so the fleet view and
    nearby search read one small document per driver instead of scanning pings. Late
    fixes never move it back.

    It is also the driver's *head*, all the ping ingest reads and writes besides the fixes:
    with the position, the geofence states of the run `geofences_run` (`tracking.events`)
    and a `version`. Each request reads it once and writes it once, on the condition that
    `version` is still the one it read (compare-and-set), so two requests of one phone
    never weigh the same fixes twice. A head written by `events.process_fixes` alone has
    no position yet (no `location`); readers of positions skip it."""

    driver_id = IntField(required=True)
    assignment_id = IntField(required=True)
    vehicle_plate = StringField(required=True, max_length=7)
    location = PointField(required=True, auto_index=False)
    recorded_at = DateTimeField(required=True)
    received_at = DateTimeField(required=True)
    speed_kmh = FloatField(null=True, default=None)
    heading = FloatField(null=True, default=None)
    accuracy_m = FloatField(null=True, default=None)
    version = IntField(default=0)
    geofences_run = IntField(null=True, default=None)
    geofences = ListField(DictField())

    meta = {
        "collection": "driver_positions",
        "indexes": [
            {"fields": ["driver_id"], "name": "driver", "unique": True},
            {"fields": ["assignment_id"], "name": "run"},
            {"fields": ["(location"], "name": "location"},
            {"fields": ["recorded_at"], "name": "recorded_at"},
        ],
        "auto_create_index": False,
    }

    def __str__(self) -> str:
        return f"driver {self.driver_id} at {self.recorded_at}"


# --- Geofence events ------------------------------------------------------------------------

GEOFENCE_EVENT_TYPES = ("enter", "exit")


class GeofenceEvent(ExpiresWithFixes):
    """A driver entering or leaving a geofence during a run, as `tracking.events` confirms
    it (exits are debounced). `at` and `location` are those of the first fix on the new
    side; `confirmed_at` is the device time of the fix that settled it (the same fix for an
    enter). Location history: kept as long as the fixes (GPS_RETENTION_DAYS)."""

    geofence_id = ObjectIdField(required=True)
    geofence_kind = StringField(required=True, choices=GEOFENCE_KINDS)
    driver_id = IntField(required=True)
    assignment_id = IntField(required=True)
    type = StringField(required=True, choices=GEOFENCE_EVENT_TYPES)
    at = DateTimeField(required=True)
    confirmed_at = DateTimeField(required=True)
    location = PointField(required=True, auto_index=False)  # [lng, lat]
    received_at = DateTimeField(required=True)
    # The route-deviation incident a corridor exit raised, if it raised one.
    incident_id = IntField(null=True, default=None)

    meta = {
        "collection": "geofence_events",
        "indexes": [
            {"fields": ["geofence_id", "-at"], "name": "geofence_time"},
            {"fields": ["assignment_id", "type", "at"], "name": "run_type_time"},
        ],
        "auto_create_index": False,
    }

    def __str__(self) -> str:
        return f"driver {self.driver_id} {self.type} {self.geofence_id} at {self.at}"


class GeofenceState(Document):
    """Where a driver stands against one geofence during its current run: confirmed inside
    or not, and the outside fixes counted towards an exit so far. Only geofences the driver
    has been inside get one. `tracking.events` works from the copies in the driver's head
    (`DriverPosition.geofences`) and writes these, in one bulk upsert, only when a batch
    changes one (not for `last_at` alone): they are for reading and purging. Unchanged for a
    week, it expires."""

    driver_id = IntField(required=True)
    geofence_id = ObjectIdField(required=True)
    assignment_id = IntField(required=True)
    inside = BooleanField(required=True)
    outside_fixes = IntField(default=0, min_value=0)
    outside_since = DateTimeField(null=True, default=None)
    outside_lat = FloatField(null=True, default=None)
    outside_lng = FloatField(null=True, default=None)
    last_at = DateTimeField(required=True)  # device time of the last fix weighed
    updated_at = DateTimeField(required=True)

    meta = {
        "collection": "geofence_states",
        "indexes": [
            {"fields": ["driver_id", "geofence_id"], "name": "driver_geofence", "unique": True},
            {"fields": ["driver_id", "assignment_id"], "name": "driver_run"},
            {"fields": ["assignment_id"], "name": "run"},
            {"fields": ["updated_at"], "name": "updated_at_ttl", "expireAfterSeconds": 7 * 86400},
        ],
        "auto_create_index": False,
    }

    def __str__(self) -> str:
        side = "inside" if self.inside else "outside"
        return f"driver {self.driver_id} {side} {self.geofence_id}"

"""The audit log: one MongoDB collection, `audit_events`, holding both the per-request
records (kind `request`) and the domain records services write (kind `domain`).
audit.writer inserts them as plain documents; this class reads them and declares the
indexes, the retention (TTL) one included."""

from django.conf import settings
from mongoengine import DateTimeField, DictField, Document, FloatField, IntField, StringField

from rappi.mongo import ensure_ttl_index

AUDIT_KINDS = ("request", "domain")
REQUEST, DOMAIN = AUDIT_KINDS
COLLECTION = "audit_events"
TTL_INDEX = "timestamp_ttl"


class AuditEvent(Document):
    kind = StringField(required=True, choices=AUDIT_KINDS)
    timestamp = DateTimeField(required=True)
    # Who: the authenticated user, or only `username` for a failed sign-in.
    user_id = IntField(null=True, default=None)
    username = StringField(default="")
    # The request (a domain record carries the request it happened in, if any).
    path = StringField(default="")
    method = StringField(default="")
    ip = StringField(null=True, default=None)
    status_code = IntField(null=True, default=None)
    duration_ms = FloatField(null=True, default=None)
    request_id = StringField(default="")
    user_agent = StringField(default="")
    payload_hash = StringField(null=True, default=None)
    # Domain records: what was done to which row, field → {old, new}.
    action = StringField(null=True, default=None)
    target_type = StringField(null=True, default=None)
    target_id = StringField(null=True, default=None)
    changes = DictField()

    meta = {
        "collection": COLLECTION,
        "indexes": [
            {"fields": ["kind", "-timestamp"], "name": "kind_time"},
            {"fields": ["user_id", "-timestamp"], "name": "user_time"},
            {"fields": ["target_type", "target_id", "-timestamp"], "name": "target_time"},
        ],
        # Created on deploy by `manage.py ensure_indexes`, not on first write.
        "auto_create_index": False,
        # Records outlive code: a field a later version adds must not break reading.
        "strict": False,
    }

    @classmethod
    def ensure_indexes(cls):
        super().ensure_indexes()
        ensure_retention(cls._get_collection(), days=settings.AUDIT_RETENTION_DAYS)


def ensure_retention(collection, *, days: int) -> None:
    """Records expire `days` after their timestamp (kept forever when 0)."""
    ensure_ttl_index(collection, field="timestamp", name=TTL_INDEX, days=days)

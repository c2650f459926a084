"""MongoDB documents owned by tracking. Runs, destinations, incidents and orders are
PostgreSQL rows known here only by their integer ids."""

from django.utils import timezone
from mongoengine import (
    DateTimeField,
    Document,
    EmbeddedDocument,
    EmbeddedDocumentListField,
    IntField,
    ObjectIdField,
    StringField,
    ValidationError,
)

EVIDENCE_KINDS = ("photo", "signature", "document")


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

    meta = {
        "collection": "evidence",
        "indexes": [
            {"fields": ["incident_id"], "name": "incident"},
            {"fields": ["assignment_id", "destination_id"], "name": "run_destination"},
            {"fields": ["files.file_id"], "name": "file"},
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

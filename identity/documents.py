"""MongoDB documents owned by identity."""

from django.utils import timezone
from mongoengine import DateTimeField, DictField, Document, IntField, StringField


class Notification(Document):
    """One message in a user's inbox."""

    recipient_user_id = IntField(required=True)
    kind = StringField(required=True, max_length=50)
    title = StringField(required=True, max_length=200)
    body = StringField(default="", max_length=2000)
    data = DictField()
    read_at = DateTimeField(null=True, default=None)
    created_at = DateTimeField(default=timezone.now)

    meta = {
        "collection": "notifications",
        "indexes": [
            {"fields": ["recipient_user_id", "read_at", "created_at"], "name": "inbox"},
            # The notifications report reads the last hours of everyone's.
            {"fields": ["created_at"], "name": "created"},
        ],
        # Created on deploy by `manage.py ensure_indexes`, not on first write.
        "auto_create_index": False,
    }

    def __str__(self) -> str:
        return f"{self.kind} → {self.recipient_user_id}"

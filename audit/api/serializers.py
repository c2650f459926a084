from django.utils.translation import gettext as _
from rest_framework import serializers

from audit.documents import AUDIT_KINDS
from rappi.api.query import QuerySerializer

HTTP_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")
STATUS_PATTERN = r"^([1-5][0-9]{2}|[1-5][xX]{2})$"


class AuditEventFilterInput(QuerySerializer):
    user_id = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    path = serializers.CharField(required=False, max_length=2048, help_text="Path prefix")
    method = serializers.ChoiceField(required=False, choices=HTTP_METHODS)
    status_code = serializers.RegexField(
        STATUS_PATTERN,
        required=False,
        help_text='A status ("404") or a class ("5xx")',
        error_messages={"invalid": _('A status like "404" or a class like "5xx".')},
    )
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    kind = serializers.ChoiceField(required=False, choices=AUDIT_KINDS)
    action = serializers.CharField(required=False, max_length=100)
    target_type = serializers.CharField(required=False, max_length=100)
    target_id = serializers.CharField(required=False, max_length=100)
    request_id = serializers.CharField(required=False, max_length=128)

    def to_internal_value(self, data):
        if isinstance(data.get("method"), str):
            data = data.copy()
            data["method"] = data["method"].upper()
        return super().to_internal_value(data)

    def validate(self, attrs):
        return _checked_range(attrs)


class AuditSummaryInput(QuerySerializer):
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        return _checked_range(attrs)


def _checked_range(attrs: dict) -> dict:
    since, until = attrs.get("since"), attrs.get("until")
    if since is not None and until is not None and since >= until:
        raise serializers.ValidationError({"until": [_("Must be after `since`.")]})
    return attrs


class ChangeOutput(serializers.Serializer):
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class AuditEventOutput(serializers.Serializer):
    id = serializers.CharField()
    kind = serializers.ChoiceField(choices=AUDIT_KINDS)
    timestamp = serializers.DateTimeField()
    user_id = serializers.IntegerField(allow_null=True)
    username = serializers.CharField(help_text="For a failed sign-in, the account it named")
    path = serializers.CharField()
    method = serializers.CharField()
    ip = serializers.CharField(allow_null=True)
    status_code = serializers.IntegerField(allow_null=True, help_text="Null on domain records")
    duration_ms = serializers.FloatField(allow_null=True, help_text="Null on domain records")
    request_id = serializers.CharField()
    user_agent = serializers.CharField()
    payload_hash = serializers.CharField(
        allow_null=True,
        help_text="SHA-256 of the first 1 KB of a POST/PUT/PATCH/DELETE body; null without "
        "a body, or when those bytes hold a password field",
    )
    action = serializers.CharField(
        allow_null=True, help_text='Domain records: e.g. "tariff.update"'
    )
    target_type = serializers.CharField(allow_null=True)
    target_id = serializers.CharField(allow_null=True)
    changes = serializers.DictField(child=ChangeOutput(), help_text="field → {old, new}")


class PathCountOutput(serializers.Serializer):
    path = serializers.CharField()
    count = serializers.IntegerField()


class UserCountOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField()
    count = serializers.IntegerField()


class ActionCountOutput(serializers.Serializer):
    action = serializers.CharField(allow_null=True)
    count = serializers.IntegerField()


class AuditSummaryOutput(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()
    total = serializers.IntegerField(help_text="Requests in [since, until)")
    by_status_class = serializers.DictField(child=serializers.IntegerField(), help_text="1xx…5xx")
    by_method = serializers.DictField(child=serializers.IntegerField())
    top_paths = PathCountOutput(many=True)
    top_users = UserCountOutput(many=True)
    errors = serializers.IntegerField(help_text="5xx answers")  # type: ignore[assignment]
    error_rate = serializers.FloatField(help_text="errors / total")
    client_errors = serializers.IntegerField(help_text="4xx answers")
    client_error_rate = serializers.FloatField()
    p50_duration_ms = serializers.FloatField(allow_null=True)
    p95_duration_ms = serializers.FloatField(allow_null=True)
    duration_sample = serializers.IntegerField(
        help_text="Requests the percentiles were computed over: the most recent of the range, "
        "at most 50000"
    )
    domain_actions = ActionCountOutput(many=True)


class SpoolDepthOutput(serializers.Serializer):
    segments = serializers.IntegerField(help_text="Spool files on this host")
    bytes = serializers.IntegerField()
    records = serializers.IntegerField(help_text="Complete records waiting to be written")


class WriterStateOutput(serializers.Serializer):
    """The counts of the worker process that answered, since it started."""

    pid = serializers.IntegerField()
    mongodb = serializers.ChoiceField(choices=("up", "down"))
    queued = serializers.IntegerField(help_text="Records waiting in memory")
    spooling = serializers.BooleanField(help_text="New records go to the spool for now")
    corrupt_spool_lines = serializers.IntegerField()
    written = serializers.IntegerField()
    spooled = serializers.IntegerField()
    replayed = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Replayed records already in MongoDB")
    rejected = serializers.IntegerField(help_text="Records MongoDB cannot store")
    errors = serializers.IntegerField()  # type: ignore[assignment]  # not Serializer.errors
    dropped_queue_full = serializers.IntegerField()
    dropped_spool_full = serializers.IntegerField()
    dropped_spool_error = serializers.IntegerField()
    dropped_at_exit = serializers.IntegerField()


class AuditStatusOutput(serializers.Serializer):
    enabled = serializers.BooleanField(help_text="AUDIT_ENABLED")
    host_spool = SpoolDepthOutput(help_text="Every worker's spool on this host")
    worker = WriterStateOutput(
        allow_null=True, help_text="Null while the answering worker has no writer yet"
    )

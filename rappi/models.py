"""Cross-cutting tables that belong to no domain: idempotent replays and rate counters."""

from django.conf import settings
from django.db import models


class IdempotencyRecord(models.Model):
    """The first response to a request sent with an `Idempotency-Key`, replayed to retries.

    A row is inserted before the request runs (status_code null) so that a concurrent
    retry with the same key is refused instead of applied twice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key")
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} [{self.key}]"


class RateCounter(models.Model):
    """A fixed-window request counter shared by every worker process (throttling)."""

    key = models.CharField(max_length=255)
    window_start = models.BigIntegerField(help_text="Unix time at which the window opened")
    expires_at = models.BigIntegerField(db_index=True)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "window_start"], name="ratecounter_unique_window"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key}@{self.window_start}: {self.count}"
